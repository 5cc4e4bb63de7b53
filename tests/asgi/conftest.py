"""The fleet suites' shared store: each fleet test runs once on an SQLite file and once on a real
Redis server (one valkey-server per module, emptied before each test)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stores.conftest import RedisServer, free_port, server_binary


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = RedisServer(server_binary(), free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "redis"])
def fleet_store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store URL the fleet's processes share (``sqlite:<file>`` or ``redis://...``)."""
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'fleet.sqlite3'}"
    url: str = request.getfixturevalue("redis_url")
    import redis

    with redis.Redis.from_url(url) as client:
        client.flushall()
    return url
