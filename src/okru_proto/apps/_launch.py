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
from hashlib import md5
from hmac import compare_digest
from typing import TypedDict
from urllib.parse import urlsplit

from okru_proto import Endpoints, ProtocolError, Secret, UsageError

from .._values import SECRET_PARAM_NAMES  # private: okru_proto.adapter would load every wire step
from ._signed import MAX_PARAMS, BadParams, read_params, same_text, sig_of

_new = object.__new__

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
    return str(params.get(name, "")).strip().lower() in ("1", "true")


class LaunchSession(TypedDict):
    """Keyword arguments for any adapter's ``ClientSession(app_id, **options)``: the launched
    user's session (the client-server circuit, docs/protocol.md §2.2) and where to send it."""

    app_key: str
    access_token: str
    session_secret_key: str
    endpoints: Endpoints


def _text(name: str) -> property:
    def get(self: Launch) -> str | None:
        return self._params.get(name) or None
    get.__doc__ = f"``{name}`` as received, or None."
    return property(get)


def _flag_of(name: str, doc: str) -> property:
    def get(self: Launch) -> bool:
        return _flag(self._params, name)
    get.__doc__ = doc
    return property(get)


class Launch:
    """A verified launch (DOC-APP fields; docs/protocol.md §13.2), read-only. ``raw`` holds every
    parameter as received; the fields read from it. The repr masks ``session_key`` and
    ``session_secret_key``. Made by :func:`verify_launch` only."""

    # Read-only without a __setattr__ of its own: every field is a property without a setter,
    # and __slots__ refuses new attributes; so building one costs a single slot store.
    __slots__ = ("_params",)
    _params: dict[str, str]

    def __init__(self, params: Mapping[str, str]) -> None:
        raise UsageError("a Launch comes from verify_launch(params, app_secret_key=...), which checks it")

    @classmethod
    def _verified(cls, params: dict[str, str]) -> Launch:
        launch = object.__new__(cls)
        launch._params = params
        return launch

    @property
    def logged_user_id(self) -> str:
        """The user who opened the app (a constant id)."""
        return self._params["logged_user_id"]

    @property
    def session_key(self) -> str:
        """The user's session (the token of the client-server circuit)."""
        return self._params["session_key"]

    @property
    def session_secret_key(self) -> str:
        """The session's secret (signs the user's REST calls)."""
        return self._params["session_secret_key"]

    @property
    def application_key(self) -> str:
        return self._params["application_key"]

    @property
    def raw(self) -> Params:
        """Every parameter as received (read-only; its repr masks credentials)."""
        return Params(self._params)

    api_server = _text("api_server")
    refplace = _text("refplace")
    referer = _text("referer")
    custom_args = _text("custom_args")
    mob_platform = _text("mob_platform")
    web_server = _text("web_server")
    authorized = _flag_of("authorized", "True when the user authorized the app (``authorized=1``).")
    first_start = _flag_of("first_start", "True on the first start after installing (``first_start=1``).")
    container = _flag_of("container", "True on desktop ok.ru (``container=true``).")
    mob = _flag_of("mob", "True on mobile (``mob=true``); ``mob_platform`` says which.")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Launch):
            return NotImplemented
        return self._params == other._params

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._params.items())))

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
    secret = app_secret_key if type(app_secret_key) is str else _secret_text(app_secret_key, "app_secret_key")
    if not secret:
        raise UsageError("app_secret_key must be the application's secret key (a non-empty str)")
    try:
        received = params.copy() if type(params) is dict and len(params) <= MAX_PARAMS and "" not in params \
            else read_params(params)
        try:
            sig, auth_sig = received["sig"], received["auth_sig"]
            user, session_key = received["logged_user_id"], received["session_key"]
            present = sig and auth_sig and user and session_key and received["session_secret_key"] \
                and received["application_key"]
        except KeyError:
            present = False
        if not present:
            missing = [name for name in _REQUIRED if not received.get(name)]
            raise LaunchError(f"launch parameters: {', '.join(missing)} missing or empty (is this OK.ru's "
                              "launch URL, with all its parameters?)")
        # sig_of, its common case inlined (ASCII text, names of str): this runs on every page load.
        text = "".join([f"{name}={received[name]}" for name in sorted(received) if name != "sig"])
        expected = md5((text + secret).encode()).hexdigest() if text.isascii() else sig_of(received, secret)
    except TypeError:
        raise LaunchError("launch parameters: parameter names must be str") from None
    except BadParams as exc:
        raise LaunchError(f"launch parameters: {exc}") from None
    try:
        # hmac.compare_digest: constant time (a str holding other than ASCII is a TypeError).
        # OK writes lower-case hex; upper case is compared again lowered (the second compare
        # only runs on a mismatch, which the answer reveals anyway).
        if not (compare_digest(expected, sig) or compare_digest(expected, sig.lower())):
            raise LaunchError("launch parameters: sig does not match: not signed by OK.ru with this app's "
                              "secret key, or changed after signing")
        expected = md5((user + session_key + secret).encode()).hexdigest()
        if not (compare_digest(expected, auth_sig) or compare_digest(expected, auth_sig.lower())):
            raise LaunchError("launch parameters: auth_sig does not match logged_user_id and session_key")
    except (TypeError, AttributeError, UnicodeEncodeError):
        raise LaunchError("launch parameters: sig, auth_sig, logged_user_id and session_key must be text "
                          "(sig and auth_sig hex)") from None
    if application_key is not None and not same_text(application_key, received["application_key"]):
        raise LaunchError("launch parameters: application_key is another app's")
    launch = _new(Launch)  # Launch._verified, inlined: this is the hot path of every page load
    launch._params = received
    return launch
