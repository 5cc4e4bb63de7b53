"""Every adapter drives the store effects: okru_trio (blocking Redis client in trio worker
threads, SQLite), okru_httpx async (redis.asyncio client), okru_httpx.sync (threads); the
serialisation, the encryption hook, and a shared grant."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio
import trio

import okru_httpx
import okru_httpx.sync
import okru_trio
from okru_proto import Endpoints, Secret, StoreError, Token
from okru_proto.adapter import token_from_json, token_to_json
from okru_proto.testing import FakeOK
from okru_stores import MemoryTokenStore, RedisTokenStore, SQLiteTokenStore


def token_dos(fake: FakeOK) -> int:
    return sum(1 for r in fake.requests if r.path == "/oauth/token.do")


def expired_session_args(fake: FakeOK, url: str) -> tuple[tuple[str, ...], dict[str, Any]]:
    issued = fake.issue_token()
    fake.expire_access_tokens()
    return ((fake.app_id, fake.app_key, fake.app_secret_key, issued["access_token"]),
            {"refresh_token": issued["refresh_token"], "endpoints": Endpoints(api=url, connect=url)})


def test_trio_with_a_blocking_redis_client_in_worker_threads(flushed_redis: str,
                                                             emulator: tuple[FakeOK, str]) -> None:
    fake, url = emulator
    args, options = expired_session_args(fake, url)
    store = RedisTokenStore(flushed_redis)
    seen: list[Token] = []

    async def main() -> None:
        sessions = [okru_trio.ServerSession(*args, **options, store=store, store_key="t",
                                            on_token=seen.append) for _ in range(3)]
        async with trio.open_nursery() as nursery:
            for session in sessions:
                await session.authorize()
                for _ in range(5):
                    nursery.start_soon(session.call, "users.getCurrentUser")
        for session in sessions:
            assert session.core.store_generation == 2
            await session.aclose()

    trio.run(main)
    assert token_dos(fake) == 1 and len(seen) == 1


def test_trio_with_sqlite(tmp_path: Path, emulator: tuple[FakeOK, str]) -> None:
    fake, url = emulator
    args, options = expired_session_args(fake, url)
    store = SQLiteTokenStore(tmp_path / "t.sqlite3")

    async def main() -> list[Any]:
        async with okru_trio.ServerSession(*args, **options, store=store) as one, \
                okru_trio.ServerSession(*args, **options, store=store) as two:
            first = await one.call("users.getCurrentUser")
            second = await two.call("users.getCurrentUser")
            assert one.access_token == two.access_token
            return [first, second]

    assert all(r["uid"] == fake.user_id for r in trio.run(main))
    assert token_dos(fake) == 1


def test_httpx_async_with_an_asyncio_redis_client(flushed_redis: str, emulator: tuple[FakeOK, str]) -> None:
    fake, url = emulator
    args, options = expired_session_args(fake, url)

    async def main() -> None:
        client = redis.asyncio.Redis.from_url(flushed_redis)
        store = RedisTokenStore(client)
        try:
            sessions = [okru_httpx.ServerSession(*args, **options, store=store) for _ in range(3)]
            for session in sessions:
                await session.authorize()
            results = await asyncio.gather(*(s.call("users.getCurrentUser") for s in sessions for _ in range(5)))
            assert all(r["uid"] == fake.user_id for r in results)
            for session in sessions:
                await session.aclose()
            with pytest.raises(Exception, match="asyncio client"):
                store.load("x")
        finally:
            await client.aclose()

    asyncio.run(main())
    assert token_dos(fake) == 1


def test_httpx_sync_threads_share_sqlite(tmp_path: Path, emulator: tuple[FakeOK, str]) -> None:
    fake, url = emulator
    args, options = expired_session_args(fake, url)
    store = SQLiteTokenStore(tmp_path / "t.sqlite3")
    sessions = [okru_httpx.sync.ServerSession(*args, **options, store=store) for _ in range(4)]
    for session in sessions:
        session.authorize()
    failures: list[BaseException] = []

    def work(session: Any) -> None:
        try:
            assert session.call("users.getCurrentUser")["uid"] == fake.user_id
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in sessions for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == [] and token_dos(fake) == 1
    for session in sessions:
        session.close()


def test_a_password_grant_runs_once_for_all_sessions(emulator: tuple[FakeOK, str]) -> None:
    fake, url = emulator
    store = MemoryTokenStore()
    endpoints = Endpoints(api=url, connect=url)
    sessions = [okru_httpx.sync.PasswordSession(fake.app_id, fake.app_key, fake.app_secret_key,
                                                fake.user_login, fake.user_password, endpoints=endpoints,
                                                store=store) for _ in range(3)]
    for session in sessions:
        session.authorize()
    assert len({s.access_token for s in sessions}) == 1
    assert sum(1 for r in fake.requests if r.params.get("method") == "auth.login") == 1
    assert sessions[0].core.store_key == f"okru:{fake.app_id}:login:{fake.user_login}"
    for session in sessions:
        session.close()


def test_token_json_round_trips_and_refuses_the_future() -> None:
    token = Token(access_token=Secret("a"), session_secret_key=Secret("s"), refresh_token=Secret("r"),
                  token_type="session", expires_in=1800, expires_at=1.5, permissions_granted="VALUABLE_ACCESS",
                  uid="1", api_server="https://api.ok.ru/")
    assert token_from_json(token_to_json(token)) == token
    with pytest.raises(StoreError, match="newer"):
        token_from_json('{"v": 99, "access_token": "a"}')
    with pytest.raises(StoreError) as info:
        token_from_json('{"v": 1, "access_token": "topsecret", "expires_at": "x"}')
    assert "topsecret" not in str(info.value)


def test_the_encryption_hook_keeps_tokens_out_of_the_file(tmp_path: Path) -> None:
    def flip(data: bytes) -> bytes:  # a stand-in for Fernet: the store only calls the hook
        return bytes(b ^ 0x5A for b in data)

    path = tmp_path / "t.sqlite3"
    store = SQLiteTokenStore(path, encrypt=flip, decrypt=flip)
    token = Token(access_token=Secret("plain-access"), refresh_token=Secret("plain-refresh"))
    assert store.compare_and_set("k", token, 0)
    assert store.load("k") == (token, 1)
    raw = sqlite3.connect(path).execute("SELECT token FROM okru_tokens").fetchone()[0]
    assert b"plain-refresh" not in raw
    with pytest.raises(StoreError):
        SQLiteTokenStore(path).load("k")  # no hook: not JSON


def test_compare_and_set_only_over_the_expected_generation(tmp_path: Path, flushed_redis: str) -> None:
    one, two = Token(access_token=Secret("1")), Token(access_token=Secret("2"))
    for store in (MemoryTokenStore(), SQLiteTokenStore(tmp_path / "g.sqlite3"), RedisTokenStore(flushed_redis)):
        assert store.load("k") is None
        assert store.compare_and_set("k", one, 0)
        assert not store.compare_and_set("k", two, 0)
        assert store.compare_and_set("k", two, 1)
        assert store.load("k") == (two, 2)
        assert store.acquire_lease("k", "a", 10) and not store.acquire_lease("k", "b", 10)
        store.release_lease("k", "b")  # not the holder: no effect
        assert not store.acquire_lease("k", "b", 10)
        store.release_lease("k", "a")
        assert store.acquire_lease("k", "b", 10)
