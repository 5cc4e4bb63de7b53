"""The store ``payments_app`` keeps its claims and outcomes in when given none: this process's
memory, nothing shared (docs/apps.md says when that is not enough).

It is ``okru_stores.MemoryStore``'s once records without the argument checks a store open to
any caller needs (the app alone calls it, with keys and times it made): the default is on the
hot path of every payment. Bounded as that one is: expired records go as new ones come.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from okru_stores import Claim

__all__ = ["ProcessOnceStore"]

_CLAIMED = Claim("claimed")
_BUSY = Claim("busy")


class ProcessOnceStore:
    """An ``OnceStore`` in this process's memory (threads share it; processes do not)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()  # a plain function's handler records from its thread
        self._claims: dict[str, tuple[str, float]] = {}
        self._outcomes: dict[str, tuple[str, float]] = {}
        self._swept_at = 64

    def claim(self, key: str, holder: str, ttl: float) -> Claim:
        with self._lock:
            now = self._clock()
            outcome = self._outcomes.get(key)
            if outcome is not None:
                if outcome[1] > now:
                    return Claim("done", outcome[0])
                del self._outcomes[key]
            current = self._claims.get(key)
            if current is not None and current[0] != holder and current[1] > now:
                return _BUSY
            self._claims[key] = (holder, now + ttl)
            self._sweep(now)
            return _CLAIMED

    def finish(self, key: str, holder: str, outcome: str, keep: float) -> bool:
        with self._lock:
            now = self._clock()
            recorded = self._outcomes.get(key)
            if recorded is not None and recorded[1] > now:
                return False
            self._outcomes[key] = (outcome, now + keep)
            self._claims.pop(key, None)
            self._sweep(now)
            return True

    def release(self, key: str, holder: str) -> None:
        with self._lock:
            current = self._claims.get(key)
            if current is not None and current[0] == holder:
                del self._claims[key]

    async def aclaim(self, key: str, holder: str, ttl: float) -> Claim:
        return self.claim(key, holder, ttl)

    async def afinish(self, key: str, holder: str, outcome: str, keep: float) -> bool:
        return self.finish(key, holder, outcome, keep)

    async def arelease(self, key: str, holder: str) -> None:
        self.release(key, holder)

    def _sweep(self, now: float) -> None:
        # Whenever the records have doubled since the last sweep, drop the expired ones
        # (amortized O(1) per record; what is never read again cannot pile up).
        if len(self._outcomes) + len(self._claims) < 2 * self._swept_at:
            return
        for table in (self._outcomes, self._claims):
            for key in [k for k, (_, until) in table.items() if until <= now]:
                del table[key]
        self._swept_at = max(64, len(self._outcomes) + len(self._claims))

    def __len__(self) -> int:
        """Records held now (claims and outcomes, expired ones not yet swept included)."""
        return len(self._outcomes) + len(self._claims)
