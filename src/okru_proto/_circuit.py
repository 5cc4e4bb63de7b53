"""Circuits: everything that decides which secret signs a call lives here (docs/protocol.md §2.2).

OK.ru signs a call in one of three circuits, chosen by the credentials at hand:

* ``client`` (client-server): a token with its ``session_secret_key``; signed with that secret.
* ``server`` (server-server): a token and the app's secret key; signed with
  ``md5(access_token + app_secret_key)`` (:func:`~okru_proto.adapter.server_secret`).
* ``app`` (session-less): no token, the app's secret key; signed with the app secret.

okru adds ``public`` (no secret: unsigned calls) and ``unauthorized`` (a session whose grant has
not run yet). Sessions, the CLI and any embedding call :func:`circuit_for` and
:func:`signing_secret` rather than re-deriving the rule.
"""

from __future__ import annotations

from typing import Literal

from ._errors import UsageError
from ._sign import server_secret
from ._types import Secret, reveal

__all__ = ["CIRCUITS", "Circuit", "circuit_for", "signing_secret"]

#: A circuit's name, as :func:`circuit_for` returns it.
Circuit = Literal["client", "server", "app", "public", "unauthorized"]
#: Every circuit name, in the order of preference :func:`circuit_for` applies.
CIRCUITS: tuple[Circuit, ...] = ("client", "server", "app", "public", "unauthorized")


def circuit_for(*, access_token: Secret | str | None = None, session_secret_key: Secret | str | None = None,
                app_secret_key: Secret | str | None = None, authorizing: bool = False) -> Circuit:
    """The circuit these credentials sign in: a token with a session secret is ``client``, a token
    without one ``server``; no token is ``unauthorized`` while a grant is pending
    (``authorizing=True``), else ``app`` with the app secret and ``public`` without."""
    if reveal(access_token):
        return "client" if reveal(session_secret_key) else "server"
    if authorizing:
        return "unauthorized"
    return "app" if reveal(app_secret_key) else "public"


def signing_secret(circuit: Circuit, *, access_token: Secret | str | None = None,
                   session_secret_key: Secret | str | None = None,
                   app_secret_key: Secret | str | None = None) -> Secret | None:
    """The secret appended to the canonical string in ``circuit`` (None: the call is unsigned).

    Raises :class:`~okru_proto.UsageError` when the circuit's secret cannot be made from what is
    given (e.g. ``server`` without ``app_secret_key``)."""
    if circuit == "client":
        if not reveal(session_secret_key):
            raise UsageError("the client-server circuit signs with the token's session_secret_key; it is empty")
        return Secret(reveal(session_secret_key))
    if circuit == "server":
        if not reveal(access_token) or not reveal(app_secret_key):
            raise UsageError("a token without a session_secret_key is used in the server-server circuit, "
                             "which needs app_secret_key")
        return server_secret(reveal(access_token), reveal(app_secret_key))
    if circuit == "app":
        if not reveal(app_secret_key):
            raise UsageError("the session-less circuit signs with app_secret_key; it is empty")
        return Secret(reveal(app_secret_key))
    if circuit in ("public", "unauthorized"):
        return None
    raise UsageError(f"unknown circuit {circuit!r}; one of {', '.join(CIRCUITS)}")
