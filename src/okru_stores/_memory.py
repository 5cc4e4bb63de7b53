"""``MemoryStore``: every store protocol in one process's memory (threads share it; processes do
not). Useful in tests, for several sessions of one process acting for one user, and as the
default of code that takes an optional store (a bot's conversation state, a payment app's
outcomes) when it runs as one process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from okru_proto import Token
from okru_proto._store import Claim, StoredToken

from ._common import check_holder, check_key, check_text, check_ttl

__all__ = ["MemoryStore", "MemoryTokenStore", "OnceRecords"]

_CLAIMED = Claim("claimed")
_BUSY = Claim("busy")


class OnceRecords:
    """Claims and outcomes in one process's memory: the once rules themselves (docs/workers.md),
    written once. No lock and no argument checks: the caller holds its lock and has checked
    what it passes. :class:`MemoryStore` keeps its once records in one; so does payments_app's
    default store, which makes every key and time itself and sits on every payment's hot path.
    Bounded: whenever the records have doubled since the last sweep, the expired ones go
    (amortized O(1) per record; what is never read again cannot pile up)."""

    __slots__ = ("claims", "outcomes", "swept_at")

    def __init__(self) -> None:
        self.claims: dict[str, tuple[str, float]] = {}
        self.outcomes: dict[str, tuple[str, float]] = {}
        self.swept_at = 64

    def claim(self, key: str, holder: str, ttl: float, now: float) -> Claim:
        outcome = self.outcomes.get(key)
        if outcome is not None:
            if outcome[1] > now:
                return Claim("done", outcome[0])
            del self.outcomes[key]
        current = self.claims.get(key)
        if current is not None and current[0] != holder and current[1] > now:
            return _BUSY
        self.claims[key] = (holder, now + ttl)
        self.sweep(now)
        return _CLAIMED

    def finish(self, key: str, outcome: str, keep: float, now: float) -> bool:
        recorded = self.outcomes.get(key)
        if recorded is not None and recorded[1] > now:
            return False
        self.outcomes[key] = (outcome, now + keep)
        self.claims.pop(key, None)
        self.sweep(now)
        return True

    def release(self, key: str, holder: str) -> None:
        current = self.claims.get(key)
        if current is not None and current[0] == holder:
            del self.claims[key]

    def sweep(self, now: float) -> None:
        if len(self) < 2 * self.swept_at:
            return
        for table in (self.outcomes, self.claims):
            for key in [k for k, (_, until) in table.items() if until <= now]:
                del table[key]
        self.swept_at = max(64, len(self))

    def __len__(self) -> int:
        return len(self.outcomes) + len(self.claims)


class MemoryStore:
    """Tokens (with their leases), once records and values, each kind in its own dict, behind
    one lock. ``clock`` (default ``time.monotonic``) times every expiry; tests pass a fake one.
    ``lease_ttl``/``lease_wait``: see :class:`~okru_proto.TokenStore`."""

    def __init__(self, *, lease_ttl: float = 30.0, lease_wait: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.lease_ttl = lease_ttl
        self.lease_wait = lease_wait
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, StoredToken] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self._once = OnceRecords()
        self._values: dict[str, tuple[str, float | None]] = {}
        self._swept_at = 64

    # -- TokenStore ----------------------------------------------------------------------------
    def load(self, key: str) -> StoredToken | None:
        with self._lock:
            return self._tokens.get(key)

    def compare_and_set(self, key: str, token: Token, expected_generation: int) -> bool:
        with self._lock:
            current = self._tokens.get(key)
            if (0 if current is None else current[1]) != expected_generation:
                return False
            self._tokens[key] = (token, expected_generation + 1)
            return True

    def acquire_lease(self, key: str, holder: str, ttl: float) -> bool:
        with self._lock:
            now = self._clock()
            lease = self._leases.get(key)
            if lease is not None and lease[0] != holder and lease[1] > now:
                return False
            self._leases[key] = (holder, now + ttl)
            return True

    def release_lease(self, key: str, holder: str) -> None:
        with self._lock:
            lease = self._leases.get(key)
            if lease is not None and lease[0] == holder:
                del self._leases[key]

    async def aload(self, key: str) -> StoredToken | None:
        return self.load(key)

    async def acompare_and_set(self, key: str, token: Token, expected_generation: int) -> bool:
        return self.compare_and_set(key, token, expected_generation)

    async def aacquire_lease(self, key: str, holder: str, ttl: float) -> bool:
        return self.acquire_lease(key, holder, ttl)

    async def arelease_lease(self, key: str, holder: str) -> None:
        self.release_lease(key, holder)

    # -- OnceStore -----------------------------------------------------------------------------
    def claim(self, key: str, holder: str, ttl: float) -> Claim:
        check_key(key)
        check_holder(holder)
        seconds = check_ttl("ttl", ttl)
        assert seconds is not None
        with self._lock:
            return self._once.claim(key, holder, seconds, self._clock())

    def finish(self, key: str, holder: str, outcome: str, keep: float) -> bool:
        check_key(key)
        check_holder(holder)
        check_text("outcome", outcome)
        seconds = check_ttl("keep", keep)
        assert seconds is not None
        with self._lock:
            return self._once.finish(key, outcome, seconds, self._clock())

    def release(self, key: str, holder: str) -> None:
        check_key(key)
        check_holder(holder)
        with self._lock:
            self._once.release(key, holder)

    async def aclaim(self, key: str, holder: str, ttl: float) -> Claim:
        return self.claim(key, holder, ttl)

    async def afinish(self, key: str, holder: str, outcome: str, keep: float) -> bool:
        return self.finish(key, holder, outcome, keep)

    async def arelease(self, key: str, holder: str) -> None:
        self.release(key, holder)

    # -- ValueStore ----------------------------------------------------------------------------
    def get_value(self, key: str) -> str | None:
        check_key(key)
        with self._lock:
            entry = self._values.get(key)
            if entry is None:
                return None
            if entry[1] is not None and entry[1] <= self._clock():
                del self._values[key]
                return None
            return entry[0]

    def set_value(self, key: str, value: str, ttl: float | None = None) -> None:
        check_key(key)
        check_text("value", value)
        seconds = check_ttl("ttl", ttl, optional=True)
        with self._lock:
            self._values[key] = (value, None if seconds is None else self._clock() + seconds)
            self._sweep_values()

    def delete_value(self, key: str) -> None:
        check_key(key)
        with self._lock:
            self._values.pop(key, None)

    async def aget_value(self, key: str) -> str | None:
        return self.get_value(key)

    async def aset_value(self, key: str, value: str, ttl: float | None = None) -> None:
        self.set_value(key, value, ttl)

    async def adelete_value(self, key: str) -> None:
        self.delete_value(key)

    def _sweep_values(self) -> None:
        # Expired values are dropped when read; this bounds what is never read again: whenever
        # the values have doubled since the last sweep, drop the expired ones (amortized O(1)).
        # The once records sweep themselves the same way (OnceRecords).
        if len(self._values) < 2 * self._swept_at:
            return
        now = self._clock()
        for key in [k for k, (_, until) in self._values.items() if until is not None and until <= now]:
            del self._values[key]
        self._swept_at = max(64, len(self._values))

    def __repr__(self) -> str:
        return (f"MemoryStore(tokens={len(self._tokens)}, once={len(self._once)}, "
                f"values={len(self._values)})")


#: The name before stores kept more than tokens (okru 0.1); the same class.
MemoryTokenStore = MemoryStore
