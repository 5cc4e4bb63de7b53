"""The session: one user's credentials and token lifecycle, and the signed-call flow.

Everything an adapter's ``CodeSession``/``API`` needs lives here, once: the seed-shaped
constructors (:class:`SessionSpec` subclasses), circuit selection, transparent refresh on 102
(one refresh for all concurrent callers, via the :class:`RefreshNeeded` effect), the opt-in retry
policy, and :class:`API`. An adapter adds only ``send``, ``sleep``, a lock and ``with``/``async
with``.
"""

from __future__ import annotations

import logging
import random as _random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._errors import Error, UsageError, api_error_from_payload
from ._flow import Flow, RefreshNeeded, Sleep
from ._oauth import (
    DEFAULT_IMPLICIT_REDIRECT_URI,
    Token,
    _client_id,
    code_flow,
    password_flow,
    refresh_flow,
)
from ._rest import _scrub, check_method_name, parse_call_response, prepare_call
from ._sign import server_secret
from ._types import Endpoints, Secret, reveal

#: The ``okru`` logger: one DEBUG line per call (method, status, duration, circuit), never a
#: secret. Every adapter gets it from here.
log = logging.getLogger("okru")

__all__ = [
    "API",
    "CORE_OPTIONS",
    "AppSessionSpec",
    "ClientSessionSpec",
    "CodeGrant",
    "CodeSessionSpec",
    "Grant",
    "ImplicitGrant",
    "ImplicitSessionSpec",
    "PasswordGrant",
    "PasswordSessionSpec",
    "PublicSessionSpec",
    "RefreshGrant",
    "RefreshSessionSpec",
    "RetryPolicy",
    "ServerSessionSpec",
    "SessionCore",
    "SessionSpec",
]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Opt-in retries: capped exponential backoff with jitter.

    Retries flood (8), service (2) and other retry-later errors, HTTP 5xx and transport
    failures, at most ``attempts`` times after the first try. The delay before retry ``n``
    (0-based) is ``d/2 + random()*d/2`` with ``d = min(cap, base * 2**n)``; ``random`` is passed
    in (tests give a fixed one). Off by default: retrying a non-idempotent call such as
    ``mediatopic.post`` after a timeout can post twice.
    """

    attempts: int = 3
    base: float = 0.5
    cap: float = 8.0
    random: Callable[[], float] = field(default=_random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 0 or self.base < 0 or self.cap < 0:
            raise UsageError("RetryPolicy needs attempts, base and cap >= 0")

    def delay(self, attempt: int) -> float:
        ceiling = min(self.cap, self.base * (2 ** min(attempt, 32)))
        return float(ceiling / 2 + self.random() * ceiling / 2)


class Grant:
    """How a session gets its first token (a pure description; :meth:`flow` does the work)."""

    def flow(self, core: SessionCore, now: float) -> Flow[Token]:
        raise NotImplementedError


@dataclass(frozen=True, slots=True, repr=False)
class CodeGrant(Grant):
    code: Secret
    redirect_uri: str

    def flow(self, core: SessionCore, now: float) -> Flow[Token]:
        return code_flow(core.require_app_id(), core.require_app_secret("CodeSession"), reveal(self.code),
                         self.redirect_uri, core.endpoints, now)

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

    def flow(self, core: SessionCore, now: float) -> Flow[Token]:
        # Imported here: the dialog parser (html.parser, datetime) is needed by this grant only.
        from ._dialog import implicit_flow

        return implicit_flow(core.require_app_id(), self.login, self.password, scope=self.scope,
                             redirect_uri=self.redirect_uri, state=self.state, layout=self.layout,
                             endpoints=core.endpoints, now=now)


@dataclass(frozen=True, slots=True)
class PasswordGrant(Grant):
    login: str
    password: Secret

    def flow(self, core: SessionCore, now: float) -> Flow[Token]:
        return password_flow(core.require_app_key("PasswordSession"), self.login, self.password,
                             core.endpoints, now)


@dataclass(frozen=True, slots=True)
class RefreshGrant(Grant):
    refresh_token: Secret

    def flow(self, core: SessionCore, now: float) -> Flow[Token]:
        return refresh_flow(core.require_app_id(), core.require_app_secret("RefreshSession"),
                            Token(access_token=Secret(""), refresh_token=self.refresh_token),
                            core.endpoints, now)


#: Keyword options every session takes, whatever the adapter (the rest go to the transport).
CORE_OPTIONS = frozenset({"endpoints", "pass_error", "retry", "on_token", "auto_refresh",
                          "refresh_before", "http_method"})


class SessionCore:
    """One session's credentials, token and options; builds the flows an adapter drives.

    ``generation`` grows with every new token, so concurrent callers can tell whether somebody
    already refreshed the token they used (see :class:`RefreshNeeded`).
    """

    def __init__(
        self,
        *,
        app_id: int | str | None = None,
        app_key: str | None = None,
        app_secret_key: Secret | str | None = None,
        token: Token | None = None,
        grant: Grant | None = None,
        clock: Callable[[], float],
        endpoints: Endpoints | None = None,
        pass_error: bool = False,
        retry: RetryPolicy | None = None,
        on_token: Callable[[Token], object] | None = None,
        auto_refresh: bool | None = None,
        refresh_before: float | None = None,
        http_method: str = "POST",
    ) -> None:
        if app_id is not None:
            _client_id(app_id)
        if app_key is not None and (not isinstance(app_key, str) or not app_key):
            raise UsageError("app_key (the application's public key) must be a non-empty str")
        if endpoints is not None and not isinstance(endpoints, Endpoints):
            raise UsageError("endpoints must be an okru_proto.Endpoints")
        if http_method not in ("POST", "GET"):
            raise UsageError(f"http_method must be 'POST' or 'GET', got {http_method!r}")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise UsageError("retry must be an okru_proto.RetryPolicy (or None)")
        self.app_id = None if app_id is None else str(app_id)
        self.app_key = app_key
        self.app_secret_key = Secret(reveal(app_secret_key)) if app_secret_key else None
        self.grant = grant
        self.clock = clock
        self.endpoints = endpoints or Endpoints()
        self.pass_error = pass_error
        self.retry = retry
        self.on_token = on_token
        self.auto_refresh = auto_refresh
        self.refresh_before = refresh_before
        self.http_method = http_method
        self.generation = 0
        self.token: Token | None = None
        self._secret: str | None = None
        self._access: str | None = None
        self._secrets: tuple[str, ...] = ()
        self._install(token)

    # -- credentials ---------------------------------------------------------------------
    def require_app_secret(self, who: str) -> Secret:
        if self.app_secret_key is None:
            raise UsageError(f"{who} needs the app's secret key (app_secret_key); it is empty")
        return self.app_secret_key

    def require_app_id(self) -> str:
        if self.app_id is None:
            raise UsageError("this grant needs the app's numeric id (app_id)")
        return self.app_id

    def require_app_key(self, who: str) -> str:
        if not self.app_key:
            raise UsageError(f"{who} needs the app's public key (app_key)")
        return self.app_key

    @property
    def circuit(self) -> str:
        """``client`` (session secret), ``server`` (md5(token + app secret)), ``app``
        (session-less, app secret), ``public`` (unsigned) or ``unauthorized``."""
        token = self.token
        if token is not None:
            return "client" if token.session_secret_key else "server"
        if self.grant is not None:
            return "unauthorized"
        return "app" if self.app_secret_key is not None else "public"

    def _install(self, token: Token | None) -> None:
        self.token = token
        app_secret = reveal(self.app_secret_key)
        if token is None:
            self._access = None
            self._secret = (app_secret or None) if self.grant is None else None
        else:
            self._access = token.access_token.reveal()
            if token.session_secret_key:
                self._secret = token.session_secret_key.reveal()
            elif app_secret:
                self._secret = server_secret(self._access, app_secret).reveal()
            else:
                raise UsageError(
                    "a token without a session_secret_key is used in the server-server circuit, "
                    "which needs app_secret_key")
        self._secrets = tuple(s for s in (
            self._access, self._secret, app_secret,
            reveal(token.refresh_token) if token is not None else None,
            reveal(token.session_secret_key) if token is not None else None,
        ) if s)

    def set_token(self, token: Token) -> None:
        """Adopt a new token (signing secret recomputed, ``generation`` bumped, ``on_token`` told)."""
        self._install(token)
        self.generation += 1
        if self.on_token is not None:
            self.on_token(token)

    @property
    def can_refresh(self) -> bool:
        token = self.token
        possible = (token is not None and token.refresh_token is not None and bool(token.refresh_token)
                    and self.app_secret_key is not None and self.app_id is not None)
        return possible if self.auto_refresh is None else (self.auto_refresh and possible)

    # -- flows ---------------------------------------------------------------------------
    def authorize_flow(self) -> Flow[Token]:
        """Run the session's grant and adopt its token (the adapters' ``__aenter__``)."""
        if self.grant is None:
            # Nothing to authorize: a ready token, or a session-less/public session.
            return self.token  # type: ignore[return-value]
        token = yield from self.grant.flow(self, self.clock())
        self.set_token(token)
        return token

    def refresh_flow(self) -> Flow[Token]:
        """Refresh the token with the refresh grant, keep the refresh token, adopt the result."""
        if self.token is None or not self.can_refresh:
            raise UsageError("this session cannot refresh: it needs a refresh token, app_id and app_secret_key")
        retry = self.retry
        attempt = 0
        while True:
            try:
                token = yield from refresh_flow(self.require_app_id(), self.require_app_secret("refresh"),
                                                self.token, self.endpoints, self.clock())
            except Error as exc:
                # The retry policy covers token.do too: a flood or a 502 while refreshing must not
                # fail every caller waiting on the refresh.
                if retry is None or attempt >= retry.attempts or not getattr(exc, "retryable", False):
                    raise
                yield Sleep(retry.delay(attempt))
                attempt += 1
                continue
            self.set_token(token)
            return token

    def call_flow(self, method: str, params: Mapping[str, object] | None = None,
                  pass_error: bool | None = None) -> Flow[Any]:
        """One signed REST call, with transparent refresh on 102 (once) and the retry policy."""
        if self.grant is not None and self.token is None:
            raise UsageError("the session is not authorized yet: use `async with`/`with` on it, "
                             "or call its authorize() first")
        if pass_error is None:
            pass_error = self.pass_error
        retry = self.retry
        attempt = 0
        refreshed = False
        if self.refresh_before is not None and self.can_refresh:
            token = self.token
            if token is not None and token.expired(self.clock(), self.refresh_before):
                refreshed = True
                yield RefreshNeeded(self, self.generation)
        while True:
            generation = self.generation
            request = prepare_call(method, params, app_key=self.app_key, endpoints=self.endpoints,
                                   secret=self._secret, access_token=self._access,
                                   http_method=self.http_method)
            debug = log.isEnabledFor(logging.DEBUG)
            started = self.clock() if debug else 0.0
            try:
                response = yield request
                if debug:
                    log.debug("%s -> HTTP %d in %.1f ms (%s circuit, %s)", method, response.status,
                              (self.clock() - started) * 1000, self.circuit, request.method)
                result = parse_call_response(response, method, pass_error=True)
            except Error as exc:
                if debug:
                    log.debug("%s failed: %s: %s", method, type(exc).__name__, _scrub(str(exc), self._secrets))
                if retry is None or attempt >= retry.attempts or not getattr(exc, "retryable", False):
                    raise
                yield Sleep(retry.delay(attempt))
                attempt += 1
                continue
            if type(result) is not dict or "error_code" not in result:
                return result
            if isinstance(result.get("error_msg"), str):
                result["error_msg"] = _scrub(result["error_msg"], self._secrets)
            error = api_error_from_payload(result, method)
            if error.needs_refresh and not refreshed and self.can_refresh:
                refreshed = True
                yield RefreshNeeded(self, generation)
                continue
            if error.retryable and retry is not None and attempt < retry.attempts:
                yield Sleep(retry.delay(attempt))
                attempt += 1
                continue
            if pass_error:
                return result
            raise error

    def __repr__(self) -> str:
        return (f"SessionCore(app_id={self.app_id!r}, circuit={self.circuit!r}, "
                f"api={self.endpoints.api!r}, generation={self.generation})")


# -- the seed-shaped facade, shared by every adapter -------------------------------------------

class SessionSpec:
    """Base of every adapter's ``*Session``: the seed's attributes over a :class:`SessionCore`.

    Subclasses below fix the constructor shapes; an adapter mixes them with its own base class,
    which implements ``_init_transport(**transport_options)`` and supplies ``_clock``.
    """

    _core: SessionCore

    def _init_transport(self, **transport_options: Any) -> None:  # pragma: no cover - adapters
        raise NotImplementedError

    def _clock(self) -> float:  # pragma: no cover - adapters
        raise NotImplementedError

    def _setup(self, options: dict[str, Any], **core_args: Any) -> None:
        core_options = {k: options.pop(k) for k in list(options) if k in CORE_OPTIONS}
        self._core = SessionCore(clock=self._clock, **core_args, **core_options)
        self._init_transport(**options)

    @property
    def core(self) -> SessionCore:
        return self._core

    @property
    def token(self) -> Token | None:
        """The current :class:`Token` (None before authorization or for session-less sessions)."""
        return self._core.token

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
    """Authorization-code grant: exchanges ``code`` on enter (server-server circuit after)."""

    def __init__(self, app_id: int | str, app_key: str, app_secret_key: str, code: str,
                 redirect_uri: str, **options: Any) -> None:
        self._setup(options, app_id=app_id, app_key=app_key, app_secret_key=app_secret_key,
                    grant=CodeGrant(Secret(code), redirect_uri))


class ImplicitSessionSpec(SessionSpec):
    """Implicit grant through OK's login and permission dialogs (client-server circuit after)."""

    def __init__(self, app_id: int | str, app_key: str, app_secret_key: str | None, login: str,
                 passwd: str, scope: str | Iterable[str] = ("VALUABLE_ACCESS",), *,
                 redirect_uri: str = DEFAULT_IMPLICIT_REDIRECT_URI, state: str | None = None,
                 layout: str = "w", **options: Any) -> None:
        self._setup(options, app_id=app_id, app_key=app_key, app_secret_key=app_secret_key,
                    grant=ImplicitGrant(login, Secret(passwd), _scope(scope), redirect_uri, state, layout))


class PasswordSessionSpec(SessionSpec):
    """Password grant via ``auth.login`` (client-server circuit after)."""

    def __init__(self, app_id: int | str, app_key: str, app_secret_key: str | None, login: str,
                 passwd: str, **options: Any) -> None:
        self._setup(options, app_id=app_id, app_key=app_key, app_secret_key=app_secret_key,
                    grant=PasswordGrant(login, Secret(passwd)))


class RefreshSessionSpec(SessionSpec):
    """A new access token from a stored refresh token (server-server circuit after)."""

    def __init__(self, app_id: int | str, app_key: str, app_secret_key: str, refresh_token: str,
                 **options: Any) -> None:
        self._setup(options, app_id=app_id, app_key=app_key, app_secret_key=app_secret_key,
                    grant=RefreshGrant(Secret(refresh_token)))


class ClientSessionSpec(SessionSpec):
    """A token you already have, with its ``session_secret_key`` (client-server circuit)."""

    def __init__(self, app_id: int | str, app_key: str, access_token: str, session_secret_key: str,
                 **options: Any) -> None:
        if not access_token or not session_secret_key:
            raise UsageError("ClientSession needs access_token and session_secret_key")
        self._setup(options, app_id=app_id, app_key=app_key,
                    token=Token(access_token=Secret(access_token),
                                session_secret_key=Secret(session_secret_key)))


class ServerSessionSpec(SessionSpec):
    """A token you already have, signed with ``md5(access_token + app_secret_key)``
    (server-server circuit). Pass ``refresh_token=`` to refresh it transparently on 102."""

    def __init__(self, app_id: int | str, app_key: str, app_secret_key: str, access_token: str, *,
                 refresh_token: str | None = None, **options: Any) -> None:
        if not access_token:
            raise UsageError("ServerSession needs an access_token")
        if not app_secret_key:
            raise UsageError("ServerSession needs app_secret_key (the server-server circuit signs with it)")
        self._setup(options, app_id=app_id, app_key=app_key, app_secret_key=app_secret_key,
                    token=Token(access_token=Secret(access_token),
                                refresh_token=Secret(refresh_token) if refresh_token else None))


class AppSessionSpec(SessionSpec):
    """Session-less calls signed with the app secret (methods OK requires without a session,
    e.g. ``notifications.sendSimple``)."""

    def __init__(self, app_id: int | str, app_key: str, app_secret_key: str, **options: Any) -> None:
        if not app_secret_key:
            raise UsageError("AppSession needs app_secret_key (session-less calls are signed with it)")
        self._setup(options, app_id=app_id, app_key=app_key, app_secret_key=app_secret_key)


class PublicSessionSpec(SessionSpec):
    """Unsigned requests (no token, no signature); ``app_key=`` adds ``application_key``."""

    def __init__(self, *, app_key: str | None = None, **options: Any) -> None:
        self._setup(options, app_key=app_key)


class API:
    """``api.users.getCurrentUser()``, ``api.group.getInfo(uids=[...])``, ``api("users.getInfo", uids="1")``.

    One class for every adapter: it calls ``session.call(method, params)``, which returns the
    result (sync sessions) or an awaitable (async sessions). Parameters whose names are not
    Python identifiers go in a positional dict: ``api.x.y({"fr.name": 1})``.
    """

    # The instance ``__dict__`` caches children: ``api.users`` is looked up there after the first
    # time, so ``api.users.getInfo(...)`` in a loop builds no objects and skips __getattr__
    # (2.5 -> 0.8 µs per call). Capped: names may come from data (``getattr(api, name)``).
    __slots__ = ("__dict__", "_method", "_session")

    def __init__(self, session: Any, _method: str = "") -> None:
        self._session = session
        self._method = _method

    def __getattr__(self, name: str) -> API:
        if name.startswith("_"):
            raise AttributeError(name)
        child = API(self._session, f"{self._method}.{name}" if self._method else name)
        children = self.__dict__
        if len(children) < 256:
            children[name] = child
        return child

    def __call__(self, *args: Any, **params: Any) -> Any:
        method = self._method
        if not method:
            if not args or not isinstance(args[0], str):
                raise UsageError('call a method by name: api("group.method", key=value)')
            method, args = args[0], args[1:]
        if args:
            if len(args) > 1 or not isinstance(args[0], Mapping):
                raise UsageError(f"{method}: pass parameters as keywords or one dict")
            params = {**args[0], **params}
        return self._session.call(check_method_name(method), params)

    def __repr__(self) -> str:
        return f"API({self._method or '<root>'!r})"
