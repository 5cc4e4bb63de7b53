"""``MemoryTokenStore``: the store protocol in one process's memory (threads share it; processes
do not). Useful in tests, and for several sessions of one process acting for one user."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from okru_proto import Token
from okru_proto._store import StoredToken

__all__ = ["MemoryTokenStore"]


class MemoryTokenStore:
    """A dict of ``key -> (token, generation)`` and leases, behind a lock. ``clock`` (default
    ``time.monotonic``) times the leases; tests pass a fake one."""

    def __init__(self, *, lease_ttl: float = 30.0, lease_wait: float = 35.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.lease_ttl = lease_ttl
        self.lease_wait = lease_wait
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, StoredToken] = {}
        self._leases: dict[str, tuple[str, float]] = {}

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

    def __repr__(self) -> str:
        return f"MemoryTokenStore(keys={len(self._tokens)})"
