"""The grants: everything about how a session gets its first token lives here.

A grant is a frozen description (the code, the login and password, the refresh token) whose
:meth:`Grant.flow` runs the matching OAuth flow (docs/protocol.md §3) with the app credentials
it asks of a :class:`GrantContext` (in practice the session's :class:`~okru_proto.adapter.SessionCore`).
Grants hold credentials, so each one lists them in :meth:`Grant.secrets` to be masked in errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ._flow import Flow
from ._values import Endpoints, Secret, Token, reveal
from ._wire.oauth import DEFAULT_IMPLICIT_REDIRECT_URI, code_flow, password_flow, refresh_flow

__all__ = ["CodeGrant", "Grant", "GrantContext", "ImplicitGrant", "PasswordGrant", "RefreshGrant"]


class GrantContext(Protocol):
    """What a grant needs from its session: the app's credentials (each ``require_*`` raises a
    :class:`~okru_proto.UsageError` naming what is missing) and the endpoints."""

    @property
    def endpoints(self) -> Endpoints: ...

    def require_app_id(self) -> str: ...

    def require_app_secret(self, who: str) -> Secret: ...

    def require_app_key(self, who: str) -> str: ...


class Grant:
    """How a session gets its first token (a pure description; :meth:`flow` does the work)."""

    def flow(self, core: GrantContext, now: float) -> Flow[Token]:
        raise NotImplementedError

    def secrets(self) -> tuple[Secret | str | None, ...]:
        """The credentials the grant holds (masked in its errors)."""
        return ()


@dataclass(frozen=True, slots=True, repr=False)
class CodeGrant(Grant):
    code: Secret
    redirect_uri: str

    def flow(self, core: GrantContext, now: float) -> Flow[Token]:
        return code_flow(core.require_app_id(), core.require_app_secret("CodeSession"), reveal(self.code),
                         self.redirect_uri, core.endpoints, now)

    def secrets(self) -> tuple[Secret | str | None, ...]:
        return (self.code,)

    def __repr__(self) -> str:
        return f"CodeGrant(redirect_uri={self.redirect_uri!r})"


@dataclass(frozen=True, slots=True)
class ImplicitGrant(Grant):
    login: str
    password: Secret
    scope: tuple[str, ...] | str
    redirect_uri: str = DEFAULT_IMPLICIT_REDIRECT_URI
    state: str | None = None
    layout: str = "w"

    def flow(self, core: GrantContext, now: float) -> Flow[Token]:
        # Imported here: the dialog parser (html.parser, datetime) serves this grant only, and
        # ``import okru_proto`` stays fast.
        from ._wire.dialog import implicit_flow

        return implicit_flow(core.require_app_id(), self.login, self.password, scope=self.scope,
                             redirect_uri=self.redirect_uri, state=self.state, layout=self.layout,
                             endpoints=core.endpoints, now=now)

    def secrets(self) -> tuple[Secret | str | None, ...]:
        return (self.password,)


@dataclass(frozen=True, slots=True)
class PasswordGrant(Grant):
    login: str
    password: Secret

    def flow(self, core: GrantContext, now: float) -> Flow[Token]:
        return password_flow(core.require_app_key("PasswordSession"), self.login, self.password,
                             core.endpoints, now)

    def secrets(self) -> tuple[Secret | str | None, ...]:
        return (self.password,)


@dataclass(frozen=True, slots=True)
class RefreshGrant(Grant):
    refresh_token: Secret

    def flow(self, core: GrantContext, now: float) -> Flow[Token]:
        return refresh_flow(core.require_app_id(), core.require_app_secret("RefreshSession"),
                            Token(access_token=Secret(""), refresh_token=self.refresh_token),
                            core.endpoints, now)

    def secrets(self) -> tuple[Secret | str | None, ...]:
        return (self.refresh_token,)
