"""One token for many processes: the store-aware start and refresh flows (docs/workers.md).

A session given ``store=`` keeps its token in memory exactly as without one (a normal call does
no store I/O); the store is read and written only here, on start (:func:`authorize_with_store`)
and when the token must be refreshed (:func:`shared_refresh`, run by the session's
``refresh_flow`` under the driver's in-process lock, so at most one caller per process gets
here per expiry). Across processes the store's lease elects one refresher:

1. take the lease (``acquire_lease``); if another process holds it, re-read the store until it
   holds a newer token than this process has (adopt it) or the lease is free, waiting at most
   the store's ``lease_wait`` (polling with :class:`Sleep`, doubling up to 0.25 s);
2. holding the lease, re-read: a token newer than ours that is not the one that just failed and
   is not expired is adopted without any request (someone refreshed meanwhile);
3. otherwise refresh with the newest refresh token known (the stored one if newer: a server that
   rotates refresh tokens has already invalidated ours), save it with ``compare_and_set`` against
   the generation read, release the lease, and fire ``on_token`` (only here: the refreshing
   process is the one that reports a new token).

A process only ever adopts a *higher* generation than the one it holds, so no process goes back
to an older token. A lease outlives a killed holder by at most ``lease_ttl`` seconds. Store I/O is
the :class:`StoreCall` effect: the drivers run it, so the same flow serves blocking and async
sessions (docs/embedding.md).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ._errors import Error, UsageError
from ._flow import Callback, Flow, Sleep, StoreCall, retrying
from ._grants import GrantContext
from ._store import StoredToken, StoreError, TokenStore
from ._values import Token, reveal
from ._wire.oauth import refresh_flow

if TYPE_CHECKING:
    from ._flow import RetryPolicy
    from ._grants import Grant


class StoreContext(GrantContext, Protocol):
    """What the shared-store flows need of their session (in practice :class:`SessionCore`,
    which calls them): its credentials, grant, token, clock and policies, read; the token it
    holds, replaced through :meth:`set_token`; and where it stands in the store, read and written.
    A protocol, so this module does not import the session that imports it."""

    store_generation: int

    @property
    def app_id(self) -> str | None: ...
    @property
    def grant(self) -> Grant | None: ...
    @property
    def token(self) -> Token | None: ...
    @property
    def clock(self) -> Callable[[], float]: ...
    @property
    def retry(self) -> RetryPolicy | None: ...
    @property
    def refresh_before(self) -> float | None: ...
    @property
    def on_token(self) -> Any: ...
    @property
    def store(self) -> Any: ...
    @property
    def store_key(self) -> Any: ...
    @property
    def can_refresh(self) -> bool: ...

    def set_token(self, token: Token) -> None: ...

__all__ = ["authorize_with_store", "check_store", "default_store_key", "shared_refresh"]

_FIRST_POLL = 0.01
_MAX_POLL = 0.25
#: compare_and_set only fails while we hold the lease if the lease expired under us and another
#: process saved meanwhile; we retry against the generation it wrote, a few times at most.
_SAVE_ATTEMPTS = 5


def default_store_key(core: StoreContext) -> str:
    """``okru:<app_id>:login:<login>`` for the password and implicit grants, else
    ``okru:<app_id>:token:<16 hex of sha256(refresh token, or access token)>`` of the token or
    refresh grant the session was built with (so workers configured alike share one key). The
    authorization-code grant has no stable identity before it runs: pass ``store_key=``."""
    if core.app_id is None:
        raise UsageError("a token store needs the app's numeric id (app_id) to name its key")
    grant = core.grant
    login = getattr(grant, "login", None)
    if isinstance(login, str) and login:
        return f"okru:{core.app_id}:login:{login}"
    secret = getattr(grant, "refresh_token", None)
    if secret is None and core.token is not None:
        secret = core.token.refresh_token or core.token.access_token
    if secret is None or not reveal(secret):
        raise UsageError("cannot derive a store key for this session (an authorization code is "
                         "single-use): pass store_key=, e.g. f'okru:{app_id}:{uid}'")
    digest = hashlib.sha256(reveal(secret).encode("utf-8")).hexdigest()[:16]
    return f"okru:{core.app_id}:token:{digest}"


def check_store(core: StoreContext, store: object, store_key: str | None) -> str:
    """Validate ``store=``/``store_key=`` at construction; the key to use."""
    if not isinstance(store, TokenStore):
        raise UsageError(f"store must be a TokenStore (e.g. okru_stores.SQLiteTokenStore), "
                         f"got {type(store).__name__}")
    if core.grant is None and core.token is None:
        raise UsageError("a token store shares a user's token; this session has none "
                         "(AppSession/PublicSession need no store)")
    if store_key is None:
        return default_store_key(core)
    if not isinstance(store_key, str) or not store_key:
        raise UsageError("store_key must be a non-empty str")
    return store_key


def _call(store: TokenStore, method: str, *args: Any) -> Flow[Any]:
    try:
        return (yield StoreCall(store, method, args))
    except Error:
        raise
    except Exception as exc:
        # A third-party store's own exception (or a bug in one): typed, never quoted (its text
        # may hold the stored JSON).
        raise StoreError(f"the token store failed in {method}: {type(exc).__name__}") from exc


def _holder() -> str:
    # host and pid say who holds a lease when someone inspects the store; the random part makes
    # every attempt unique (no socket import: the core stays free of I/O modules).
    host = os.uname().nodename if hasattr(os, "uname") else "host"
    return f"{host}:{os.getpid()}:{secrets.token_hex(8)}"


def _adopt(core: StoreContext, token: Token, generation: int) -> Token:
    core.set_token(token)
    core.store_generation = generation
    return token


def _newer(core: StoreContext, loaded: StoredToken | None, failed: Token | None) -> StoredToken | None:
    """The stored token if this process should take it instead of refreshing: a higher
    generation than ours, not the token that just failed, not expired (by its own expires_at,
    minus ``refresh_before`` when set)."""
    if loaded is None:
        return None
    token, generation = loaded
    if generation <= core.store_generation:
        return None
    if failed is not None and reveal(token.access_token) == reveal(failed.access_token):
        return None
    if token.expired(core.clock(), core.refresh_before or 0.0):
        return None
    return loaded


def _release(store: TokenStore, key: str, holder: str) -> Flow[None]:
    try:
        yield from _call(store, "release_lease", key, holder)
    except StoreError:
        pass  # the lease expires on its own after lease_ttl; the token is already saved


def _leased(core: StoreContext, key: str, work: Callable[[str], Flow[Token]],
            adopt_while_waiting: Callable[[], Flow[Token | None]], what: str) -> Flow[Token]:
    """Run ``work(holder)`` holding the key's lease; while another process holds it, poll
    ``adopt_while_waiting`` until it finds a token or the lease is free, at most ``lease_wait``."""
    store: TokenStore = core.store
    deadline = core.clock() + store.lease_wait
    delay = _FIRST_POLL
    holder = _holder()
    while True:
        if (yield from _call(store, "acquire_lease", key, holder, store.lease_ttl)):
            try:
                token = yield from work(holder)
            except GeneratorExit:
                raise  # the caller went away (cancelled): the lease expires after lease_ttl
            except BaseException:
                yield from _release(store, key, holder)
                raise
            yield from _release(store, key, holder)
            return token
        adopted = yield from adopt_while_waiting()
        if adopted is not None:
            return adopted
        if core.clock() >= deadline:
            raise StoreError(f"waited {store.lease_wait:g} s for another process to {what} "
                             f"(its lease on {key!r} is still held); raise the store's lease_wait, "
                             f"or check that process")
        yield Sleep(delay)
        delay = min(delay * 2, _MAX_POLL)


def _save(core: StoreContext, key: str, token: Token, expected: int) -> Flow[int]:
    """Save ``token`` over generation ``expected``; the generation it got."""
    store: TokenStore = core.store
    for _ in range(_SAVE_ATTEMPTS):
        if (yield from _call(store, "compare_and_set", key, token, expected)):
            return expected + 1
        loaded = yield from _call(store, "load", key)
        expected = 0 if loaded is None else loaded[1]
    raise StoreError(f"could not save the new token under {key!r}: other processes kept "
                     f"writing it while this one held an expired lease (raise lease_ttl)")


def _refresh_with_retry(core: StoreContext, base: Token) -> Flow[Token]:
    # The same retry rule as SessionCore's own refresh: a flood or a 502 on token.do must not
    # fail every worker waiting for the new token.
    return (yield from retrying(core.retry, lambda: refresh_flow(
        core.require_app_id(), core.require_app_secret("refresh"), base, core.endpoints, core.clock())))


def authorize_with_store(core: StoreContext) -> Flow[Token | None]:
    """Start: adopt the stored token if there is one; else get one (the grant, run by one
    process under the lease, or the token the session was built with) and save it."""
    store: TokenStore = core.store
    key: str = core.store_key
    loaded = yield from _call(store, "load", key)
    if loaded is not None:
        return _adopt(core, *loaded)
    if core.grant is None:
        token = core.token
        assert token is not None  # check_store refused a session with neither
        generation = yield from _save(core, key, token, 0)
        loaded = yield from _call(store, "load", key)
        if loaded is not None and loaded[1] > generation:
            return _adopt(core, *loaded)
        core.store_generation = generation
        return token

    def adopt_while_waiting() -> Flow[Token | None]:
        loaded = yield from _call(store, "load", key)
        return None if loaded is None else _adopt(core, *loaded)

    def work(holder: str) -> Flow[Token]:
        loaded = yield from _call(store, "load", key)
        if loaded is not None:
            return _adopt(core, *loaded)
        assert core.grant is not None
        token = yield from core.grant.flow(core, core.clock())
        generation = yield from _save(core, key, token, 0)
        _adopt(core, token, generation)
        if core.on_token is not None:
            yield Callback(core.on_token, token)
        return token

    return (yield from _leased(core, key, work, adopt_while_waiting, "authorize"))


def shared_refresh(core: StoreContext) -> Flow[Token]:
    """Refresh: adopt what another process saved, or be the one process that refreshes."""
    if core.token is None or not core.can_refresh:
        raise UsageError("this session cannot refresh: it needs a refresh token, app_id and app_secret_key")
    store: TokenStore = core.store
    key: str = core.store_key
    failed = core.token

    def adopt_while_waiting() -> Flow[Token | None]:
        newer = _newer(core, (yield from _call(store, "load", key)), failed)
        return None if newer is None else _adopt(core, *newer)

    def work(holder: str) -> Flow[Token]:
        loaded: StoredToken | None = yield from _call(store, "load", key)
        newer = _newer(core, loaded, failed)
        if newer is not None:
            return _adopt(core, *newer)
        base, expected = failed, 0
        if loaded is not None:
            expected = loaded[1]
            if loaded[1] >= core.store_generation and loaded[0].refresh_token:
                base = loaded[0]  # the newest refresh token: a rotating server voided the older ones
        token = yield from _refresh_with_retry(core, base)
        generation = yield from _save(core, key, token, expected)
        _adopt(core, token, generation)
        if core.on_token is not None:
            yield Callback(core.on_token, token)
        return token

    return (yield from _leased(core, key, work, adopt_while_waiting, "refresh the token"))
