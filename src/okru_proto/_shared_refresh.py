"""One token for many processes: the store-aware start and refresh flows (docs/workers.md).

A session given ``store=`` keeps its token in memory exactly as without one (a normal call does
no store I/O); the store is read and written only here, on start (:func:`authorize_with_store`)
and on refresh (:func:`shared_refresh`, run under the driver's in-process lock: one caller per
process per expiry). Records are keyed by app and ``store_key`` (:func:`record_key`): two apps
given one ``store_key`` never share a token. Across processes the store's lease elects one
refresher:

1. take the lease; if another process holds it, re-read the store until it holds a token newer
   than ours (adopt it) or the lease is free, at most the store's ``lease_wait`` (polling with
   :class:`Sleep`, doubling up to 0.25 s);
2. holding it, re-read: a newer token, not the one that just failed, not expired, is adopted;
3. else refresh with the newest refresh token known (the stored one unless older than ours: a
   server that rotates refresh tokens voided ours), ``compare_and_set`` over the generation
   read, release the lease, fire ``on_token`` (only the refresher reports a new token).

*Newer* (:func:`is_newer`) is a different token issued later (``expires_at - expires_in``, on
the sessions' wall clock), or one whose issue time is known when ours is not (a bare access
token); only between tokens alike in that does the higher generation win. So a store that lost
its data (``FLUSHALL``: generations restart at 1) or came back from an older snapshot never
makes every process refresh, nor one go back to an older token.

The lease outlives the request it guards: taken for the session's ``timeout=``
(:attr:`SessionCore.request_timeout`) plus the store's ``lease_ttl``, renewed (and the store
re-read) before every further request. A holder back late anyway (no deadline, a stalled VM)
never writes over a newer token: its compare-and-set fails and it adopts the stored one. Store
I/O is the :class:`StoreCall` effect, so one flow serves blocking and async sessions.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ._errors import Error, UsageError
from ._flow import Callback, Effect, Flow, Sleep, StoreCall, retrying
from ._grants import GrantContext
from ._store import StoredToken, StoreError, TokenStore
from ._values import Request, Token, reveal
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
    request_timeout: float | None

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

__all__ = ["authorize_with_store", "check_store", "default_store_key", "is_newer", "record_key",
           "shared_refresh"]

_FIRST_POLL = 0.01
_MAX_POLL = 0.25
#: compare_and_set only fails while we hold the lease if the lease expired under us and another
#: process saved meanwhile (we adopt its token), or the store lost or rolled back its data (we
#: write over what it holds, if older): a few times at most.
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
    if core.app_id is None:
        raise UsageError("a token store keeps each application's tokens apart, by its numeric id: "
                         "pass app_id")
    if store_key is None:
        return default_store_key(core)
    if not isinstance(store_key, str) or not store_key:
        raise UsageError("store_key must be a non-empty str")
    return store_key


def record_key(core: StoreContext) -> str:
    """The key the store keeps this session's token under: ``<app_id>:<store_key>``. The app id
    is digits only, so the first ``:`` ends it: two apps never share a record, whatever the
    ``store_key``."""
    return f"{core.app_id}:{core.store_key}"


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


def _issued(token: Token) -> float | None:
    """When ``token`` was issued (by the clock of the session that got it), if known."""
    if token.expires_at is None:
        return None
    return token.expires_at - (token.expires_in or 0)


def _same(one: Token, other: Token | None) -> bool:
    return other is not None and reveal(one.access_token) == reveal(other.access_token)


def is_newer(stored: StoredToken, held: Token | None, held_generation: int) -> bool:
    """True if the stored token is newer than ``held`` (saved as ``held_generation``): a
    different token, issued later; or known to be issued when ``held`` is not (a bare access
    token, e.g. a worker's configured one); or, alike in that, of a higher generation. The
    generation alone is not enough: a store that lost its data counts from 1 again."""
    token, generation = stored
    if held is None:
        return True
    if _same(token, held):
        return False
    theirs, mine = _issued(token), _issued(held)
    if theirs is not None and mine is not None and theirs != mine:
        return theirs > mine
    if (theirs is None) != (mine is None):
        return mine is None
    return generation > held_generation


def _newer(core: StoreContext, loaded: StoredToken | None, failed: Token | None) -> StoredToken | None:
    """The stored token if this process should take it instead of refreshing: newer than ours
    (:func:`is_newer`), not the token that just failed, not expired (by its own expires_at,
    minus ``refresh_before`` when set)."""
    if loaded is None or not is_newer(loaded, core.token, core.store_generation):
        return None
    if failed is not None and _same(loaded[0], failed):
        return None
    if loaded[0].expired(core.clock(), core.refresh_before or 0.0):
        return None
    return loaded


def _release(store: TokenStore, key: str, holder: str) -> Flow[None]:
    try:
        yield from _call(store, "release_lease", key, holder)
    except StoreError:
        pass  # the lease expires on its own after lease_ttl; the token is already saved


class _LeaseLost(Exception):
    """The lease was taken by another process before this one's next request (it had expired)."""


def _lease_ttl(core: StoreContext) -> float:
    """How long a lease is taken for: the longest the next request may take, plus ``lease_ttl``
    (the store I/O around it, a clock a little off)."""
    store: TokenStore = core.store
    request = core.request_timeout
    return store.lease_ttl + (request if request is not None else 0.0)


def _renewing(work: Flow[Token], store: TokenStore, key: str, holder: str, ttl: float,
              adopt: Callable[[], Flow[Token | None]]) -> Flow[Token]:
    """``work``'s effects, passed through; before each of its requests but the first (the lease
    was just taken), the lease is renewed for ``ttl`` and the store re-read: if another process
    holds the lease, :class:`_LeaseLost` ends the work; if one saved a token meanwhile (it took
    the lease while this one's had expired, and let it go), ``adopt`` takes it and the work
    ends. Either way, before the request is sent."""
    first = True
    try:
        effect: Effect = next(work)
        while True:
            if type(effect) is Request:
                if not first:
                    if not (yield from _call(store, "acquire_lease", key, holder, ttl)):
                        raise _LeaseLost
                    adopted = yield from adopt()
                    if adopted is not None:
                        return adopted
                first = False
            try:
                reply = yield effect
            except GeneratorExit:
                raise
            except BaseException as exc:
                effect = work.throw(exc)
                continue
            effect = work.send(reply)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    finally:
        work.close()  # a no-op once it has finished; else the work ends here, unsent


def _leased(core: StoreContext, key: str, work: Callable[[str], Flow[Token]],
            adopt_while_waiting: Callable[[], Flow[Token | None]], what: str) -> Flow[Token]:
    """Run ``work(holder)`` holding the key's lease (renewed before each request); while another
    process holds it, poll ``adopt_while_waiting`` until it finds a token or the lease is free,
    at most ``lease_wait`` (default: as long as that lease can last, plus ``lease_ttl``)."""
    store: TokenStore = core.store
    ttl = _lease_ttl(core)
    wait = store.lease_wait if store.lease_wait is not None else ttl + store.lease_ttl
    deadline = core.clock() + wait
    delay = _FIRST_POLL
    holder = _holder()
    while True:
        if (yield from _call(store, "acquire_lease", key, holder, ttl)):
            try:
                token = yield from _renewing(work(holder), store, key, holder, ttl, adopt_while_waiting)
            except GeneratorExit:
                raise  # the caller went away (cancelled): the lease expires after its TTL
            except _LeaseLost:
                token = None  # another process took over: wait for its token, as any waiter
                deadline = core.clock() + wait
            except BaseException:
                yield from _release(store, key, holder)
                raise
            else:
                yield from _release(store, key, holder)
            if token is not None:
                return token
        adopted = yield from adopt_while_waiting()
        if adopted is not None:
            return adopted
        if core.clock() >= deadline:
            raise StoreError(f"waited {wait:g} s for another process to {what} "
                             f"(its lease on {key!r} is still held); raise the store's lease_wait, "
                             f"or check that process")
        yield Sleep(delay)
        delay = min(delay * 2, _MAX_POLL)


def _save(core: StoreContext, key: str, token: Token, expected: int,
          base: Token | None, base_generation: int) -> Flow[StoredToken | None]:
    """Save ``token`` (refreshed from ``base``, read as ``base_generation``) over generation
    ``expected``: None when saved (``core.store_generation`` is then its generation), or the
    stored token to adopt instead, when another process saved one newer than ``base`` meanwhile
    (this process's lease had expired): a late holder never writes over a newer token."""
    store: TokenStore = core.store
    for _ in range(_SAVE_ATTEMPTS):
        if (yield from _call(store, "compare_and_set", key, token, expected)):
            core.store_generation = expected + 1
            return None
        loaded: StoredToken | None = yield from _call(store, "load", key)
        if loaded is not None and is_newer(loaded, base, base_generation):
            return loaded
        expected = 0 if loaded is None else loaded[1]
    raise StoreError(f"could not save the new token under {key!r}: other processes kept "
                     f"writing it while this one held an expired lease (raise lease_ttl)")


def _refresh_with_retry(core: StoreContext, base: Token) -> Flow[Token]:
    # The same retry rule as SessionCore's own refresh: a flood or a 502 on token.do must not
    # fail every worker waiting for the new token.
    return (yield from retrying(core.retry, lambda: refresh_flow(
        core.require_app_id(), core.require_app_secret("refresh"), base, core.endpoints, core.clock())))


def _adopt_or_report(core: StoreContext, key: str, token: Token, expected: int,
                     base: Token | None, base_generation: int) -> Flow[Token]:
    """Save the token this process got and report it (``on_token``), or adopt the newer one
    another process saved meanwhile (which that process reported)."""
    other = yield from _save(core, key, token, expected, base, base_generation)
    if other is not None:
        return _adopt(core, *other)
    core.set_token(token)
    if core.on_token is not None:
        yield Callback(core.on_token, token)
    return token


def authorize_with_store(core: StoreContext) -> Flow[Token | None]:
    """Start: adopt the stored token if there is one; else get one (the grant, run by one
    process under the lease, or the token the session was built with) and save it."""
    store: TokenStore = core.store
    key = record_key(core)
    loaded = yield from _call(store, "load", key)
    if loaded is not None:
        return _adopt(core, *loaded)
    if core.grant is None:
        token = core.token
        assert token is not None  # check_store refused a session with neither
        if (yield from _call(store, "compare_and_set", key, token, 0)):
            core.store_generation = 1
            return token
        loaded = yield from _call(store, "load", key)  # another process saved first: take its token
        if loaded is None:
            raise StoreError(f"the store lost the token saved under {key!r} at once: is it evicting keys?")
        return _adopt(core, *loaded)

    def adopt_while_waiting() -> Flow[Token | None]:
        loaded = yield from _call(store, "load", key)
        return None if loaded is None else _adopt(core, *loaded)

    def work(holder: str) -> Flow[Token]:
        loaded = yield from _call(store, "load", key)
        if loaded is not None:
            return _adopt(core, *loaded)
        assert core.grant is not None
        token = yield from core.grant.flow(core, core.clock())
        return (yield from _adopt_or_report(core, key, token, 0, None, 0))

    return (yield from _leased(core, key, work, adopt_while_waiting, "authorize"))


def shared_refresh(core: StoreContext) -> Flow[Token]:
    """Refresh: adopt what another process saved, or be the one process that refreshes."""
    if core.token is None or not core.can_refresh:
        raise UsageError("this session cannot refresh: it needs a refresh token, app_id and app_secret_key")
    store: TokenStore = core.store
    key = record_key(core)
    failed = core.token

    def adopt_while_waiting() -> Flow[Token | None]:
        newer = _newer(core, (yield from _call(store, "load", key)), failed)
        return None if newer is None else _adopt(core, *newer)

    def work(holder: str) -> Flow[Token]:
        loaded: StoredToken | None = yield from _call(store, "load", key)
        newer = _newer(core, loaded, failed)
        if newer is not None:
            return _adopt(core, *newer)
        base, base_generation, expected = failed, core.store_generation, 0
        if loaded is not None:
            expected = loaded[1]
            if loaded[0].refresh_token and (_same(loaded[0], failed)
                                            or is_newer(loaded, failed, core.store_generation)):
                # the newest refresh token: a rotating server voided the older ones
                base, base_generation = loaded
        token = yield from _refresh_with_retry(core, base)
        return (yield from _adopt_or_report(core, key, token, expected, base, base_generation))

    return (yield from _leased(core, key, work, adopt_while_waiting, "refresh the token"))
