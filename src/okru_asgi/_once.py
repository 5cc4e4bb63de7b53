"""Exactly-once work, as ``payments_app`` needs it: the ``OnceStore`` protocol okru's stores
implement (claim a key, do the work, record its outcome), and the per-process store used when the
app is given none.

The protocol is the one agreed for ``okru_stores`` (``MemoryStore``, ``SQLiteStore``,
``RedisStore``): any object with these six methods serves, so a fleet passes one of those (or its
own) and every process and machine sees the same claims and outcomes.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

__all__ = ["Claim", "ClaimLike", "MemoryOnceStore", "OnceStore"]


@dataclass(frozen=True, slots=True)
class Claim:
    """What a claim found: ``"claimed"`` (the caller now holds the key), ``"busy"`` (another
    holder's claim is live) or ``"done"`` (an outcome is recorded: ``outcome``)."""

    status: Literal["claimed", "busy", "done"]
    outcome: str | None = None


class ClaimLike(Protocol):
    """Any claim value with :class:`Claim`'s two fields (each store may bring its own class)."""

    @property
    def status(self) -> str: ...

    @property
    def outcome(self) -> str | None: ...


@runtime_checkable
class OnceStore(Protocol):
    """Exactly-once work across processes: claim a key, do the work, record its outcome.

    * ``claim(key, holder, ttl)``: an outcome is recorded -> ``done`` with it; another holder's
      claim is live -> ``busy``; else ``holder`` holds the key for ``ttl`` seconds -> ``claimed``
      (the same holder claiming again renews it).
    * ``finish(key, holder, outcome, keep)``: record ``outcome`` for ``keep`` seconds and drop the
      claim; False (and the first outcome kept) if one was already recorded.
    * ``release(key, holder)``: drop ``holder``'s claim without an outcome (the work failed; the
      next try may claim the key again).

    Each has an ``a``-prefixed async twin (asyncio and trio alike)."""

    def claim(self, key: str, holder: str, ttl: float) -> ClaimLike: ...

    def finish(self, key: str, holder: str, outcome: str, keep: float) -> bool: ...

    def release(self, key: str, holder: str) -> None: ...

    async def aclaim(self, key: str, holder: str, ttl: float) -> ClaimLike: ...

    async def afinish(self, key: str, holder: str, outcome: str, keep: float) -> bool: ...

    async def arelease(self, key: str, holder: str) -> None: ...


class _Entry:
    __slots__ = ("expires", "holder", "outcome")

    def __init__(self, holder: str | None, outcome: str | None, expires: float) -> None:
        self.holder = holder
        self.outcome = outcome
        self.expires = expires


class MemoryOnceStore:
    """:class:`OnceStore` in this process's memory: what ``payments_app`` uses without
    ``store=``. It dies with the process and is not shared: a fleet needs a shared store.

    Bounded: expired entries are dropped as new ones come, and beyond ``max_keys`` keys the
    oldest outcomes go first (a live claim is never dropped)."""

    def __init__(self, *, max_keys: int = 1_000_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._clock = clock
        self.max_keys = max_keys

    def _live(self, key: str, now: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None and entry.expires <= now:
            del self._entries[key]
            return None
        return entry

    def _trim(self, now: float) -> None:
        entries = self._entries
        while entries:  # the oldest first: drop what expired
            key, entry = next(iter(entries.items()))
            if entry.expires > now and len(entries) <= self.max_keys:
                return
            if entry.expires > now and entry.outcome is None:  # a live claim: keep, look no further
                return
            del entries[key]

    def claim(self, key: str, holder: str, ttl: float) -> Claim:
        with self._lock:
            now = self._clock()
            entry = self._live(key, now)
            if entry is not None and entry.outcome is not None:
                return Claim("done", entry.outcome)
            if entry is not None and entry.holder != holder:
                return Claim("busy")
            self._entries[key] = _Entry(holder, None, now + ttl)
            self._entries.move_to_end(key)
            self._trim(now)
            return Claim("claimed")

    def finish(self, key: str, holder: str, outcome: str, keep: float) -> bool:
        with self._lock:
            now = self._clock()
            entry = self._live(key, now)
            if entry is not None and entry.outcome is not None:
                return False
            self._entries[key] = _Entry(None, outcome, now + keep)
            self._entries.move_to_end(key)
            self._trim(now)
            return True

    def release(self, key: str, holder: str) -> None:
        with self._lock:
            entry = self._live(key, self._clock())
            if entry is not None and entry.outcome is None and entry.holder == holder:
                del self._entries[key]

    async def aclaim(self, key: str, holder: str, ttl: float) -> Claim:
        return self.claim(key, holder, ttl)

    async def afinish(self, key: str, holder: str, outcome: str, keep: float) -> bool:
        return self.finish(key, holder, outcome, keep)

    async def arelease(self, key: str, holder: str) -> None:
        self.release(key, holder)

    def __len__(self) -> int:
        return len(self._entries)
