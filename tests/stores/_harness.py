"""The three stores under one harness for the store tests: each built fresh, with a way to make
time pass for its expiries (a fake clock for Memory and SQLite; for Redis, whose clock is the
server's, every okru key's remaining TTL is cut by that much, which is what time passing does)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

from okru_stores import MemoryStore, RedisStore, SQLiteStore

KINDS = ("memory", "sqlite", "redis")


class Harness:
    def __init__(self, kind: str, store: Any, clock: list[float] | None = None,
                 client: redis.Redis | None = None) -> None:
        self.kind = kind
        self.store = store
        self._clock = clock
        self._client = client

    def advance(self, seconds: float) -> None:
        if self._clock is not None:
            self._clock[0] += seconds
            return
        assert self._client is not None
        milliseconds = int(seconds * 1000)
        for name in self._client.scan_iter("okru:*"):
            left = self._client.pttl(name)
            if left < 0:
                continue  # no expiry (tokens, values without a TTL)
            if left <= milliseconds:
                self._client.delete(name)
            else:
                self._client.pexpire(name, left - milliseconds)


@contextmanager
def harness(kind: str, tmp_path: Path, redis_url: str) -> Iterator[Harness]:
    """A fresh store of ``kind`` (Redis: flushed first)."""
    if kind == "memory":
        now = [1000.0]
        yield Harness(kind, MemoryStore(clock=lambda: now[0]), now)
    elif kind == "sqlite":
        now = [1_700_000_000.0]
        path = tmp_path / f"store-{len(list(tmp_path.glob('store-*')))}.sqlite3"
        yield Harness(kind, SQLiteStore(path, clock=lambda: now[0]), now)
    else:
        client = redis.Redis.from_url(redis_url)
        client.flushall()
        store = RedisStore(redis_url)
        try:
            yield Harness(kind, store, client=client)
        finally:
            store.close()
            client.close()
