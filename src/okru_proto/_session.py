"""The session core: everything that affects one session's credentials and token lives here.

:class:`SessionCore` holds the app credentials, the token and the options; it chooses the
circuit and derives the signing secret from them (``_wire/sign.py``, docs/protocol.md §2.2),
installs new tokens (``on_token`` as a :class:`~okru_proto.adapter.Callback` effect), and builds the flows
an adapter drives: authorize (the grant, see ``_grants``), refresh, and the signed call with
transparent refresh on 102 (one refresh for all concurrent callers, via the
:class:`RefreshNeeded` effect) inside the one retry loop (``_flow.retrying``). It logs one DEBUG line
per call on the ``okru`` logger, never a secret.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ._defaults import DEFAULT_TIMEOUT
from ._errors import Error, UsageError, api_error_from_payload
from ._flow import Callback, Flow, RefreshNeeded, RetryPolicy, guarded, retrying
from ._grants import Grant
from ._scrub import _scrub_value, scrub_error, secret_forms
from ._shared_refresh import authorize_with_store, check_store, shared_refresh  # okru issue 16
from ._store import TokenStore  # okru issue 16
from ._values import Endpoints, Secret, Token, reveal
from ._wire.oauth import _client_id, refresh_flow
from ._wire.rest import parse_call_response, prepare_call
from ._wire.sign import Circuit, circuit_for, signing_secret

__all__ = [
    "CORE_OPTIONS",
    "OnToken",
    "SessionCore",
]


#: The ``okru`` logger: one DEBUG line per call (method, status, duration, circuit), never a
#: secret. Every adapter gets it from here.
log = logging.getLogger("okru")



#: ``on_token=``: a plain callable, or an async one (a coroutine function, or any callable that
#: returns an awaitable) on the async adapters, which await it; the blocking adapter refuses an
#: async one (docs/tokens.md).
OnToken = Callable[[Token], object] | Callable[[Token], Awaitable[object]]


#: Keyword options every session takes, whatever the adapter (the rest go to the transport).
CORE_OPTIONS = frozenset({"endpoints", "pass_error", "retry", "on_token", "auto_refresh",
                          "refresh_before", "http_method",
                          "store", "store_key"})  # okru issue 16: shared token store


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
        on_token: OnToken | None = None,
        auto_refresh: bool | None = None,
        refresh_before: float | None = None,
        http_method: str = "POST",
        store: TokenStore | None = None,  # okru issue 16: shared token store (_shared_refresh)
        store_key: str | None = None,
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
        if on_token is not None and not callable(on_token):
            raise UsageError(f"on_token must be callable, got {type(on_token).__name__}")
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
        # okru issue 16: the shared store is read/written only by _shared_refresh (start, refresh).
        self.store: Any = store
        self.store_generation = 0
        self.store_key: Any = None if store is None else check_store(self, store, store_key)
        # The longest one request may take (the adapter's timeout=, set by SessionSpec): a
        # store's lease outlives the token.do it guards (_shared_refresh). None: unbounded.
        self.request_timeout: float | None = DEFAULT_TIMEOUT

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
    def circuit(self) -> Circuit:
        """``client`` (session secret), ``server`` (md5(token + app secret)), ``app``
        (session-less, app secret), ``public`` (unsigned) or ``unauthorized``: :func:`circuit_for`."""
        token = self.token
        if token is None:
            return circuit_for(app_secret_key=self.app_secret_key, authorizing=self.grant is not None)
        return circuit_for(access_token=token.access_token, session_secret_key=token.session_secret_key,
                           app_secret_key=self.app_secret_key)

    def _install(self, token: Token | None) -> None:
        self.token = token
        app_secret = reveal(self.app_secret_key)
        self._access = None if token is None else token.access_token.reveal()
        secret = signing_secret(self.circuit, access_token=self._access,
                                session_secret_key=None if token is None else token.session_secret_key,
                                app_secret_key=app_secret)
        self._secret = None if secret is None else secret.reveal()
        self._secrets = tuple(s for s in (
            self._access, self._secret, app_secret,
            reveal(token.refresh_token) if token is not None else None,
            reveal(token.session_secret_key) if token is not None else None,
        ) if s)

    def secret_values(self) -> tuple[str, ...]:
        """Every credential the session holds now (token, secrets, the grant's password or code):
        what is masked in its errors and log lines."""
        grant = tuple(reveal(s) for s in self.grant.secrets()) if self.grant is not None else ()
        return (*self._secrets, reveal(self.app_secret_key), *grant)

    def set_token(self, token: Token) -> None:
        """Adopt a new token (signing secret recomputed, ``generation`` bumped). ``on_token`` is
        not called here: the flows yield it as a :class:`~okru_proto.adapter.Callback` effect, which the
        async driver awaits when it is async."""
        self._install(token)
        self.generation += 1

    def _adopt(self, token: Token) -> Flow[None]:
        self.set_token(token)
        if self.on_token is not None:
            # An effect, not a call: the async driver awaits an async on_token, the blocking one
            # refuses it (a coroutine nobody awaits would silently never save the token).
            yield Callback(self.on_token, token)

    @property
    def can_refresh(self) -> bool:
        token = self.token
        possible = (token is not None and token.refresh_token is not None and bool(token.refresh_token)
                    and self.app_secret_key is not None and self.app_id is not None)
        return possible if self.auto_refresh is None else (self.auto_refresh and possible)

    # -- flows ---------------------------------------------------------------------------
    def authorize_flow(self) -> Flow[Token]:
        """Run the session's grant and adopt its token (the adapters' ``__aenter__``)."""
        return guarded(self._authorize_flow(), self.secret_values)

    def _authorize_flow(self) -> Flow[Token]:
        if self.store is not None:  # okru issue 16
            return (yield from authorize_with_store(self))  # type: ignore[return-value]
        if self.grant is None:
            # Nothing to authorize: a ready token, or a session-less/public session.
            return self.token  # type: ignore[return-value]
        token = yield from self.grant.flow(self, self.clock())
        yield from self._adopt(token)
        return token

    def refresh_flow(self) -> Flow[Token]:
        """Refresh the token with the refresh grant, keep the refresh token, adopt the result."""
        return guarded(self._refresh_flow(), self.secret_values)

    def _refresh_flow(self) -> Flow[Token]:
        if self.store is not None:  # okru issue 16
            return (yield from shared_refresh(self))
        if self.token is None or not self.can_refresh:
            raise UsageError("this session cannot refresh: it needs a refresh token, app_id and app_secret_key")
        # The retry policy covers token.do too: a flood or a 502 while refreshing must not fail
        # every caller waiting on the refresh.
        token = yield from retrying(self.retry, self._refresh_attempt)
        yield from self._adopt(token)
        return token

    def _refresh_attempt(self) -> Flow[Token]:
        token = self.token
        assert token is not None  # checked by _refresh_flow; a refresh never clears the token
        return refresh_flow(self.require_app_id(), self.require_app_secret("refresh"), token,
                            self.endpoints, self.clock())

    def call_flow(self, method: str, params: Mapping[str, object] | None = None,
                  pass_error: bool | None = None) -> Flow[Any]:
        """One signed REST call, with transparent refresh on 102 (once) and the retry policy."""
        if self.grant is not None and self.token is None:
            raise UsageError("the session is not authorized yet: use `async with`/`with` on it, "
                             "or call its authorize() first")
        if pass_error is None:
            pass_error = self.pass_error
        # Refreshes this call may ask for: one, as OK's 102 rule wants (docs/protocol.md §5). With
        # a shared store, two: the first may only adopt the fleet's newest token, which has
        # expired too when this worker sat idle past its lifetime; the second then refreshes it
        # (still one token.do per expiry across the fleet, docs/workers.md).
        refreshes_left = 1 if self.store is None else 2
        refreshed_at = -1  # the generation whose token the last refresh replaced
        if self.refresh_before is not None and self.can_refresh:
            token = self.token
            if token is not None and token.expired(self.clock(), self.refresh_before):
                refreshes_left -= 1
                refreshed_at = self.generation
                yield RefreshNeeded(self, self.generation)
        # The error payload behind the last failed attempt: returned as-is with pass_error once
        # the retry policy gives up on it.
        passed: tuple[Error, Any] | None = None

        def attempt() -> Flow[Any]:
            nonlocal refreshes_left, refreshed_at, passed
            passed = None
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
                    # Server-supplied text (a page title, a header, a body excerpt) may echo the
                    # request: masked before it is logged or raised (docs/errors.md).
                    scrub_error(exc, self.secret_values())
                    if debug:
                        log.debug("%s failed: %s: %s", method, type(exc).__name__, exc)
                    raise
                if type(result) is not dict or "error_code" not in result:
                    return result
                result = _scrub_value(result, secret_forms(self.secret_values()))
                error = api_error_from_payload(result, method)
                if (error.needs_refresh and refreshes_left and generation != refreshed_at
                        and self.can_refresh):
                    # 102: a refresh (shared by concurrent callers), then the same call again;
                    # not counted as a retry (docs/protocol.md §5). Never twice for one token.
                    refreshes_left -= 1
                    refreshed_at = generation
                    yield RefreshNeeded(self, generation)
                    continue
                passed = (error, result)
                raise error

        try:
            # Without a policy there is nothing to retry: skip the loop's generator (a call's
            # hot path; benchmarks/run.py --only core).
            return (yield from (attempt() if self.retry is None else retrying(self.retry, attempt)))
        except Error as exc:
            if pass_error and passed is not None and passed[0] is exc:
                return passed[1]
            raise

    def __repr__(self) -> str:
        return (f"SessionCore(app_id={self.app_id!r}, circuit={self.circuit!r}, "
                f"api={self.endpoints.api!r}, generation={self.generation})")
