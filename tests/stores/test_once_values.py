"""The stores beyond tokens (docs/workers.md, STORE_API): once records (claim / finish /
release) and values, on Memory, SQLite and a real Redis server; their async twins on asyncio
and trio; namespaces that never collide; a state machine against a model of the rules."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import redis
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import okru_proto.adapter
import okru_stores
from okru_proto import Secret, StoreError, Token, UsageError
from okru_stores import Claim, MemoryStore, OnceStore, RedisStore, SQLiteStore, TokenStore, ValueStore

from ._harness import KINDS, Harness, harness


def test_the_agreed_names_and_the_old_ones() -> None:
    assert okru_stores.MemoryTokenStore is MemoryStore
    assert okru_stores.SQLiteTokenStore is SQLiteStore
    assert okru_stores.RedisTokenStore is RedisStore
    assert okru_proto.adapter.Claim is Claim and okru_proto.adapter.OnceStore is OnceStore
    assert okru_proto.adapter.ValueStore is ValueStore
    assert Claim("done", "x") == Claim("done", "x") and Claim("busy").outcome is None
    with pytest.raises(AttributeError):
        Claim("claimed").status = "done"  # type: ignore[misc]  # frozen


@pytest.mark.parametrize("kind", KINDS)
def test_each_store_is_all_three_kinds(kind: str, tmp_path: Path, redis_url: str) -> None:
    with harness(kind, tmp_path, redis_url) as h:
        assert isinstance(h.store, TokenStore) and isinstance(h.store, OnceStore)
        assert isinstance(h.store, ValueStore)


@pytest.mark.parametrize("kind", KINDS)
def test_claim_finish_release(kind: str, tmp_path: Path, redis_url: str) -> None:
    with harness(kind, tmp_path, redis_url) as h:
        s = h.store
        assert s.claim("pay:1", "a", 10.5) == Claim("claimed")
        assert s.claim("pay:1", "b", 10.5) == Claim("busy")
        assert s.claim("pay:1", "a", 10.5) == Claim("claimed")  # its holder renews it
        s.release("pay:1", "b")  # not the holder: no effect
        assert s.claim("pay:1", "b", 10.5) == Claim("busy")
        s.release("pay:1", "a")
        assert s.claim("pay:1", "b", 10.5) == Claim("claimed")
        assert s.finish("pay:1", "b", "<ok/>", 1000.5) is True
        assert s.claim("pay:1", "c", 10.5) == Claim("done", "<ok/>")
        assert s.finish("pay:1", "c", "other", 1000.5) is False  # the first outcome stays
        assert s.claim("pay:1", "a", 10.5) == Claim("done", "<ok/>")
        s.release("pay:1", "b")  # after the outcome: nothing to release, the outcome stays
        assert s.claim("pay:1", "a", 10.5) == Claim("done", "<ok/>")
        # a claim that expired, nobody else claimed: the late holder still records its outcome
        assert s.claim("pay:2", "a", 10.5) == Claim("claimed")
        h.advance(20)
        assert s.finish("pay:2", "a", "late", 1000.5) is True
        assert s.claim("pay:2", "b", 10.5) == Claim("done", "late")
        # a holder killed while working blocks the key for its TTL only
        assert s.claim("pay:3", "dead", 10.5) == Claim("claimed")
        h.advance(4)
        assert s.claim("pay:3", "next", 10.5) == Claim("busy")
        h.advance(8)
        assert s.claim("pay:3", "next", 10.5) == Claim("claimed")
        # an outcome is kept `keep` seconds, then the key is free again
        h.advance(1000)
        assert s.claim("pay:1", "z", 10.5) == Claim("claimed")


@pytest.mark.parametrize("kind", KINDS)
def test_values(kind: str, tmp_path: Path, redis_url: str) -> None:
    with harness(kind, tmp_path, redis_url) as h:
        s = h.store
        assert s.get_value("chat:1:user:2") is None
        s.set_value("chat:1:user:2", "state=ordering")
        s.set_value("short", "soon gone", ttl=10.5)
        assert s.get_value("chat:1:user:2") == "state=ordering"
        assert s.get_value("short") == "soon gone"
        s.set_value("unicode", "заказ ✓ \x00 nul")
        assert s.get_value("unicode") == "заказ ✓ \x00 nul"
        h.advance(20)
        assert s.get_value("short") is None
        assert s.get_value("chat:1:user:2") == "state=ordering"  # no TTL: kept
        s.set_value("chat:1:user:2", "state=paid", ttl=100.5)  # replaced, now with a TTL
        assert s.get_value("chat:1:user:2") == "state=paid"
        s.delete_value("chat:1:user:2")
        s.delete_value("never-set")
        assert s.get_value("chat:1:user:2") is None


@pytest.mark.parametrize("kind", KINDS)
def test_bad_arguments_are_usage_errors_before_any_io(kind: str, tmp_path: Path, redis_url: str) -> None:
    with harness(kind, tmp_path, redis_url) as h:
        s = h.store
        for call in (lambda: s.claim("", "a", 1), lambda: s.claim("k", "", 1), lambda: s.claim("k", "a", 0),
                     lambda: s.claim("k", "a", float("inf")), lambda: s.claim("k", "a", True),
                     lambda: s.finish("k", "a", 5, 1), lambda: s.finish("k", "a", "x", -1),
                     lambda: s.set_value("k", b"bytes"), lambda: s.set_value("k", "v", ttl=0),
                     lambda: s.get_value(None), lambda: s.release(1, "a"), lambda: s.delete_value("")):
            with pytest.raises(UsageError):
                call()


@pytest.mark.parametrize("kind", KINDS)
def test_no_key_reaches_another_kinds_record(kind: str, tmp_path: Path, redis_url: str) -> None:
    # The Redis layout of okru 0.1 put a token at <key> and its lease at <key>:lease: a token key
    # ending in ":lease" landed on another key's lease. Every kind is now its own namespace.
    with harness(kind, tmp_path, redis_url) as h:
        s = h.store
        token = Token(access_token=Secret("t"))
        keys = ["a", "a:lease", "okru:lease:{a}", "{a}", "a}", "k\x00", "ключ"]
        for key in keys:
            assert s.compare_and_set(key, token, 0)
            assert s.acquire_lease(key, "holder", 100)
            assert s.claim(key, "holder", 100) == Claim("claimed")
            s.set_value(key, f"value of {key}")
        for key in keys:
            assert s.load(key) == (token, 1)
            assert s.get_value(key) == f"value of {key}"
            assert s.claim(key, "other", 100) == Claim("busy")
            assert not s.acquire_lease(key, "other", 100)
            assert s.finish(key, "holder", f"outcome of {key}", 100)
        for key in keys:
            assert s.claim(key, "x", 1) == Claim("done", f"outcome of {key}")
            assert s.load(key) == (token, 1) and s.get_value(key) == f"value of {key}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keys=st.lists(st.text(min_size=1, max_size=12), min_size=2, max_size=6, unique=True))
def test_any_keys_stay_apart_on_redis(keys: list[str], redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    store = RedisStore(redis_url)
    try:
        for index, key in enumerate(keys):
            store.set_value(key, str(index))
            assert store.claim(key, f"h{index}", 100) == Claim("claimed")
            assert store.compare_and_set(key, Token(access_token=Secret(str(index))), 0)
        for index, key in enumerate(keys):
            assert store.get_value(key) == str(index)
            assert store.claim(key, "intruder", 100) == Claim("busy")
            loaded = store.load(key)
            assert loaded is not None and loaded[0].access_token.reveal() == str(index)
    finally:
        store.close()
        client.close()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("loop", ["asyncio", "trio"])
def test_async_twins(kind: str, loop: str, tmp_path: Path, redis_url: str) -> None:
    with harness(kind, tmp_path, redis_url) as h:
        s = h.store

        async def main() -> list[Any]:
            return [await s.aclaim("k", "a", 10.5), await s.aclaim("k", "b", 10.5),
                    await s.afinish("k", "a", "done!", 100.5), await s.afinish("k", "b", "again", 100.5),
                    await s.aclaim("k", "b", 10.5), await s.arelease("k", "b"),
                    await s.aclaim("k2", "a", 10.5), await s.arelease("k2", "a"), await s.aclaim("k2", "b", 10.5),
                    await s.aset_value("v", "1"), await s.aget_value("v"), await s.adelete_value("v"),
                    await s.aget_value("v"), await s.aset_value("v", "2", ttl=5.5), await s.aget_value("v")]

        got = asyncio.run(main()) if loop == "asyncio" else trio.run(main)
        assert got == [Claim("claimed"), Claim("busy"), True, False, Claim("done", "done!"), None,
                       Claim("claimed"), None, Claim("claimed"), None, "1", None, None, None, "2"]


def test_an_asyncio_redis_client(redis_url: str) -> None:
    import redis.asyncio

    async def main() -> None:
        client = redis.asyncio.Redis.from_url(redis_url)
        await client.flushall()
        store = RedisStore(client, prefix="app:")
        try:
            assert await store.aclaim("k", "a", 10) == Claim("claimed")
            assert await store.aclaim("k", "b", 10) == Claim("busy")
            assert await store.afinish("k", "a", "ok", 100) is True
            assert await store.aclaim("k", "b", 10) == Claim("done", "ok")
            await store.aset_value("v", "x", ttl=10)
            assert await store.aget_value("v") == "x"
            assert sorted(await client.keys("*")) == [b"app:okru:outcome:{k}", b"app:okru:value:{v}"]
            with pytest.raises(UsageError, match="asyncio client"):
                store.get_value("v")
        finally:
            await client.aclose()

    asyncio.run(main())


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_expiries_are_set_on_the_records(kind: str, tmp_path: Path, redis_url: str) -> None:
    # Real stores: what the server holds. Redis: PX on the claim and the outcome; SQLite: expires_at.
    if kind == "redis":
        client = redis.Redis.from_url(redis_url)
        client.flushall()
        store = RedisStore(redis_url)
        store.claim("k", "a", 30)
        assert 29_000 < client.pttl("okru:claim:{k}") <= 30_000
        store.finish("k", "a", "ok", 86_400)
        assert client.exists("okru:claim:{k}") == 0
        assert 86_399_000 < client.pttl("okru:outcome:{k}") <= 86_400_000
        store.set_value("v", "x")
        assert client.pttl("okru:value:{v}") == -1
        store.close()
        client.close()
    else:
        import sqlite3

        now = [5000.0]
        path = tmp_path / "e.sqlite3"
        store = SQLiteStore(path, clock=lambda: now[0])
        store.claim("k", "a", 30)
        store.set_value("v", "x", ttl=7)
        db = sqlite3.connect(path)
        assert db.execute("SELECT holder, outcome, expires_at FROM okru_once").fetchall() == [("a", None, 5030.0)]
        assert db.execute("SELECT value, expires_at FROM okru_values").fetchall() == [("x", 5007.0)]
        now[0] += 100  # the next write sweeps what expired
        store.set_value("w", "y")
        assert db.execute("SELECT key FROM okru_once").fetchall() == []
        assert db.execute("SELECT key FROM okru_values").fetchall() == [("w",)]
        db.close()


def test_a_broken_store_file_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = SQLiteStore(path)
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(StoreError):
        store.claim("k", "a", 1)


# -- the state machine: every store against one model of the rules ---------------------------

HOLDERS = ("h1", "h2", "h3")
KEYS = ("k1", "k2")
TTL, KEEP = 10.5, 1000.5  # half seconds: time moves in whole seconds, never onto an expiry


class OnceRules(RuleBasedStateMachine):
    """Claim / finish / release / time passing, in any order, on one store; after each step the
    store answers as the model says."""

    kind = "memory"
    tmp_path: Path
    redis_url = ""

    def __init__(self) -> None:
        super().__init__()
        self._context: Any = None
        self.h: Harness | None = None
        self.now = 0.0
        self.model: dict[str, tuple[str, str, float]] = {}  # key -> ("claim"|"outcome", who/what, until)

    @initialize()
    def start(self) -> None:
        self._context = harness(self.kind, self.tmp_path, self.redis_url)
        self.h = self._context.__enter__()

    def teardown(self) -> None:
        if self._context is not None:
            self._context.__exit__(None, None, None)

    def _live(self, key: str) -> tuple[str, str, float] | None:
        record = self.model.get(key)
        return record if record is not None and record[2] > self.now else None

    @rule(key=st.sampled_from(KEYS), holder=st.sampled_from(HOLDERS))
    def claim(self, key: str, holder: str) -> None:
        assert self.h is not None
        got = self.h.store.claim(key, holder, TTL)
        record = self._live(key)
        if record is not None and record[0] == "outcome":
            expected = Claim("done", record[1])
        elif record is not None and record[1] != holder:
            expected = Claim("busy")
        else:
            expected = Claim("claimed")
            self.model[key] = ("claim", holder, self.now + TTL)
        assert got == expected

    @rule(key=st.sampled_from(KEYS), holder=st.sampled_from(HOLDERS), outcome=st.sampled_from(("ok", "no")))
    def finish(self, key: str, holder: str, outcome: str) -> None:
        assert self.h is not None
        got = self.h.store.finish(key, holder, outcome, KEEP)
        record = self._live(key)
        if record is not None and record[0] == "outcome":
            assert got is False
        else:
            assert got is True
            self.model[key] = ("outcome", outcome, self.now + KEEP)

    @rule(key=st.sampled_from(KEYS), holder=st.sampled_from(HOLDERS))
    def release(self, key: str, holder: str) -> None:
        assert self.h is not None
        self.h.store.release(key, holder)
        record = self._live(key)
        if record is not None and record[0] == "claim" and record[1] == holder:
            del self.model[key]

    @rule(seconds=st.sampled_from((1, 3, 7, 25, 2000)))
    def advance(self, seconds: int) -> None:
        assert self.h is not None
        self.h.advance(seconds)
        self.now += seconds

    @precondition(lambda self: self.h is not None)
    @invariant()
    def outcomes_are_what_was_recorded(self) -> None:
        assert self.h is not None
        for key in KEYS:
            record = self._live(key)
            if record is not None and record[0] == "outcome":
                assert self.h.store.claim(key, "probe", TTL) == Claim("done", record[1])


@pytest.mark.parametrize("kind", KINDS)
def test_once_rules_state_machine(kind: str, tmp_path: Path, redis_url: str) -> None:
    machine = type(f"OnceRules_{kind}", (OnceRules,), {"kind": kind, "tmp_path": tmp_path, "redis_url": redis_url})
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(machine, settings=settings(max_examples=50 if kind == "redis" else 200,
                                                         stateful_step_count=30, deadline=None))


def test_half_an_encryption_hook_pair_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="both encrypt= and decrypt="):
        SQLiteStore(tmp_path / "h.sqlite3", encrypt=lambda data: data)
    with pytest.raises(UsageError, match="both encrypt= and decrypt="):
        RedisStore("redis://127.0.0.1:6379/0", decrypt=lambda data: data)
