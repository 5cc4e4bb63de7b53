"""One REST call as a method implementation sees it: everything that reads a call's parameters.

:class:`CallContext` carries what the REST gate established (the app, the token, its user) and
reads parameters the way OK does: error 100 for a missing or malformed one (docs/protocol.md §4).
:class:`MethodSpec` is one row of the method table: the implementation, its session rule and
the scopes it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ._api_errors import ApiFail, permission_denied
from ._http import Incoming
from ._model import AccessToken, App, User
from ._store import Store

__all__ = ["CallContext", "MethodSpec", "Session", "csv", "field_names"]

Session = Literal["required", "optional", "prohibited"]


@dataclass
class CallContext:
    fake: Store
    incoming: Incoming
    app: App
    token: AccessToken | None
    user: User | None

    @property
    def params(self) -> dict[str, str]:
        return self.incoming.params

    def require(self, name: str) -> str:
        value = self.params.get(name)
        if value is None or value == "":
            raise ApiFail(100, f"Missed required parameter: {name}")
        return value

    def require_scope(self, scope: str) -> None:
        if self.token is not None and scope not in self.token.scopes:
            raise permission_denied(scope)

    def target_user(self, param: str = "uid") -> User:
        """The session's user, or the ``uid`` parameter of a session-less call."""
        if self.user is not None:
            return self.user
        uid = self.params.get(param)
        if not uid:
            # Real reply, error_data included (AIO-OLD docs, docs/protocol.md §4).
            raise ApiFail(100, f"Either session_key or {param} must be specified", 1)
        user = self.fake.users.get(uid)
        if user is None:
            raise ApiFail(110, f"Invalid user id {uid}")
        return user

    def int_param(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.params.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ApiFail(100, f"Invalid parameter {name} value : {raw}") from None
        if not low <= value <= high:
            raise ApiFail(100, f"Invalid parameter {name} value : {raw}, must be within [{low}, {high}]")
        return value


@dataclass(frozen=True)
class MethodSpec:
    func: Callable[[CallContext], object]
    session: Session = "required"
    scopes: tuple[str, ...] = ()


def csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def field_names(ctx: CallContext, *, required: bool) -> list[str]:
    raw = ctx.require("fields") if required else ctx.params.get("fields", "")
    # OK takes field names in either case (docs write them upper-case: FIRST_NAME).
    return [f.lower() for f in csv(raw)]
