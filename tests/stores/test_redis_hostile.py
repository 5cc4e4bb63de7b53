"""The Redis store against hostile and misconfigured servers (issue 20, items 4 and 11): a
server that accepts and never answers is a StoreError at the store's ``timeout`` (the whole
operation's: no retries, no timeout per phase); a password is never shown (repr, StoreError and
its causes, redis-py's own DEBUG lines), whatever its characters; a malformed URL is a
UsageError naming the fix, and the fix works on a real server with that password."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import trio

from okru_proto import StoreError, UsageError
from okru_stores import Claim, RedisStore

from .conftest import RedisServer, free_port

PASSWORD = "Ab#cd/ef?gh@ij%kl"


class SilentServer:
    """Accepts every connection, reads whatever comes, never answers."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        self.received = bytearray()
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(conn)
            threading.Thread(target=self._swallow, args=(conn,), daemon=True).start()

    def _swallow(self, conn: socket.socket) -> None:
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            self.received += data

    def close(self) -> None:
        self._stop.set()
        self.listener.close()
        for conn in self.connections:
            conn.close()


class DrippingServer(SilentServer):
    """Answers the first command it gets with a long reply, one byte every 50 ms."""

    def _swallow(self, conn: socket.socket) -> None:
        try:
            conn.recv(65536)
        except OSError:
            return
        pace = threading.Event()
        for byte in b"$40\r\n" + b"x" * 40 + b"\r\n":
            if self._stop.is_set() or pace.wait(0.05):
                return
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                return


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def no_secret(error: BaseException, *secrets: str) -> None:
    text = "".join(traceback.format_exception(error))
    for secret in secrets:
        assert secret not in text, secret


def timed(call: Callable[[], Any]) -> tuple[float, BaseException]:
    started = time.monotonic()
    with pytest.raises(StoreError) as info:
        call()
    return time.monotonic() - started, info.value


@pytest.mark.parametrize("operation", ["load", "claim", "set_value", "acquire_lease"])
def test_a_silent_redis_is_a_store_error_at_the_timeout(operation: str, silent: SilentServer) -> None:
    store = RedisStore(f"redis://:{quote(PASSWORD, safe='')}@127.0.0.1:{silent.port}/3", timeout=1.0)
    calls = {"load": lambda: store.load("k"), "claim": lambda: store.claim("k", "h", 10),
             "set_value": lambda: store.set_value("k", "v"), "acquire_lease": lambda: store.acquire_lease("k", "h", 10)}
    elapsed, error = timed(calls[operation])
    # okru 0.1: 3 tries x the timeout (15.3 s for timeout=5); now the whole operation's, once.
    assert 0.9 <= elapsed < 1.5, elapsed
    assert "timed out" in str(error)
    assert silent.received.count(b"AUTH") == 1  # one connection, one try: no retry behind the timeout
    no_secret(error, PASSWORD, quote(PASSWORD, safe=""))
    assert PASSWORD not in repr(store) and quote(PASSWORD, safe="") not in repr(store)


def test_a_reply_dripped_byte_by_byte_is_cut_at_the_timeout_too() -> None:
    # Each byte comes well inside a read timeout; the reply takes 2.3 s. The deadline is the
    # operation's, so every recv waits only what is left of it.
    server = DrippingServer()
    try:
        store = RedisStore(f"redis://127.0.0.1:{server.port}/0", timeout=0.5)
        elapsed, error = timed(lambda: store.get_value("k"))
        assert 0.45 <= elapsed < 0.9, elapsed
        assert "timed out" in str(error)
    finally:
        server.close()


@pytest.mark.parametrize("loop", ["asyncio", "trio"])
def test_the_async_twins_are_bounded_too(loop: str, silent: SilentServer) -> None:
    store = RedisStore(f"redis://127.0.0.1:{silent.port}/0", timeout=0.5)

    async def main() -> float:
        started = time.monotonic()
        with pytest.raises(StoreError):
            await store.aclaim("k", "h", 10)
        return time.monotonic() - started

    elapsed = asyncio.run(main()) if loop == "asyncio" else trio.run(main)
    assert 0.45 <= elapsed < 1.0, elapsed


def test_an_asyncio_client_of_yours_is_cut_at_the_timeout(silent: SilentServer) -> None:
    import redis.asyncio

    async def main() -> float:
        client = redis.asyncio.Redis(host="127.0.0.1", port=silent.port, socket_timeout=30)
        store = RedisStore(client, timeout=0.5)
        started = time.monotonic()
        try:
            with pytest.raises(StoreError, match="timed out"):
                await store.aget_value("k")
        finally:
            await client.aclose()
        return time.monotonic() - started

    assert asyncio.run(main()) < 1.0


def test_the_deadline_is_per_operation_not_per_store(silent: SilentServer, redis_url: str) -> None:
    # A working server: many operations in a row, each well inside its own deadline.
    store = RedisStore(redis_url, timeout=0.5)
    for index in range(200):
        store.set_value(f"v{index}", "x")
    assert store.get_value("v199") == "x"
    store.close()


def test_a_password_with_reserved_characters(tmp_path: Path, redis_binary: str) -> None:
    server = RedisServer(redis_binary, free_port(), tmp_path, extra=("--requirepass", PASSWORD))
    server.start()
    try:
        raw = f"redis://:{PASSWORD}@127.0.0.1:{server.port}/0"
        with pytest.raises(UsageError) as info:
            RedisStore(raw)
        assert "percent-encoded" in str(info.value) and "urllib.parse.quote(password, safe='')" in str(info.value)
        no_secret(info.value, PASSWORD, "Ab#cd", "cd/ef")
        # The fix the message names works against a real server holding that password.
        store = RedisStore(f"redis://:{quote(PASSWORD, safe='')}@127.0.0.1:{server.port}/0")
        assert store.claim("k", "me", 10) == Claim("claimed")
        store.set_value("v", "ok")
        assert store.get_value("v") == "ok"
        assert "***" in repr(store) and "Ab" not in repr(store)
        store.close()
        # redis-py's ?password= form: never in the repr, nor in the error of a wrong password.
        wrong = "Wr0ng-" + PASSWORD[:5]
        store = RedisStore(f"redis://127.0.0.1:{server.port}/0?password={quote(wrong, safe='')}")
        assert wrong not in repr(store) and quote(wrong, safe="") not in repr(store)
        with pytest.raises(StoreError) as failed:
            store.get_value("v")
        no_secret(failed.value, wrong, quote(wrong, safe=""))
        store.close()
    finally:
        server.stop()


def test_redis_py_debug_lines_hold_no_password(silent: SilentServer, caplog: pytest.LogCaptureFixture) -> None:
    store = RedisStore(f"redis://u:{quote(PASSWORD, safe='')}@127.0.0.1:{silent.port}/0", timeout=0.3)
    with caplog.at_level(logging.DEBUG), pytest.raises(StoreError):
        store.get_value("k")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert PASSWORD not in text and quote(PASSWORD, safe="") not in text


@pytest.mark.parametrize(("url", "says"), [
    ("redis://127.0.0.1:99999/0", "port"),
    ("redis://127.0.0.1:0/0", "port"),
    ("redis://127.0.0.1:port/0", "port"),
    ("http://127.0.0.1:6379/0", "not a Redis URL"),
    ("127.0.0.1:6379", "not a Redis URL"),
    ("redis://127.0.0.1:6379/notadb", "database"),
    ("redis://127.0.0.1:6379/1/", "database"),
])
def test_malformed_urls_are_usage_errors(url: str, says: str) -> None:
    with pytest.raises(UsageError, match=says):
        RedisStore(url)


def test_a_refused_connection_is_fast_and_typed() -> None:
    store = RedisStore(f"redis://:{quote(PASSWORD, safe='')}@127.0.0.1:{free_port()}/0", timeout=2.0)
    elapsed, error = timed(lambda: store.get_value("k"))
    assert elapsed < 1.0
    assert "failed" in str(error)
    no_secret(error, PASSWORD, quote(PASSWORD, safe=""))
