"""The adapter-facing session shapes: everything about a session's constructor lives here.

:class:`SessionSpec` gives every adapter's ``*Session`` aiookru's attributes over a
:class:`~okru_proto.adapter.SessionCore`; the eight subclasses fix aiookru's constructor shapes (which
grant, which token, which credentials are required). An adapter mixes one of them with its own
base class, which implements ``_init_transport(**transport_options)`` and supplies ``_clock``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    # Only for the type checker: the core imports nothing outside the standard library at run
    # time, and typing.Unpack needs Python 3.11.
    from typing_extensions import Unpack

from ._defaults import DEFAULT_TIMEOUT
from ._errors import UsageError
from ._flow import is_async_callable
from ._grants import CodeGrant, ImplicitGrant, PasswordGrant, RefreshGrant
from ._oauth import DEFAULT_IMPLICIT_REDIRECT_URI
from ._retry import RetryPolicy
from ._session import CORE_OPTIONS, OnToken, SessionCore
from ._store import TokenStore
from ._token import Token
from ._types import Endpoints, Secret, reveal

__all__ = [
    "AppSessionSpec",
    "ClientSessionSpec",
    "CodeSessionSpec",
    "ImplicitSessionSpec",
    "PasswordSessionSpec",
    "PublicSessionSpec",
    "RefreshSessionSpec",
    "ServerSessionSpec",
    "SessionOptions",
    "SessionSpec",
]


class SessionOptions(TypedDict, total=False):
    """Every keyword option a session takes, by name and type, so a misspelt one (``on_tokn=``)
    is a type error. The core's (:data:`CORE_OPTIONS`), then the transports': each adapter
    accepts its own and refuses the rest at run time with a :class:`~okru_proto.UsageError` that
    lists the valid names (docs/limits.md)."""

    endpoints: Endpoints
    pass_error: bool
    retry: RetryPolicy | None
    on_token: OnToken | None
    auto_refresh: bool | None
    refresh_before: float | None
    http_method: str
    store: TokenStore | None
    store_key: str | None
    # Transports (okru_httpx, okru_trio): the same names and meanings everywhere.
    timeout: float | None
    connect_timeout: float | None
    read_timeout: float | None
    max_response_bytes: int
    # okru_httpx only: your httpx.Client / httpx.AsyncClient.
    client: Any
    # okru_trio only: an okru_trio.H11Transport, an ssl.SSLContext, connections per origin.
    transport: Any
    ssl_context: Any
    max_connections: int


class SessionSpec:
    """Base of every adapter's ``*Session``: aiookru's attributes over a :class:`SessionCore`.

    Subclasses below fix the constructor shapes; an adapter mixes them with its own base class,
    which implements ``_init_transport(**transport_options)`` and supplies ``_clock``.
    """

    _core: SessionCore

    def _init_transport(self, **transport_options: Any) -> None:  # pragma: no cover - adapters
        raise NotImplementedError

    def _clock(self) -> float:  # pragma: no cover - adapters
        raise NotImplementedError

    #: True for the blocking sessions (:class:`~okru_proto.adapter.SyncSessionBase`): they cannot await.
    _blocking = False

    def _setup(self, given: SessionOptions, **core_args: Any) -> None:
        options: dict[str, Any] = dict(given)
        core_options = {k: options.pop(k) for k in list(options) if k in CORE_OPTIONS}
        if self._blocking and is_async_callable(core_options.get("on_token")):
            raise UsageError("on_token is an async function, which a blocking session cannot await "
                             "(its token would never be saved); pass a plain function, or use the "
                             "async adapter")
        self._core = SessionCore(clock=self._clock, **core_args, **core_options)
        timeout = options.get("timeout", DEFAULT_TIMEOUT)
        self._init_transport(**options)
        # The whole-call deadline bounds a store's lease (_shared_refresh); None: no deadline.
        if timeout is None or (isinstance(timeout, (int, float)) and not isinstance(timeout, bool)):
            self._core.request_timeout = None if timeout is None else float(timeout)

    @property
    def core(self) -> SessionCore:
        return self._core

    @property
    def token(self) -> Token | None:
        """The current :class:`Token` (None before authorization or for session-less sessions)."""
        return self._core.token

    @property
    def authorized_token(self) -> Token:
        """The current :class:`Token`, never None: for code that runs after the grant (inside
        ``with``/``async with``, or after ``authorize()``), so it needs no ``assert token is not
        None``. Raises :class:`~okru_proto.UsageError` before authorization, after a failed
        grant, and on ``AppSession``/``PublicSession`` (which hold no token). The aiookru-named
        attributes below (``access_token``, ``uid``...) stay Optional: None before authorization."""
        token = self._core.token
        if token is None:
            if self._core.grant is None:
                raise UsageError(f"{type(self).__name__} holds no token: its calls are "
                                 f"{'signed with the app secret' if self._core.app_secret_key else 'unsigned'}")
            raise UsageError(f"{type(self).__name__} is not authorized yet: use it in `with`/`async with`, "
                             "or call authorize() first")
        return token

    def _field(self, name: str) -> Any:
        token = self._core.token
        return None if token is None else getattr(token, name)

    @property
    def access_token(self) -> str | None:
        value = self._field("access_token")
        return None if value is None else reveal(value)

    session_key = access_token

    @property
    def session_secret_key(self) -> str | None:
        value = self._field("session_secret_key")
        return None if value is None else reveal(value)

    @property
    def refresh_token(self) -> str | None:
        value = self._field("refresh_token")
        return None if value is None else reveal(value)

    @property
    def permissions_granted(self) -> str | None:
        return self._field("permissions_granted")  # type: ignore[no-any-return]

    permission_granted = permissions_granted

    @property
    def state(self) -> str | None:
        return self._field("state")  # type: ignore[no-any-return]

    @property
    def token_type(self) -> str | None:
        return self._field("token_type")  # type: ignore[no-any-return]

    @property
    def expires_in(self) -> int | None:
        return self._field("expires_in")  # type: ignore[no-any-return]

    @property
    def expires_at(self) -> float | None:
        return self._field("expires_at")  # type: ignore[no-any-return]

    @property
    def uid(self) -> str | None:
        return self._field("uid")  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        core = self._core
        return (f"{type(self).__name__}(app_id={core.app_id!r}, circuit={core.circuit!r}, "
                f"api={core.endpoints.api!r})")


def _scope(scope: str | Iterable[str]) -> tuple[str, ...] | str:
    return scope if isinstance(scope, str) else tuple(scope)


class CodeSessionSpec(SessionSpec):
    """Authorization-code grant: entering the session (``with``/``async with``) exchanges ``code``
    for a token (server-server circuit after).
    ``CodeSession(app_id, app_key, app_secret_key, code, redirect_uri, **options)``."""

    def __init__(self, app_id: int | str, app_key: str, app_secret_key: str, code: str,
                 redirect_uri: str, **options: Unpack[SessionOptions]) -> None:
        self._setup(options, app_id=app_id, app_key=app_key, app_secret_key=app_secret_key,
                    grant=CodeGrant(Secret(code), redirect_uri))


class ImplicitSessionSpec(SessionSpec):
    """Implicit grant through OK's login and permission dialogs (client-server circuit after).
    ``ImplicitSession(app_id, app_key, app_secret_key, login, passwd, scope, redirect_uri=, state=,
    layout=, **options)``."""

    def __init__(self, app_id: int | str, app_key: str, app_secret_key: str | None, login: str,
                 passwd: str, scope: str | Iterable[str] = ("VALUABLE_ACCESS",), *,
                 redirect_uri: str = DEFAULT_IMPLICIT_REDIRECT_URI, state: str | None = None,
                 layout: str = "w", **options: Unpack[SessionOptions]) -> None:
        self._setup(options, app_id=app_id, app_key=app_key, app_secret_key=app_secret_key,
                    grant=ImplicitGrant(login, Secret(passwd), _scope(scope), redirect_uri, state, layout))


class PasswordSessionSpec(SessionSpec):
    """Password grant via ``auth.login`` (client-server circuit after).
    ``PasswordSession(app_id, app_key, app_secret_key, login, passwd, **options)``."""

    def __init__(self, app_id: int | str, app_key: str, app_secret_key: str | None, login: str,
                 passwd: str, **options: Unpack[SessionOptions]) -> None:
        self._setup(options, app_id=app_id, app_key=app_key, app_secret_key=app_secret_key,
                    grant=PasswordGrant(login, Secret(passwd)))


class RefreshSessionSpec(SessionSpec):
    """A new access token from a stored refresh token (server-server circuit after).
    ``RefreshSession(app_id, app_key, app_secret_key, refresh_token, **options)``."""

    def __init__(self, app_id: int | str, app_key: str, app_secret_key: str, refresh_token: str,
                 **options: Unpack[SessionOptions]) -> None:
        self._setup(options, app_id=app_id, app_key=app_key, app_secret_key=app_secret_key,
                    grant=RefreshGrant(Secret(refresh_token)))


class ClientSessionSpec(SessionSpec):
    """A token you already have, with its ``session_secret_key`` (client-server circuit).
    ``ClientSession(app_id, app_key, access_token, session_secret_key, **options)``."""

    def __init__(self, app_id: int | str, app_key: str, access_token: str, session_secret_key: str,
                 **options: Unpack[SessionOptions]) -> None:
        if not access_token or not session_secret_key:
            raise UsageError("ClientSession needs access_token and session_secret_key")
        self._setup(options, app_id=app_id, app_key=app_key,
                    token=Token(access_token=Secret(access_token),
                                session_secret_key=Secret(session_secret_key)))


class ServerSessionSpec(SessionSpec):
    """A token you already have, signed with ``md5(access_token + app_secret_key)``
    (server-server circuit); ``refresh_token=`` refreshes it transparently on 102.
    ``ServerSession(app_id, app_key, app_secret_key, access_token, refresh_token=, **options)``."""

    def __init__(self, app_id: int | str, app_key: str, app_secret_key: str, access_token: str, *,
                 refresh_token: str | None = None, **options: Unpack[SessionOptions]) -> None:
        if not access_token:
            raise UsageError("ServerSession needs an access_token")
        if not app_secret_key:
            raise UsageError("ServerSession needs app_secret_key (the server-server circuit signs with it)")
        self._setup(options, app_id=app_id, app_key=app_key, app_secret_key=app_secret_key,
                    token=Token(access_token=Secret(access_token),
                                refresh_token=Secret(refresh_token) if refresh_token else None))


class AppSessionSpec(SessionSpec):
    """Session-less calls signed with the app secret (methods OK requires without a session,
    e.g. ``notifications.sendSimple``). ``AppSession(app_id, app_key, app_secret_key, **options)``."""

    def __init__(self, app_id: int | str, app_key: str, app_secret_key: str, **options: Unpack[SessionOptions]) -> None:
        if not app_secret_key:
            raise UsageError("AppSession needs app_secret_key (session-less calls are signed with it)")
        self._setup(options, app_id=app_id, app_key=app_key, app_secret_key=app_secret_key)


class PublicSessionSpec(SessionSpec):
    """Unsigned requests (no token, no signature); ``app_key=`` adds ``application_key``.
    ``PublicSession(app_key=None, **options)``."""

    def __init__(self, *, app_key: str | None = None, **options: Unpack[SessionOptions]) -> None:
        self._setup(options, app_key=app_key)
