"""Shared token stores for okru sessions: many processes, one token, exactly one refresh.

Pass one as ``store=`` to any session (docs/workers.md)::

    store = SQLiteTokenStore("/var/lib/myapp/okru-tokens.sqlite3")   # processes of one machine
    store = RedisTokenStore("redis://redis:6379/0")                   # a fleet (okru[redis])

The rules (who refreshes, who waits, never an older token) are the core's
(``okru_proto._shared_refresh``); a store only does the I/O of the
:class:`~okru_proto.TokenStore` protocol. ``RedisTokenStore`` is imported on first use, so this
package works without the redis extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from okru_proto import __version__ as __version__  # one version for every okru package
from okru_proto._store import StoreError, TokenStore, token_from_json, token_to_json

from ._memory import MemoryTokenStore
from ._sqlite import SQLiteTokenStore

if TYPE_CHECKING:
    from ._redis import RedisTokenStore

__all__ = [
    "MemoryTokenStore",
    "RedisTokenStore",
    "SQLiteTokenStore",
    "StoreError",
    "TokenStore",
    "token_from_json",
    "token_to_json",
]


def __getattr__(name: str) -> Any:
    if name == "RedisTokenStore":
        from ._redis import RedisTokenStore

        return RedisTokenStore
    raise AttributeError(f"module 'okru_stores' has no attribute {name!r}")
