"""The token value: everything a session knows about the token it holds lives here.

:class:`Token` is what every grant yields and every session installs: aiookru's fields, secrets
wrapped in :class:`~okru_proto.Secret`, expiry as an absolute time. Parsing OK's replies into it
is in ``_oauth`` (code, refresh, password) and ``_dialog`` (implicit).
"""

from __future__ import annotations

from dataclasses import dataclass

from ._types import Secret

__all__ = ["Token"]


@dataclass(frozen=True, slots=True)
class Token:
    """What a grant yields: every field aiookru's sessions expose, secrets wrapped in :class:`Secret`.

    ``expires_at`` is absolute, computed from the ``now`` the flow was given; ``expires_in`` is
    OK's own value as an int (OK sends it as the JSON string ``"1800"``, or omits it).
    """

    access_token: Secret
    session_secret_key: Secret | None = None
    refresh_token: Secret | None = None
    token_type: str | None = None
    expires_in: int | None = None
    expires_at: float | None = None
    permissions_granted: str | None = None
    state: str | None = None
    uid: str | None = None
    api_server: str | None = None

    @property
    def session_key(self) -> Secret:
        """OK's name for the access token in the client-server circuit (alias)."""
        return self.access_token

    @property
    def permission_granted(self) -> str | None:
        """aiookru's spelling of :attr:`permissions_granted` (alias)."""
        return self.permissions_granted

    @property
    def permissions(self) -> tuple[str, ...]:
        """The granted scopes as a tuple (OK joins them with ``;``)."""
        if not self.permissions_granted:
            return ()
        text = self.permissions_granted.replace(",", ";")
        return tuple(p.strip() for p in text.split(";") if p.strip())

    def expired(self, now: float, margin: float = 0.0) -> bool:
        """True when the known expiry is within ``margin`` seconds of ``now``."""
        return self.expires_at is not None and now >= self.expires_at - margin
