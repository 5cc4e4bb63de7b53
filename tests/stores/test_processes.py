"""The proof: 8 OS processes x 25 concurrent calls on an expired token, sharing one store (SQLite
or a real Redis), against the emulator on loopback: exactly one token.do, every call succeeds;
the same when the server rotates refresh tokens; a refresher killed by SIGKILL while holding
the lease is replaced once the lease expires; a store that is down is a typed error, fast."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis

import okru_httpx.sync
from okru_proto import Endpoints, Secret, StoreError, Token
from okru_proto.testing import FakeOK
from okru_stores import RedisTokenStore, SQLiteTokenStore

WORKER = str(Path(__file__).with_name("_worker.py"))
PROCESSES = 8
CALLS = 25


def token_dos(fake: FakeOK) -> int:
    return sum(1 for r in fake.requests if r.path == "/oauth/token.do")


def save_first_token(fake: FakeOK, store: Any) -> dict[str, str]:
    """A token saved in the store (generation 1), then expired on the server."""
    issued = fake.issue_token()
    token = Token(access_token=Secret(issued["access_token"]), refresh_token=Secret(issued["refresh_token"]))
    assert store.compare_and_set(f"{fake.app_id}:k", token, 0)  # the record of store_key="k"
    fake.expire_access_tokens()
    return issued


def spawn(spec: str, url: str, fake: FakeOK, issued: dict[str, str], calls: int = CALLS,
          lease_ttl: float = 10.0, timeout: float = 60.0) -> subprocess.Popen[str]:
    args = [sys.executable, WORKER, spec, url, str(calls), str(lease_ttl), fake.app_id, fake.app_key,
            fake.app_secret_key, issued["access_token"], issued["refresh_token"], str(timeout)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def results(workers: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    out = []
    for worker in workers:
        stdout, stderr = worker.communicate(timeout=60)
        assert worker.returncode == 0, stderr
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def store_spec(kind: str, tmp_path: Path, redis_url: str) -> tuple[str, Any]:
    if kind == "sqlite":
        path = tmp_path / "tokens.sqlite3"
        return f"sqlite:{path}", SQLiteTokenStore(path)
    return f"redis:{redis_url}", RedisTokenStore(redis_url)


@pytest.mark.parametrize("rotate", [False, True], ids=["kept", "rotated"])
@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_eight_processes_refresh_exactly_once(kind: str, rotate: bool, tmp_path: Path, flushed_redis: str,
                                              emulator: tuple[FakeOK, str]) -> None:
    fake, url = emulator
    fake.rotate_refresh_tokens = rotate
    spec, store = store_spec(kind, tmp_path, flushed_redis)
    issued = save_first_token(fake, store)
    workers = [spawn(spec, url, fake, issued) for _ in range(PROCESSES)]
    outcomes = results(workers)
    assert [o["errors"] for o in outcomes] == [[]] * PROCESSES
    assert sum(o["ok"] for o in outcomes) == PROCESSES * CALLS
    assert token_dos(fake) == 1
    for outcome in outcomes:
        start, end = outcome["generations"]
        # adopted the first token (or, if it started late, the refreshed token), never went back
        assert start in (1, 2) and end == 2
    saved = store.load(f"{fake.app_id}:k")
    assert saved is not None and saved[1] == 2
    if rotate:
        assert saved[0].refresh_token is not None and saved[0].refresh_token.reveal() != issued["refresh_token"]


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_a_refresher_killed_holding_the_lease_is_replaced(kind: str, tmp_path: Path, flushed_redis: str,
                                                          emulator: tuple[FakeOK, str]) -> None:
    fake, url = emulator
    spec, store = store_spec(kind, tmp_path, flushed_redis)
    issued = save_first_token(fake, store)
    fake.inject("slow", method="/oauth/token.do", seconds=30)  # the first refresher hangs in token.do
    # Its lease lasts the call's deadline (timeout=3) plus lease_ttl: 4 s after its last renewal.
    doomed = spawn(spec, url, fake, issued, calls=1, lease_ttl=1.0, timeout=3.0)
    deadline = time.monotonic() + 20
    while token_dos(fake) == 0:  # bounded wait: the doomed worker holds the lease and is in token.do
        assert time.monotonic() < deadline and doomed.poll() is None, "the first worker never refreshed"
        time.sleep(0.01)
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait(10)
    survivor = spawn(spec, url, fake, issued, calls=5, lease_ttl=1.0, timeout=3.0)
    (outcome,) = results([survivor])
    assert outcome["errors"] == [] and outcome["ok"] == 5
    assert token_dos(fake) == 2
    saved = store.load(f"{fake.app_id}:k")
    assert saved is not None and saved[1] == 2


def test_redis_down_is_a_typed_error_not_a_hang(emulator: tuple[FakeOK, str]) -> None:
    from .conftest import free_port

    fake, url = emulator
    issued = fake.issue_token()
    store = RedisTokenStore(f"redis://:hunter2@127.0.0.1:{free_port()}/0", timeout=1.0)
    assert "hunter2" not in repr(store)
    session = okru_httpx.sync.ServerSession(fake.app_id, fake.app_key, fake.app_secret_key,
                                            issued["access_token"], refresh_token=issued["refresh_token"],
                                            endpoints=Endpoints(api=url, connect=url), store=store)
    started = time.monotonic()
    with pytest.raises(StoreError) as info:
        session.authorize()
    assert time.monotonic() - started < 5
    assert isinstance(info.value.__cause__, redis.RedisError)
    assert "hunter2" not in str(info.value)


def test_sqlite_unreachable_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as info:
        SQLiteTokenStore(tmp_path / "missing-dir" / "tokens.sqlite3")
    assert isinstance(info.value.__cause__, OSError)


def test_sqlite_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "tokens.sqlite3"
    store = SQLiteTokenStore(path)
    store.compare_and_set("k", Token(access_token=Secret("a")), 0)
    for name in ("tokens.sqlite3", "tokens.sqlite3-wal", "tokens.sqlite3-shm"):
        if (tmp_path / name).exists():
            assert (tmp_path / name).stat().st_mode & 0o077 == 0, name
    assert (tmp_path / "tokens.sqlite3").exists()
