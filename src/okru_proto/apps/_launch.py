"""An iframe app's launch: the parameters OK.ru appends to the app's URL, verified, as a
:class:`Launch` (docs/protocol.md §13.2); and the one way okru lets that launch's session call
REST: :meth:`Launch.session_options`, never towards an ``api_server`` that is not OK's.

OK signs a launch twice: ``sig`` over the parameters (§13.1) and ``auth_sig`` =
md5(``logged_user_id`` + ``session_key`` + application secret key) (DOC-APP). :func:`verify_launch`
checks both, in constant time, before anything of the launch is believed: ``auth_sig`` alone
covers only the user and the session, so ``api_server``, ``refplace`` or ``custom_args`` would
still be the sender's to choose.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TypedDict
from urllib.parse import urlsplit

from okru_proto import Endpoints, ProtocolError, Secret, UsageError

from .._types import SECRET_PARAM_NAMES  # private: okru_proto.adapter would load every wire step
from ._signed import BadParams, digest_matches, md5_hex, read_params, same_text, sig_of

__all__ = ["OK_API_HOSTS", "Launch", "LaunchError", "LaunchSession", "Params", "verify_launch"]

#: The hosts a launch's ``api_server`` may name for :meth:`Launch.session_options`: OK's REST host
#: and its old name (docs/protocol.md §1.1). https on the default port only (okru's choice, §13.2).
OK_API_HOSTS = ("api.ok.ru", "api.odnoklassniki.ru")

#: What a launch must carry for okru to verify it (DOC-APP marks them required).
_REQUIRED = ("sig", "auth_sig", "logged_user_id", "session_key", "session_secret_key", "application_key")


class LaunchError(ProtocolError):
    """Launch parameters that are missing, malformed or not signed by OK.ru for this app. The
    message names the parameter and never holds a secret or a session value."""


class Params(Mapping[str, str]):
    """The parameters as received, read-only; the repr masks credentials (``session_key``,
    ``session_secret_key``...), so logging a launch or a payment shows no secret."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, str]) -> None:
        self._data = data

    def __getitem__(self, name: str) -> str:
        return self._data[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k!r}: {'***' if k in SECRET_PARAM_NAMES and v else repr(v)}"
                          for k, v in self._data.items())
        return f"Params({{{shown}}})"


def _flag(params: Mapping[str, str], name: str) -> bool:
    # OK writes numbers (authorized=1, first_start=0) and words (container=true, mob=true);
    # anything else reads as False and stays visible in ``raw`` (okru's choice, §13.2).
    return params.get(name, "").strip().lower() in ("1", "true")


class LaunchSession(TypedDict):
    """Keyword arguments for any adapter's ``ClientSession(app_id, **options)``: the launched
    user's session (the client-server circuit, docs/protocol.md §2.2) and where to send it."""

    app_key: str
    access_token: str
    session_secret_key: str
    endpoints: Endpoints


@dataclass(frozen=True, slots=True, repr=False)
class Launch:
    """A verified launch (DOC-APP fields; docs/protocol.md §13.2). ``raw`` holds every parameter
    as received. The repr masks ``session_key`` and ``session_secret_key``."""

    logged_user_id: str
    session_key: str
    session_secret_key: str
    application_key: str
    api_server: str | None
    authorized: bool
    refplace: str | None
    referer: str | None
    custom_args: str | None
    first_start: bool
    container: bool
    mob: bool
    mob_platform: str | None
    web_server: str | None
    raw: Params

    def __repr__(self) -> str:
        return (f"Launch(logged_user_id={self.logged_user_id!r}, application_key={self.application_key!r}, "
                f"session_key='***', session_secret_key='***', api_server={self.api_server!r}, "
                f"authorized={self.authorized!r}, refplace={self.refplace!r}, first_start={self.first_start!r}, "
                f"container={self.container!r}, mob={self.mob!r}, mob_platform={self.mob_platform!r})")

    def session_options(self, *, endpoints: Endpoints | None = None) -> LaunchSession:
        """The launched user's session for REST calls, in one line on every adapter::

            with ClientSession(app_id, **launch.session_options()) as session: ...

        The calls go to the launch's ``api_server`` only when it is OK's (:data:`OK_API_HOSTS`,
        https); the default ``https://api.ok.ru`` keeps the session's default endpoints. Any other
        ``api_server`` raises :class:`LaunchError`: a session key is never sent to a host OK did
        not name as its own. ``endpoints=`` overrides it (a test server, the emulator)."""
        if endpoints is None:
            endpoints = _ok_endpoints(self.api_server)
        elif not isinstance(endpoints, Endpoints):
            raise UsageError("endpoints must be an okru_proto.Endpoints")
        return {"app_key": self.application_key, "access_token": self.session_key,
                "session_secret_key": self.session_secret_key, "endpoints": endpoints}


def _ok_endpoints(api_server: str | None) -> Endpoints:
    if not api_server:
        return Endpoints()
    try:
        parts = urlsplit(api_server)
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
        parts = None
    if (parts is None or parts.scheme != "https" or host not in OK_API_HOSTS or port not in (None, 443)
            or "@" in parts.netloc or parts.path not in ("", "/") or parts.query or parts.fragment):
        raise LaunchError(f"the launch's api_server is not one of OK's API hosts ({', '.join(OK_API_HOSTS)}, "
                          "https): okru sends no session to it. For a test server (the emulator), pass "
                          "session_options(endpoints=Endpoints(api=...))")
    if host == "api.ok.ru":
        return Endpoints()  # the default endpoints already are https://api.ok.ru
    return Endpoints(api=f"https://{host}")


def _secret_text(value: Secret | str, name: str) -> str:
    if isinstance(value, Secret):
        value = value.reveal()
    if not isinstance(value, str) or not value:
        raise UsageError(f"{name} must be the application's secret key (a non-empty str)")
    return value


def verify_launch(params: Mapping[str, str] | str, *, app_secret_key: Secret | str,
                  application_key: str | None = None) -> Launch:
    """The :class:`Launch` in ``params`` (a mapping, or the iframe URL or its query string), once
    its ``sig`` and ``auth_sig`` are proved to be OK's for this app (both compared in constant
    time) and, when given, its ``application_key`` is this app's.

    Raises :class:`LaunchError` for anything missing, malformed or not matching."""
    secret = _secret_text(app_secret_key, "app_secret_key")
    try:
        received = read_params(params)
    except BadParams as exc:
        raise LaunchError(f"launch parameters: {exc}") from None
    missing = [name for name in _REQUIRED if not received.get(name)]
    if missing:
        raise LaunchError(f"launch parameters: {', '.join(missing)} missing or empty (is this OK.ru's "
                          "launch URL, with all its parameters?)")
    if not digest_matches(sig_of(received, secret), received["sig"]):
        raise LaunchError("launch parameters: sig does not match: not signed by OK.ru with this app's "
                          "secret key, or changed after signing")
    user, session_key = received["logged_user_id"], received["session_key"]
    if not digest_matches(md5_hex(user + session_key + secret), received["auth_sig"]):
        raise LaunchError("launch parameters: auth_sig does not match logged_user_id and session_key")
    if application_key is not None and not same_text(application_key, received["application_key"]):
        raise LaunchError("launch parameters: application_key is another app's")
    get = received.get
    return Launch(
        logged_user_id=user, session_key=session_key, session_secret_key=received["session_secret_key"],
        application_key=received["application_key"], api_server=get("api_server") or None,
        authorized=_flag(received, "authorized"), refplace=get("refplace"), referer=get("referer"),
        custom_args=get("custom_args"), first_start=_flag(received, "first_start"),
        container=_flag(received, "container"), mob=_flag(received, "mob"),
        mob_platform=get("mob_platform"), web_server=get("web_server"), raw=Params(received))
