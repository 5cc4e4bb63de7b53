"""Once records across real processes (STORE_API; issue 22's "two app processes sharing SQLite
and a real redis-server"): eight processes claim one key at the same moment and exactly one is
"claimed"; the outcome it records is what every other one then finds; a holder killed with
SIGKILL blocks the key for its claim's TTL, then the next process claims it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

CLAIMER = str(Path(__file__).with_name("_claimer.py"))
PROCESSES = 8


class Claimer:
    def __init__(self, spec: str, key: str, ttl: float) -> None:
        self.process = subprocess.Popen([sys.executable, CLAIMER, spec, key, str(ttl)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def line(self) -> str:
        assert self.process.stdout is not None
        text = self.process.stdout.readline()
        if not text:
            raise AssertionError(f"the claimer exited: {self.process.communicate(timeout=10)[1]}")
        return text.strip()

    def tell(self, command: str = "") -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def ask(self, command: str) -> dict[str, Any]:
        self.tell(command)
        return dict(json.loads(self.line()))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate(timeout=10)


def spec_for(kind: str, tmp_path: Path, redis_url: str) -> str:
    return f"sqlite:{tmp_path / 'once.sqlite3'}" if kind == "sqlite" else f"redis:{redis_url}"


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_eight_processes_one_claim(kind: str, tmp_path: Path, flushed_redis: str) -> None:
    spec = spec_for(kind, tmp_path, flushed_redis)
    claimers = [Claimer(spec, "pay:512000000001:tx-1", 30) for _ in range(PROCESSES)]
    try:
        assert [c.line() for c in claimers] == ["ready"] * PROCESSES
        go = [threading.Thread(target=c.tell) for c in claimers]  # the start signal, at once
        for thread in go:
            thread.start()
        for thread in go:
            thread.join()
        statuses = [json.loads(c.line())["status"] for c in claimers]
        assert sorted(statuses) == ["busy"] * (PROCESSES - 1) + ["claimed"]
        winner = claimers[statuses.index("claimed")]
        assert winner.ask("finish <ok/>") == {"finished": True}
        for claimer in claimers:
            assert claimer.ask("claim") == {"status": "done", "outcome": "<ok/>"}
        assert claimers[0].ask("finish other") == {"finished": False}  # the first outcome stays
    finally:
        for claimer in claimers:
            claimer.close()


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_a_released_claim_is_claimed_again(kind: str, tmp_path: Path, flushed_redis: str) -> None:
    spec = spec_for(kind, tmp_path, flushed_redis)
    one, two = Claimer(spec, "k", 30), Claimer(spec, "k", 30)
    try:
        assert one.line() == two.line() == "ready"
        one.tell()
        assert json.loads(one.line())["status"] == "claimed"
        two.tell()
        assert json.loads(two.line())["status"] == "busy"
        assert one.ask("release") == {"released": True}  # the work failed: the next try runs it
        assert two.ask("claim") == {"status": "claimed", "outcome": None}
    finally:
        one.close()
        two.close()


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_a_holder_killed_with_sigkill_blocks_the_key_for_its_ttl(kind: str, tmp_path: Path,
                                                                 flushed_redis: str) -> None:
    spec = spec_for(kind, tmp_path, flushed_redis)
    ttl = 1.0
    doomed, survivor = Claimer(spec, "k", ttl), Claimer(spec, "k", ttl)
    try:
        assert doomed.line() == survivor.line() == "ready"
        doomed.tell()
        assert json.loads(doomed.line())["status"] == "claimed"
        claimed_at = time.monotonic()
        os.kill(doomed.process.pid, signal.SIGKILL)
        doomed.process.wait(10)
        survivor.tell()
        assert json.loads(survivor.line())["status"] == "busy"  # its claim outlives it...
        pace = threading.Event()
        while True:  # ...for the TTL only (bounded: the assertion below ends a stuck loop)
            status = survivor.ask("claim")["status"]
            if status == "claimed":
                break
            assert status == "busy" and time.monotonic() - claimed_at < 10 * ttl
            pace.wait(0.02)
        assert time.monotonic() - claimed_at >= ttl * 0.9
        assert survivor.ask("finish credited") == {"finished": True}
    finally:
        doomed.close()
        survivor.close()
