"""The refresh rules a fleet relies on (issue 20, items 6-9), with each flow stepped by hand
against the emulator (a fake clock where time must pass): a slow-but-alive refresher keeps its
lease; a late holder never writes over a newer token; a holder whose lease was taken stops
before its next request; a store that lost its data or rolled back does not make everyone
refresh; two apps given one store_key keep their own tokens; a key ending in ":lease" is a key
like any other."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

import okru_httpx.sync
from okru_proto import Endpoints, RetryPolicy, Secret, StoreError, Token
from okru_proto._flow import Callback, Sleep
from okru_proto.adapter import Request, SessionCore, StoreCall
from okru_proto.testing import FakeOK
from okru_stores import MemoryStore, RedisStore, SQLiteStore

KINDS = ("memory", "sqlite", "redis")


def token_dos(fake: FakeOK) -> int:
    return sum(1 for r in fake.requests if r.path == "/oauth/token.do")


def is_token_do(effect: Any) -> bool:
    return isinstance(effect, Request) and "/oauth/token.do" in effect.url


class Runner:
    """One flow, stepped: requests answered by the emulator, store calls run on the store,
    sleeps moving the emulator's clock (which is the sessions' and the memory store's)."""

    def __init__(self, flow: Any, fake: FakeOK) -> None:
        self.flow, self.fake = flow, fake
        self.done, self.value, self.effects = False, None, []
        self.effect = next(flow)

    def send(self, reply: Any = None, error: BaseException | None = None) -> None:
        try:
            self.effect = self.flow.throw(error) if error is not None else self.flow.send(reply)
        except StopIteration as finished:
            self.done, self.value = True, finished.value

    def run(self, stop: Callable[[Any], bool] = lambda effect: False) -> Any:
        """Run until ``stop(effect)`` (that effect is returned, not run) or the end."""
        while not self.done:
            effect = self.effect
            if stop(effect):
                return effect
            self.effects.append(effect)
            if isinstance(effect, Request):
                self.send(self.fake.handle(effect))
            elif isinstance(effect, StoreCall):
                try:
                    reply = getattr(effect.store, effect.method)(*effect.args)
                except Exception as exc:
                    self.send(error=exc)
                    continue
                self.send(reply)
            elif isinstance(effect, Sleep):
                self.fake.clock.advance(effect.seconds)
                self.send()
            elif isinstance(effect, Callback):
                effect.function(effect.argument)
                self.send()
            else:
                raise AssertionError(f"unexpected effect {effect!r}")
        return None


@contextmanager
def make_store(kind: str, tmp_path: Path, redis_url: str, fake: FakeOK, **options: Any) -> Iterator[Any]:
    if kind == "memory":
        yield MemoryStore(clock=lambda: fake.now, **options)
    elif kind == "sqlite":
        yield SQLiteStore(tmp_path / f"{kind}-{time.monotonic_ns()}.sqlite3", **options)
    else:
        with redis.Redis.from_url(redis_url) as client:
            client.flushall()
        store = RedisStore(redis_url, **options)
        yield store
        store.close()


def lease_left(kind: str, store: Any, key: str, redis_url: str) -> float:
    """Seconds left on the lease of ``key``, as the store holds it."""
    if kind == "sqlite":
        with sqlite3.connect(store.path) as db:
            (expires,) = db.execute("SELECT expires_at FROM okru_leases WHERE key = ?", (key,)).fetchone()
        return float(expires) - time.time()
    with redis.Redis.from_url(redis_url) as client:
        return float(client.pttl(f"okru:lease:{{{key}}}")) / 1000


class Fleet:
    """``n`` worker cores sharing one store and one token, as processes would (each its own core)."""

    def __init__(self, fake: FakeOK, store: Any, n: int, **options: Any) -> None:
        self.fake, self.store = fake, store
        issued = fake.issue_token()
        self.boot = Token(access_token=Secret(issued["access_token"]), refresh_token=Secret(issued["refresh_token"]))
        self.reported: list[list[Token]] = [[] for _ in range(n)]
        self.cores = [SessionCore(app_id=fake.app_id, app_key=fake.app_key, app_secret_key=fake.app_secret_key,
                                  token=self.boot, clock=lambda: fake.now, store=store, store_key="k",
                                  on_token=self.reported[i].append, **options) for i in range(n)]
        for core in self.cores:
            Runner(core.authorize_flow(), fake).run()
        self.key = f"{fake.app_id}:k"

    def refresh(self, index: int) -> Runner:
        return Runner(self.cores[index].refresh_flow(), self.fake)

    def tokens(self) -> set[str]:
        return {c.token.access_token.reveal() for c in self.cores if c.token is not None}


# -- item 6: a slow refresher --------------------------------------------------------------------

def test_a_slow_refresher_keeps_its_lease_one_token_do() -> None:
    # token.do answered after 33 s: inside the 60 s call deadline, past lease_ttl (30 s). okru
    # 0.1 let the second worker take the expired lease: 2 token.do, two tokens in the fleet.
    fake = FakeOK()
    store = MemoryStore(lease_ttl=30.0, clock=lambda: fake.now)
    fleet = Fleet(fake, store, 2)
    fake.expire_access_tokens()
    before = token_dos(fake)
    slow = fleet.refresh(0)
    held = slow.run(stop=is_token_do)  # worker 0 holds the lease; its token.do is "on the wire"
    assert held is not None
    fake.clock.advance(33)
    other = fleet.refresh(1)
    started = fake.now
    other.run(stop=lambda e: is_token_do(e) or fake.now - started > 40)
    assert not other.done and not is_token_do(other.effect)  # still waiting, 73 s after the start
    slow.send(fake.handle(held))
    slow.run()
    other.run()
    assert token_dos(fake) - before == 1
    assert len(fleet.tokens()) == 1 and other.value == slow.value
    assert [len(r) for r in fleet.reported] == [1, 0]


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_the_lease_outlives_the_request_it_guards(kind: str, tmp_path: Path, redis_url: str) -> None:
    fake = FakeOK()
    with make_store(kind, tmp_path, redis_url, fake, lease_ttl=5.0) as store:
        fleet = Fleet(fake, store, 1)
        fleet.cores[0].request_timeout = 40.0  # a session built with timeout=40
        fake.expire_access_tokens()
        runner = fleet.refresh(0)
        held = runner.run(stop=is_token_do)
        assert held is not None
        assert 40.0 < lease_left(kind, store, fleet.key, redis_url) <= 45.0  # timeout + lease_ttl
        runner.send(fake.handle(held))
        runner.run()
        assert runner.done and token_dos(fake) == 1


def test_the_lease_is_renewed_before_each_further_request() -> None:
    fake = FakeOK()
    store = MemoryStore(lease_ttl=10.0, clock=lambda: fake.now)
    fleet = Fleet(fake, store, 1, retry=RetryPolicy(attempts=2, base=0.5, random=lambda: 1.0))
    fake.expire_access_tokens()
    fake.inject("http_503", method="/oauth/token.do", times=1)
    runner = fleet.refresh(0)
    runner.run()
    assert runner.done and token_dos(fake) == 2
    kinds = [(e.method if isinstance(e, StoreCall) else "token.do") for e in runner.effects
             if isinstance(e, StoreCall) or is_token_do(e)]
    assert kinds == ["acquire_lease", "load", "token.do", "acquire_lease", "load", "token.do",
                     "compare_and_set", "release_lease"]


def test_a_holder_whose_lease_was_taken_stops_before_its_next_request() -> None:
    fake = FakeOK()
    store = MemoryStore(lease_ttl=10.0, clock=lambda: fake.now)
    fleet = Fleet(fake, store, 2, retry=RetryPolicy(attempts=3, base=0.5, random=lambda: 1.0))
    fake.expire_access_tokens()
    fake.inject("http_503", method="/oauth/token.do", times=1)
    first = fleet.refresh(0)
    renewal = first.run(stop=lambda e: isinstance(e, StoreCall) and e.method == "acquire_lease"
                        and any(is_token_do(x) for x in first.effects))
    assert renewal is not None  # worker 0's first token.do failed; it is about to renew
    holder = renewal.args[1]
    store.release_lease(fleet.key, holder)  # its lease expired (a stalled store, a frozen VM)...
    second = fleet.refresh(1)  # ...and worker 1 took over and refreshed
    second.run()
    assert second.done and token_dos(fake) == 2
    first.run()
    assert first.done and token_dos(fake) == 2  # worker 0 sent nothing more: it adopted
    assert len(fleet.tokens()) == 1 and [len(r) for r in fleet.reported] == [0, 1]


def test_a_holder_finding_its_lease_held_by_another_waits_for_that_token() -> None:
    fake = FakeOK()
    store = MemoryStore(lease_ttl=10.0, clock=lambda: fake.now)
    fleet = Fleet(fake, store, 2, retry=RetryPolicy(attempts=3, base=0.5, random=lambda: 1.0))
    fake.expire_access_tokens()
    fake.inject("http_503", method="/oauth/token.do", times=1)
    first = fleet.refresh(0)
    renewal = first.run(stop=lambda e: isinstance(e, StoreCall) and e.method == "acquire_lease"
                        and any(is_token_do(x) for x in first.effects))
    store.release_lease(fleet.key, renewal.args[1])
    second = fleet.refresh(1)
    held = second.run(stop=is_token_do)  # worker 1 holds the lease, its token.do on the wire
    first.run(stop=lambda e: isinstance(e, Sleep))  # worker 0: renewal refused -> waiting
    assert token_dos(fake) == 1 and not first.done
    second.send(fake.handle(held))
    second.run()
    first.run()
    assert first.done and token_dos(fake) == 2
    assert len(fleet.tokens()) == 1 and [len(r) for r in fleet.reported] == [0, 1]


@pytest.mark.parametrize("kind", KINDS)
def test_a_late_holder_never_writes_over_a_newer_token(kind: str, tmp_path: Path, redis_url: str) -> None:
    # The fallback when a lease does expire under a live holder (timeout=None, a stalled VM):
    # both refresh, but the late one adopts what the other saved instead of overwriting it.
    fake = FakeOK()
    with make_store(kind, tmp_path, redis_url, fake) as store:
        fleet = Fleet(fake, store, 2)
        fake.expire_access_tokens()
        late = fleet.refresh(0)
        held = late.run(stop=is_token_do)
        holder = next(e for e in late.effects if isinstance(e, StoreCall) and e.method == "acquire_lease").args[1]
        store.release_lease(fleet.key, holder)  # as if it had expired
        fake.clock.advance(5)  # worker 1 refreshes later: its token is the newer
        fast = fleet.refresh(1)
        fast.run()
        saved = store.load(fleet.key)
        assert saved is not None and saved[1] == 2
        late.send(fake.handle(held))
        late.run()
        assert token_dos(fake) == 2
        assert store.load(fleet.key) == saved  # not overwritten
        assert len(fleet.tokens()) == 1 and fleet.tokens() == {saved[0].access_token.reveal()}
        assert [len(r) for r in fleet.reported] == [0, 1] and fleet.cores[0].store_generation == 2


# -- item 7: a store that lost its data --------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_after_the_store_lost_its_data_one_refresh(kind: str, tmp_path: Path, redis_url: str) -> None:
    fake = FakeOK()
    with make_store(kind, tmp_path, redis_url, fake) as store:
        fleet = Fleet(fake, store, 4)
        for _ in range(2):  # two expiries: generation 3 everywhere
            fake.expire_access_tokens()
            for index in range(4):
                fleet.refresh(index).run()
            fake.clock.advance(60)
        assert token_dos(fake) == 2 and {c.store_generation for c in fleet.cores} == {3}
        lose(kind, store, redis_url)  # FLUSHALL / a restart without persistence
        fake.expire_access_tokens()
        for index in range(4):
            fleet.refresh(index).run()
        # okru 0.1: 4 (each worker waited for a generation above 3, the store restarted at 1)
        assert token_dos(fake) == 3
        assert len(fleet.tokens()) == 1 and {c.store_generation for c in fleet.cores} == {1}


def lose(kind: str, store: Any, redis_url: str) -> None:
    if kind == "memory":
        store._tokens.clear()
        store._leases.clear()
    elif kind == "sqlite":
        with sqlite3.connect(store.path) as db:
            db.execute("DELETE FROM okru_tokens")
            db.execute("DELETE FROM okru_leases")
    else:
        with redis.Redis.from_url(redis_url) as client:
            client.flushall()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_store_rolled_back_to_an_older_token_is_not_adopted(kind: str, tmp_path: Path, redis_url: str) -> None:
    # A restore from an older snapshot: generation 2 holding the token of 30 minutes ago, while
    # the workers hold generation 3. One refresh, from the workers' own newer refresh token.
    fake = FakeOK()
    fake.rotate_refresh_tokens = True  # the snapshot's refresh token is dead
    with make_store(kind, tmp_path, redis_url, fake) as store:
        fleet = Fleet(fake, store, 3)
        fake.expire_access_tokens()
        fleet.refresh(0).run()
        snapshot = store.load(fleet.key)
        fake.clock.advance(1800)
        fake.expire_access_tokens()
        for index in range(3):
            fleet.refresh(index).run()
        assert token_dos(fake) == 2
        restore(kind, store, fleet.key, snapshot)
        fake.clock.advance(1800)
        fake.expire_access_tokens()
        runners = [fleet.refresh(index) for index in range(3)]
        for runner in runners:
            runner.run()
        assert token_dos(fake) == 3 and len(fleet.tokens()) == 1
        assert all(r.done for r in runners)


def restore(kind: str, store: Any, key: str, snapshot: Any) -> None:
    if kind == "memory":
        store._tokens[key] = snapshot
    else:
        from okru_proto.adapter import token_to_json

        with sqlite3.connect(store.path) as db:
            db.execute("UPDATE okru_tokens SET generation = ?, token = ? WHERE key = ?",
                       (snapshot[1], token_to_json(snapshot[0]).encode(), key))


# -- items 8 and 9: keys ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_two_apps_given_one_store_key_keep_their_own_tokens(kind: str, tmp_path: Path, redis_url: str) -> None:
    fake = FakeOK()
    with make_store(kind, tmp_path, redis_url, fake) as store:
        app111 = okru_httpx.sync.ServerSession("111", "KEY111", "secret111", "token-of-app-111", store=store,
                                               store_key="shared")
        app222 = okru_httpx.sync.ServerSession("222", "KEY222", "secret222", "token-of-app-222", store=store,
                                               store_key="shared")
        app111.authorize()
        app222.authorize()
        # okru 0.1: app 222's session took app 111's user token
        assert app111.access_token == "token-of-app-111" and app222.access_token == "token-of-app-222"
        again = okru_httpx.sync.ServerSession("222", "KEY222", "secret222", "another", store=store,
                                              store_key="shared")
        again.authorize()
        assert again.access_token == "token-of-app-222"  # its own app's record, adopted
        for session in (app111, app222, again):
            session.close()


def test_a_store_needs_the_app_id() -> None:
    from okru_proto import UsageError

    with pytest.raises(UsageError, match="app_id"):
        SessionCore(app_key="KEY", token=Token(access_token=Secret("a"), session_secret_key=Secret("s")),
                    clock=time.time, store=MemoryStore(), store_key="k")


def test_a_key_ending_in_lease_is_a_key_like_any_other(redis_url: str, emulator: tuple[FakeOK, str]) -> None:
    # okru 0.1 kept the token of key K at <K> and its lease at <K>:lease: the token of
    # store_key "a:lease" sat where "a"'s lease goes (with no expiry), and "a" could never
    # refresh again (StoreError after lease_wait).
    fake, url = emulator
    with redis.Redis.from_url(redis_url) as client:
        client.flushall()
    store = RedisStore(redis_url, lease_wait=3.0)
    issued = fake.issue_token()
    options: dict[str, Any] = {"refresh_token": issued["refresh_token"], "store": store,
                               "endpoints": Endpoints(api=url, connect=url)}
    a = okru_httpx.sync.ServerSession(fake.app_id, fake.app_key, fake.app_secret_key, issued["access_token"],
                                      store_key="a", **options)
    b = okru_httpx.sync.ServerSession(fake.app_id, fake.app_key, fake.app_secret_key, issued["access_token"],
                                      store_key="a:lease", **options)
    a.authorize()
    b.authorize()
    fake.expire_access_tokens()
    assert a.call("users.getCurrentUser")["uid"] == fake.user_id
    assert b.call("users.getCurrentUser")["uid"] == fake.user_id
    assert token_dos(fake) == 2
    a.close()
    b.close()


def test_a_waiter_gives_up_at_lease_wait() -> None:
    fake = FakeOK()
    store = MemoryStore(lease_ttl=10.0, lease_wait=4.0, clock=lambda: fake.now)
    fleet = Fleet(fake, store, 2)
    fake.expire_access_tokens()
    stuck = fleet.refresh(0)
    stuck.run(stop=is_token_do)
    waiter = fleet.refresh(1)
    with pytest.raises(StoreError, match="waited 4 s"):
        waiter.run()


def test_by_default_a_waiter_outlasts_a_dead_holders_lease() -> None:
    # lease_wait=None: as long as the holder's lease can last (timeout + lease_ttl) plus
    # lease_ttl, so a waiter takes over from a holder that died instead of failing.
    fake = FakeOK()
    store = MemoryStore(lease_ttl=10.0, clock=lambda: fake.now)
    fleet = Fleet(fake, store, 2)
    fake.expire_access_tokens()
    dead = fleet.refresh(0)
    dead.run(stop=is_token_do)  # and never resumed
    started = fake.now
    survivor = fleet.refresh(1)
    survivor.run()
    assert survivor.done and token_dos(fake) == 1
    assert 70 <= fake.now - started <= 80  # the dead holder's lease: 60 + 10 s
