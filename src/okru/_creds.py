"""The CLI's credentials: their options, where they come from, and the session they open.

Shared by ``okru call``, ``okru sign``, ``okru login`` and ``okru upload-video``: the
``--app-id``... and ``--api-url``/``--connect-url`` options, :func:`resolve_credentials` (flags,
then ``OKRU_*`` environment, then the stored login) and :func:`open_session`. Which circuit the
credentials sign in and which session class holds them is the core's rule
(``okru_proto.adapter.circuit_for`` / ``session_for``): nothing here re-derives it.
"""

from __future__ import annotations

import os

from ._output import CLIError

TYPE_CHECKING = False  # not typing's: `okru --help` imports this module; the core loads on use
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from typing import Any

    from okru_proto import Endpoints, Token
    from okru_proto.adapter import Circuit

    from ._login.stored import StoredLogin

__all__ = ["ENV", "Credentials", "add_credentials", "add_endpoints", "from_flags_or_env", "open_session",
           "resolve_credentials"]

ENV = {
    "app_id": "OKRU_APP_ID",
    "app_key": "OKRU_APP_KEY",
    "app_secret_key": "OKRU_APP_SECRET_KEY",
    "access_token": "OKRU_ACCESS_TOKEN",
    "session_secret_key": "OKRU_SESSION_SECRET_KEY",
    "api_url": "OKRU_API_URL",
    "connect_url": "OKRU_CONNECT_URL",
}
_CREDENTIAL_FIELDS = ("app_id", "app_key", "app_secret_key", "access_token", "session_secret_key")


class Credentials:
    """What a subcommand signs with. A plain class, not a dataclass: importing dataclasses costs
    a tenth of `okru --help`'s start-up, and a generated repr would show the secrets."""

    def __init__(self, *, app_id: str | None = None, app_key: str | None = None,
                 app_secret_key: str | None = None, access_token: str | None = None,
                 session_secret_key: str | None = None, refresh_token: str | None = None,
                 api_url: str | None = None, connect_url: str | None = None,
                 stored: StoredLogin | None = None) -> None:
        self.app_id = app_id
        self.app_key = app_key
        self.app_secret_key = app_secret_key
        self.access_token = access_token
        self.session_secret_key = session_secret_key
        self.refresh_token = refresh_token
        self.api_url = api_url
        self.connect_url = connect_url
        self.stored = stored

    def __repr__(self) -> str:
        return f"<Credentials circuit={self.circuit} app_id={self.app_id}>"

    @property
    def circuit(self) -> Circuit:
        """The circuit a call with these credentials signs in (the core's rule)."""
        from okru_proto.adapter import circuit_for

        return circuit_for(access_token=self.access_token, session_secret_key=self.session_secret_key,
                           app_secret_key=self.app_secret_key)

    def endpoints(self) -> Endpoints:
        from okru_proto import Endpoints, UsageError

        api = self.api_url or "https://api.ok.ru"
        # The emulator serves both: --connect-url follows --api-url unless given.
        connect = self.connect_url or (self.api_url if self.api_url else "https://connect.ok.ru")
        try:
            return Endpoints(api=api, connect=connect)
        except UsageError as exc:
            # The core's message names Endpoints.api/.connect: say which option that was.
            text = str(exc).replace("Endpoints.api", "--api-url").replace("Endpoints.connect", "--connect-url")
            raise CLIError(text, "use https://, or http:// only for a loopback emulator") from exc


def from_flags_or_env(args: argparse.Namespace, name: str) -> str | None:
    """The option ``name`` from its flag, else its ``OKRU_*`` variable; None when neither is set."""
    value = getattr(args, name, None)
    if value:
        return str(value)
    env = os.environ.get(ENV[name])
    return env or None


def resolve_credentials(args: argparse.Namespace, *, use_stored: bool = True) -> Credentials:
    """Flags, then environment; the stored login only when neither gives any credential."""
    get = from_flags_or_env
    creds = Credentials(app_id=get(args, "app_id"), app_key=get(args, "app_key"),
                        app_secret_key=get(args, "app_secret_key"), access_token=get(args, "access_token"),
                        session_secret_key=get(args, "session_secret_key"), api_url=get(args, "api_url"),
                        connect_url=get(args, "connect_url"))
    if use_stored and not any(getattr(creds, name) for name in _CREDENTIAL_FIELDS):
        from ._login.stored import load_login

        stored = load_login()
        if stored is not None:
            creds.app_id, creds.app_key = stored.app_id, stored.app_key
            creds.app_secret_key, creds.access_token = stored.app_secret_key, stored.access_token
            creds.refresh_token, creds.stored = stored.refresh_token, stored
            creds.api_url = creds.api_url or stored.api_url
            creds.connect_url = creds.connect_url or stored.connect_url
    return creds


def open_session(creds: Credentials, *, http_method: str = "POST", timeout: float | None = None,
                 on_token: Callable[[Token], object] | None = None) -> Any:
    """The ``okru_httpx.sync`` session for the credentials' circuit (not yet entered)."""
    from okru_httpx import sync
    from okru_proto import UsageError
    from okru_proto.adapter import session_for, signing_secret

    options: dict[str, Any] = {"endpoints": creds.endpoints(), "http_method": http_method}
    if timeout is not None:
        options["timeout"] = timeout
    if on_token is not None:
        options["on_token"] = on_token
    circuit = creds.circuit
    if not creds.app_key:
        if circuit == "public":
            raise CLIError("no credentials",
                           "pass --app-key (and --app-secret-key / --access-token ...), set OKRU_APP_KEY etc., "
                           "or run `okru login`; `okru demo` needs none")
        raise CLIError("no application key", "pass --app-key or set OKRU_APP_KEY (the app's public key)")
    try:
        signing_secret(circuit, access_token=creds.access_token, session_secret_key=creds.session_secret_key,
                       app_secret_key=creds.app_secret_key)
    except UsageError as exc:
        # circuit_for gives a session secret or an app secret to every circuit but one: a token
        # with neither, which the core refuses. Say which options would sign it.
        raise CLIError("an access token alone cannot sign a call",
                       "add --session-secret-key (client-server circuit) or --app-secret-key "
                       "(server-server circuit), or set OKRU_SESSION_SECRET_KEY / OKRU_APP_SECRET_KEY") from exc
    return session_for(sync, app_id=creds.app_id, app_key=creds.app_key, app_secret_key=creds.app_secret_key,
                       access_token=creds.access_token, session_secret_key=creds.session_secret_key,
                       refresh_token=creds.refresh_token, **options)


def add_credentials(p: argparse.ArgumentParser, *, token: bool = True) -> None:
    """The credential options (``token=False``: only the app's, for ``okru login``)."""
    g = p.add_argument_group("credentials (else OKRU_* environment variables, else the stored login)")
    g.add_argument("--app-id", help="the app's numeric id (OKRU_APP_ID)")
    g.add_argument("--app-key", help="the app's public key (OKRU_APP_KEY)")
    g.add_argument("--app-secret-key", help="the app's secret key (OKRU_APP_SECRET_KEY)")
    if token:
        g.add_argument("--access-token", help="a user's access token (OKRU_ACCESS_TOKEN)")
        g.add_argument("--session-secret-key",
                       help="the token's session secret: client-server circuit (OKRU_SESSION_SECRET_KEY)")


def add_endpoints(p: argparse.ArgumentParser) -> None:
    """``--api-url`` and ``--connect-url``."""
    p.add_argument("--api-url", help="REST/OAuth base URL (OKRU_API_URL; default https://api.ok.ru; "
                   "plain http only for loopback, e.g. the emulator)")
    p.add_argument("--connect-url", help="OAuth dialog base URL (OKRU_CONNECT_URL; default: --api-url "
                   "when given, else https://connect.ok.ru)")
