"""Circuits: everything that decides which secret signs a call lives here (docs/protocol.md §2.2).

OK.ru signs a call in one of three circuits, chosen by the credentials at hand:

* ``client`` (client-server): a token with its ``session_secret_key``; signed with that secret.
* ``server`` (server-server): a token and the app's secret key; signed with
  ``md5(access_token + app_secret_key)`` (:func:`~okru_proto.adapter.server_secret`).
* ``app`` (session-less): no token, the app's secret key; signed with the app secret.

okru adds ``public`` (no secret: unsigned calls) and ``unauthorized`` (a session whose grant has
not run yet). Sessions, the CLI and any embedding call :func:`circuit_for` and
:func:`signing_secret` rather than re-deriving the rule; :func:`circuit_for_signing` is the same
rule for computing a sig by hand (``okru sign``), and :func:`session_for` picks the session class
that holds a given set of credentials (``okru call``).
"""

from __future__ import annotations

from typing import Any, Literal

from ._errors import UsageError
from ._sign import server_secret
from ._types import Secret, reveal

__all__ = ["CIRCUITS", "SESSION_CLASSES", "Circuit", "circuit_for", "circuit_for_signing", "session_for",
           "signing_secret"]

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


def circuit_for_signing(*, access_token: Secret | str | None = None,
                        session_secret_key: Secret | str | None = None,
                        app_secret_key: Secret | str | None = None) -> Circuit:
    """The circuit to compute a sig in when no call is made (``okru sign``, checking an error 104
    by hand): :func:`circuit_for`, except that a ``session_secret_key`` alone picks ``client``.
    The client circuit's secret is that key; its access token is sent beside the sig, never mixed
    into the secret (docs/protocol.md §2.2), so the sig can be computed without it."""
    if reveal(session_secret_key):
        return "client"
    return circuit_for(access_token=access_token, app_secret_key=app_secret_key)


#: The session class that holds credentials of each circuit, by the name every adapter
#: (``okru_httpx``, ``okru_httpx.sync``, ``okru_trio``) exports it under. ``unauthorized`` has
#: none: it is a grant session (``CodeSession``, ``PasswordSession``, ...) before its grant ran.
SESSION_CLASSES: dict[Circuit, str] = {
    "client": "ClientSession",
    "server": "ServerSession",
    "app": "AppSession",
    "public": "PublicSession",
}


def session_for(sessions: Any, *, app_id: int | str | None = None, app_key: str | None = None,
                app_secret_key: str | None = None, access_token: str | None = None,
                session_secret_key: str | None = None, refresh_token: str | None = None,
                **options: Any) -> Any:
    """A session (not yet entered) of the adapter namespace ``sessions`` (e.g. ``okru_httpx.sync``)
    for credentials already held: the class :data:`SESSION_CLASSES` names for the circuit
    :func:`circuit_for` picks, built with the credentials that circuit uses. ``refresh_token`` goes
    to a ``server`` session (OK.ru's refresh grant needs the app secret, which only that circuit
    holds); ``options`` are the session's keyword options.

    Raises :class:`~okru_proto.UsageError` when the credentials cannot sign in their circuit (a
    token with neither ``session_secret_key`` nor ``app_secret_key``)."""
    circuit = circuit_for(access_token=access_token, session_secret_key=session_secret_key,
                          app_secret_key=app_secret_key)
    signing_secret(circuit, access_token=access_token, session_secret_key=session_secret_key,
                   app_secret_key=app_secret_key)
    cls = getattr(sessions, SESSION_CLASSES[circuit])
    if circuit == "client":
        return cls(app_id, app_key, access_token, session_secret_key, **options)
    if circuit == "server":
        return cls(app_id, app_key, app_secret_key, access_token, refresh_token=refresh_token, **options)
    if circuit == "app":
        return cls(app_id, app_key, app_secret_key, **options)
    return cls(app_key=app_key, **options)


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
