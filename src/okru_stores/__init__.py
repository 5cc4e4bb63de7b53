"""Shared stores for okru: tokens (one refresh for many processes), once records (work done
exactly once across processes) and small values, on one process's memory, an SQLite file or
Redis.

Pass one as ``store=`` to any session (docs/workers.md), to a payment or webhook app, or to a
bot's router::

    store = SQLiteStore("/var/lib/myapp/okru.sqlite3")   # the processes of one machine
    store = RedisStore("redis://redis:6379/0")            # a fleet (okru[redis])

Each implements :class:`TokenStore`, :class:`OnceStore` and :class:`ValueStore` (pure
descriptions in ``okru_proto._store``), every method with an ``a``-prefixed async twin that runs
on asyncio and trio alike. The token rules (who refreshes, who waits, never an older token) are
the core's (``okru_proto._shared_refresh``); a store only does the I/O. ``RedisStore`` is
imported on first use, so this package works without the redis extra. The names of okru 0.1
(``MemoryTokenStore``, ``SQLiteTokenStore``, ``RedisTokenStore``) are the same classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from okru_proto._store import (
    Claim,
    OnceStore,
    StoreError,
    TokenStore,
    ValueStore,
    token_from_json,
    token_to_json,
)

from ._memory import MemoryStore, MemoryTokenStore
from ._sqlite import SQLiteStore, SQLiteTokenStore

if TYPE_CHECKING:
    from ._redis import RedisStore, RedisTokenStore

__all__ = [
    "Claim",
    "MemoryStore",
    "MemoryTokenStore",
    "OnceStore",
    "RedisStore",
    "RedisTokenStore",
    "SQLiteStore",
    "SQLiteTokenStore",
    "StoreError",
    "TokenStore",
    "ValueStore",
    "token_from_json",
    "token_to_json",
]


def __getattr__(name: str) -> Any:
    if name in ("RedisStore", "RedisTokenStore"):
        from . import _redis

        return getattr(_redis, name)
    raise AttributeError(f"module 'okru_stores' has no attribute {name!r}")
