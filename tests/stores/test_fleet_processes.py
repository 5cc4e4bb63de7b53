"""The fleet rules with real worker processes (issue 20, items 6 and 7), each an okru_httpx.sync
session sharing SQLite or a real Redis server, against the emulator behind a token endpoint the
test controls:

* a refresher whose token.do is held past ``lease_ttl`` (inside its call's deadline) keeps its
  lease: the other worker waits for its token instead of refreshing too (okru 0.1: 2 token.do,
  and the workers ended on different tokens);
* after ``FLUSHALL`` or a restart of the Redis server (no persistence), one expiry costs one
  token.do for the whole fleet (okru 0.1: one per worker).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis

from okru_proto.adapter import Request
from okru_proto.testing import FakeOK

from .conftest import RedisServer

WORKER = str(Path(__file__).with_name("_fleet_worker.py"))


class GatedEmulator:
    """The emulator over HTTP on loopback; while ``hold`` is set, the first token.do waits for
    ``release`` (bounded) before it is answered: a slow token endpoint the test controls."""

    def __init__(self) -> None:
        self.fake = FakeOK()
        self.hold = False
        self.token_dos = 0
        self.first_held = threading.Event()
        self.second_arrived = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()
        gate = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path.startswith("/oauth/token.do"):
                    with gate._lock:
                        gate.token_dos += 1
                        number = gate.token_dos
                    if number == 1 and gate.hold:
                        gate.first_held.set()
                        gate.release.wait(30)
                    elif number >= 2:
                        gate.second_arrived.set()
                headers = tuple((k.lower(), v) for k, v in self.headers.items()
                                if k.lower() not in ("connection", "keep-alive", "transfer-encoding"))
                request = Request(self.command, f"http://127.0.0.1:{gate.port}{self.path}", headers, body)
                response = gate.fake.handle(request)
                self.send_response(response.status)
                for name, value in response.headers:
                    if name not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("content-length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)

            do_GET = do_POST = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gated() -> Iterator[GatedEmulator]:
    emulator = GatedEmulator()
    yield emulator
    emulator.close()


class Worker:
    def __init__(self, spec: str, gate: GatedEmulator, issued: dict[str, str], lease_ttl: float,
                 timeout: float) -> None:
        fake = gate.fake
        env = dict(os.environ)
        if os.environ.get("OKRU_STORES_BEFORE"):  # measuring okru 0.1: its code first on the path
            env["PYTHONPATH"] = os.environ["OKRU_STORES_BEFORE"]
        self.process = subprocess.Popen(
            [sys.executable, WORKER, spec, gate.url, fake.app_id, fake.app_key, fake.app_secret_key,
             issued["access_token"], issued["refresh_token"], str(lease_ttl), str(timeout)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    def line(self) -> str:
        assert self.process.stdout is not None
        text = self.process.stdout.readline()
        if not text:
            raise AssertionError(f"the worker exited: {self.process.communicate(timeout=10)[1][-3000:]}")
        return text.strip()

    def call(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("call\n")
        self.process.stdin.flush()

    def result(self) -> dict[str, Any]:
        return dict(json.loads(self.line()))

    def close(self) -> None:
        try:
            self.process.communicate(timeout=10)  # closes stdin: the worker ends
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate(timeout=10)


def spec_for(kind: str, tmp_path: Path, redis_url: str) -> str:
    return f"sqlite:{tmp_path / 'fleet.sqlite3'}" if kind == "sqlite" else f"redis:{redis_url}"


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_a_slow_refresher_keeps_its_lease(kind: str, tmp_path: Path, flushed_redis: str,
                                          gated: GatedEmulator) -> None:
    spec = spec_for(kind, tmp_path, flushed_redis)
    issued = gated.fake.issue_token()
    workers = [Worker(spec, gated, issued, lease_ttl=0.5, timeout=20.0) for _ in range(2)]
    try:
        assert [w.line() for w in workers] == ["ready", "ready"]
        gated.fake.expire_access_tokens()
        gated.hold = True
        workers[0].call()
        assert gated.first_held.wait(30), "worker 0 never refreshed"
        workers[1].call()
        # Six times lease_ttl: under okru 0.1 worker 1 took the expired lease after 0.5 s and
        # sent its own token.do. A token.do now is the failure this waits for.
        second = gated.second_arrived.wait(3.0)
        gated.release.set()
        results = [w.result() for w in workers]
        assert not second and gated.token_dos == 1
        assert [r["error"] for r in results] == [None, None] and all(r["ok"] for r in results)
        assert results[0]["token"] == results[1]["token"]
    finally:
        gated.release.set()
        for worker in workers:
            worker.close()


@pytest.mark.parametrize("loss", ["flushall", "restart"])
def test_after_the_redis_server_lost_its_data_one_token_do_per_expiry(loss: str, redis_server: RedisServer,
                                                                      flushed_redis: str,
                                                                      gated: GatedEmulator) -> None:
    issued = gated.fake.issue_token()
    workers = [Worker(f"redis:{flushed_redis}", gated, issued, lease_ttl=10.0, timeout=20.0) for _ in range(4)]
    try:
        assert [w.line() for w in workers] == ["ready"] * 4

        def expiry() -> list[dict[str, Any]]:
            gated.fake.clock.advance(60)
            gated.fake.expire_access_tokens()
            for worker in workers:
                worker.call()
            return [w.result() for w in workers]

        for round_ in (1, 2):
            results = expiry()
            assert gated.token_dos == round_ and len({r["token"] for r in results}) == 1
            assert [r["generation"] for r in results] == [round_ + 1] * 4
        if loss == "flushall":
            with redis.Redis.from_url(flushed_redis) as client:
                client.flushall()
        else:
            redis_server.stop()
            redis_server.start()
        results = expiry()
        assert [r["error"] for r in results] == [None] * 4
        # okru 0.1: 2 + 4 (a worker adopted only a generation above its own, 3; the store
        # restarted from 1)
        assert gated.token_dos == 3
        assert len({r["token"] for r in results}) == 1
        results = expiry()  # and the fleet goes on as before
        assert gated.token_dos == 4 and len({r["token"] for r in results}) == 1
    finally:
        for worker in workers:
            worker.close()
