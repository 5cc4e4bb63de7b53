"""The default store of payments_app (this process's memory): the OnceStore rules, on a fake
clock, the same as okru_stores' stores keep them; and bounded memory."""

from __future__ import annotations

import anyio
import pytest

from okru_asgi.payments._memory import ProcessOnceStore
from okru_stores import Claim, OnceStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> ProcessOnceStore:
    return ProcessOnceStore(clock=clock)


def test_it_is_a_once_store(store: ProcessOnceStore) -> None:
    assert isinstance(store, OnceStore)


def test_claim_busy_renew_and_expiry(store: ProcessOnceStore, clock: Clock) -> None:
    assert store.claim("k", "a", 4.0) == Claim("claimed")
    assert store.claim("k", "b", 4.0) == Claim("busy")
    clock.now += 3
    assert store.claim("k", "a", 4.0) == Claim("claimed")  # renewed by its holder
    clock.now += 3
    assert store.claim("k", "b", 4.0) == Claim("busy")     # still a's: renewed 3 s ago
    clock.now += 1.5
    assert store.claim("k", "b", 4.0) == Claim("claimed")  # a's claim ran out


def test_finish_records_once_and_keeps_for_keep(store: ProcessOnceStore, clock: Clock) -> None:
    store.claim("k", "a", 4.0)
    assert store.finish("k", "a", "first", 60.0) is True
    assert store.claim("k", "b", 4.0) == Claim("done", "first")
    assert store.finish("k", "b", "second", 60.0) is False
    assert store.claim("k", "c", 4.0) == Claim("done", "first")
    clock.now += 61
    assert store.claim("k", "c", 4.0) == Claim("claimed")
    # Recorded even after the claim ran out, when nobody recorded first.
    clock.now += 10
    assert store.finish("k", "c", "late", 60.0) is True


def test_release_only_by_the_holder(store: ProcessOnceStore) -> None:
    store.claim("k", "a", 4.0)
    store.release("k", "b")
    assert store.claim("k", "b", 4.0) == Claim("busy")
    store.release("k", "a")
    assert store.claim("k", "b", 4.0) == Claim("claimed")


def test_the_async_twins(store: ProcessOnceStore) -> None:
    async def main() -> None:
        assert await store.aclaim("k", "a", 4.0) == Claim("claimed")
        await store.arelease("k", "a")
        assert await store.aclaim("k", "b", 4.0) == Claim("claimed")
        assert await store.afinish("k", "b", "o", 9.0) is True

    anyio.run(main)
    assert store.claim("k", "c", 1.0) == Claim("done", "o")


def test_expired_records_do_not_pile_up(store: ProcessOnceStore, clock: Clock) -> None:
    for n in range(10_000):
        store.claim(f"k{n}", "a", 4.0)
        store.finish(f"k{n}", "a", "o", 1.0)
        clock.now += 0.01
    assert len(store) < 300  # about what lives at once (a second's worth), not 10,000
