"""The store ``payments_app`` keeps its claims and outcomes in when given none: this process's
memory, nothing shared (docs/apps.md says when that is not enough).

It is ``okru_stores.MemoryStore``'s once records (the same :class:`OnceRecords`) without the
argument checks a store open to any caller needs (the app alone calls it, with keys and times it
made): the default is on the hot path of every payment. Bounded as that one is: expired records
go as new ones come.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from okru_stores import Claim
from okru_stores._memory import OnceRecords

__all__ = ["ProcessOnceStore"]

class ProcessOnceStore:
    """An ``OnceStore`` in this process's memory (threads share it; processes do not)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()  # a plain function's handler records from its thread
        self._records = OnceRecords()

    def claim(self, key: str, holder: str, ttl: float) -> Claim:
        with self._lock:
            return self._records.claim(key, holder, ttl, self._clock())

    def finish(self, key: str, holder: str, outcome: str, keep: float) -> bool:
        with self._lock:
            return self._records.finish(key, outcome, keep, self._clock())

    def release(self, key: str, holder: str) -> None:
        with self._lock:
            self._records.release(key, holder)

    async def aclaim(self, key: str, holder: str, ttl: float) -> Claim:
        return self.claim(key, holder, ttl)

    async def afinish(self, key: str, holder: str, outcome: str, keep: float) -> bool:
        return self.finish(key, holder, outcome, keep)

    async def arelease(self, key: str, holder: str) -> None:
        self.release(key, holder)

    def __len__(self) -> int:
        """Records held now (claims and outcomes, expired ones not yet swept included)."""
        return len(self._records)
