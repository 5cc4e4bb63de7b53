"""``webhook_app(max_handlers=, slot_wait=)``: the handlers running at once are bounded, on
asyncio and trio, with and without the ASGI lifespan; an event that finds every slot busy waits
up to ``slot_wait`` and is then answered 503 (OK redelivers anything not answered 200), is not
remembered, and is handled when it comes again. The app is driven directly as an ASGI callable
(trio's virtual clock where time matters) and, once, under real uvicorn."""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import math
import queue
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread
import pytest
import trio
import trio.testing
from anyio import wait_all_tasks_blocked
from anyio.abc import TaskGroup
from hypothesis import event, given, settings
from hypothesis import strategies as st

from okru_asgi import WebhookApp, webhook_app
from okru_proto import UsageError
from okru_proto.bots import MessageCreated

from ._servers import WAIT, post, run_uvicorn

SECRET = "tkn1SECRETtoken"


def message(n: int) -> bytes:
    return json.dumps({"webhookType": "MESSAGE_CREATED", "sender": {"user_id": "user:1"},
                       "recipient": {"chat_id": "chat:C1"},
                       "message": {"text": f"{SECRET} {n}", "seq": n, "mid": f"mid:C1.{n}"},
                       "timestamp": n}).encode()


async def asgi_post(app: WebhookApp, body: bytes) -> int:
    """One webhook POST straight into the ASGI app; the status it answered."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        assert not sent, "the app read past the end of the body"
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    statuses: list[int] = []

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app({"type": "http", "method": "POST", "client": ("217.20.145.193", 4000),
               "headers": [(b"content-type", b"application/json")]}, receive, send)
    assert len(statuses) == 1
    return statuses[0]


@asynccontextmanager
async def lifespan(app: WebhookApp, tg: TaskGroup, on: bool) -> AsyncIterator[None]:
    """Runs the app's lifespan (startup, then shutdown on exit, which waits for the handlers)
    when ``on``; without it the app falls back to loose tasks / trio system tasks."""
    if not on:
        yield
        return
    to_app: queue.SimpleQueue[dict[str, str]] = queue.SimpleQueue()
    shutdown, started, stopped = anyio.Event(), anyio.Event(), anyio.Event()
    to_app.put({"type": "lifespan.startup"})

    async def receive() -> dict[str, str]:
        if to_app.empty():
            await shutdown.wait()
            return {"type": "lifespan.shutdown"}
        return to_app.get()

    async def send(message: Any) -> None:
        {"lifespan.startup.complete": started, "lifespan.shutdown.complete": stopped}[message["type"]].set()

    tg.start_soon(app, {"type": "lifespan"}, receive, send)
    with anyio.fail_after(WAIT):
        await started.wait()
    yield
    shutdown.set()
    with anyio.fail_after(WAIT):
        await stopped.wait()


async def drain(app: WebhookApp) -> None:
    """Let the running handlers finish (loose tasks: nothing else waits for them)."""
    with anyio.fail_after(WAIT):
        while app.running:
            await anyio.sleep(0)


class Counting:
    """A handler that blocks on ``go`` and records how many run at once."""

    def __init__(self) -> None:
        self.running = self.peak = 0
        self.handled: list[int] = []
        self.go = anyio.Event()
        self.entered = 0

    async def __call__(self, event: MessageCreated) -> None:
        self.running += 1
        self.entered += 1
        self.peak = max(self.peak, self.running)
        try:
            await self.go.wait()
            self.handled.append(event.message.seq or 0)
        finally:
            self.running -= 1


BACKENDS = [("asyncio", False), ("asyncio", True), ("trio", False), ("trio", True)]
backend_ids = [f"{b}-{'lifespan' if on else 'no-lifespan'}" for b, on in BACKENDS]


def run(backend: str, main: Callable[[], Awaitable[None]]) -> None:
    anyio.run(main, backend=backend)


@pytest.mark.parametrize(("backend", "with_lifespan"), BACKENDS, ids=backend_ids)
def test_the_bound_holds_and_nothing_is_lost_when_slots_free_in_time(backend: str, with_lifespan: bool) -> None:
    handler = Counting()
    app = webhook_app(handler, allowed_networks=None, max_handlers=3, slot_wait=4.9)
    statuses: list[int] = []

    async def one(n: int) -> None:
        statuses.append(await asgi_post(app, message(n)))

    async def main() -> None:
        async with anyio.create_task_group() as tg, lifespan(app, tg, with_lifespan):
            with anyio.fail_after(WAIT):
                async with anyio.create_task_group() as posts:
                    for n in range(10):
                        posts.start_soon(one, n)
                    await wait_all_tasks_blocked()
                    # Three handlers run; seven requests are held open, not answered, not queued elsewhere.
                    assert (handler.running, app.running, len(statuses)) == (3, 3, 3)
                    assert len(app._slots.waiters) == 7
                    handler.go.set()
                await drain(app)
        assert statuses == [200] * 10
        assert sorted(handler.handled) == list(range(10)) and handler.peak == 3
        assert app.stats["busy"] == 0 and app.stats["dispatched"] == 10 and app.running == 0

    run(backend, main)


@pytest.mark.parametrize(("backend", "with_lifespan"), BACKENDS, ids=backend_ids)
def test_a_refused_event_gets_503_and_is_handled_when_redelivered(
        backend: str, with_lifespan: bool, caplog: pytest.LogCaptureFixture) -> None:
    handler = Counting()
    app = webhook_app(handler, allowed_networks=None, max_handlers=2, slot_wait=0)

    async def main() -> None:
        async with anyio.create_task_group() as tg, lifespan(app, tg, with_lifespan):
            with anyio.fail_after(WAIT):
                assert [await asgi_post(app, message(n)) for n in (1, 2)] == [200, 200]
                await wait_all_tasks_blocked()
                assert handler.running == 2
                with caplog.at_level(logging.WARNING, "okru.webhook"):
                    assert await asgi_post(app, message(3)) == 503
                    assert await asgi_post(app, message(3)) == 503  # OK's retry, still busy: not a "repeat"
                handler.go.set()
                await drain(app)
                assert await asgi_post(app, message(3)) == 200  # redelivered once a slot is free
                assert await asgi_post(app, message(3)) == 200  # and now a repeat is dropped
                await drain(app)
        assert sorted(handler.handled) == [1, 2, 3] and handler.peak == 2
        assert app.stats["busy"] == 2 and app.stats["dispatched"] == 3 and app.stats["duplicates"] == 1

    run(backend, main)
    warnings = [r for r in caplog.records if r.name == "okru.webhook"]
    assert [r.levelno for r in warnings] == [logging.WARNING] * 2
    line = warnings[0].getMessage()
    assert "503" in line and "max_handlers=2" in line and "MESSAGE_CREATED" in line
    assert SECRET not in caplog.text and "mid:C1" not in caplog.text


def test_the_wait_is_bounded_by_slot_wait_on_a_virtual_clock() -> None:
    handler = Counting()
    app = webhook_app(handler, allowed_networks=None, max_handlers=1, slot_wait=4.5)
    clock = trio.testing.MockClock(autojump_threshold=0)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            assert await asgi_post(app, message(1)) == 200
            start = trio.current_time()
            assert await asgi_post(app, message(2)) == 503  # the clock jumps while everything waits
            assert math.isclose(trio.current_time() - start, 4.5)
            assert not app._slots.waiters  # the request that gave up left no trace
            # A slot that frees within the wait is taken: held open, then 200.
            got: list[int] = []

            async def late() -> None:
                got.append(await asgi_post(app, message(2)))
            nursery.start_soon(late)
            await trio.sleep(4.0)  # virtual time: 4 of the 4.5 seconds pass with the request held
            assert got == [] and len(app._slots.waiters) == 1
            handler.go.set()
        await drain(app)
        assert got == [200] and sorted(handler.handled) == [1, 2]

    trio.run(main, clock=clock)


def test_a_cancelled_waiter_gives_nothing_away() -> None:
    handler = Counting()
    app = webhook_app(handler, allowed_networks=None, max_handlers=1, slot_wait=4.9)

    async def main() -> None:
        assert await asgi_post(app, message(1)) == 200
        with trio.move_on_after(1):  # the server cancels the request (shutting down)
            await asgi_post(app, message(2))
        assert not app._slots.waiters and app.running == 1
        handler.go.set()
        await trio.testing.wait_all_tasks_blocked()
        assert app.running == 0
        assert await asgi_post(app, message(2)) == 200  # not remembered: OK's retry is handled
        await drain(app)
        assert sorted(handler.handled) == [1, 2]

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_a_failing_handler_frees_its_slot(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    async def handler(event: MessageCreated) -> None:
        calls.append(event.message.seq or 0)
        raise RuntimeError("bot bug")

    app = webhook_app(handler, allowed_networks=None, max_handlers=1, slot_wait=4.9)

    async def main() -> None:
        with caplog.at_level(logging.ERROR, "okru.webhook"):
            for n in range(5):
                assert await asgi_post(app, message(n)) == 200
        await trio.testing.wait_all_tasks_blocked()

    trio.run(main)
    assert calls == list(range(5)) and app.stats["handler_errors"] == 5 and app.running == 0
    assert "bot bug" in caplog.text


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "4", None])
def test_max_handlers_is_validated(value: Any) -> None:
    with pytest.raises(UsageError, match="max_handlers"):
        webhook_app(lambda e: None, max_handlers=value)


@pytest.mark.parametrize("value", [-0.1, 5, 60, math.nan, math.inf, "1", None])
def test_slot_wait_is_validated(value: Any) -> None:
    with pytest.raises(UsageError, match="slot_wait"):
        webhook_app(lambda e: None, slot_wait=value)


@settings(max_examples=40, deadline=None)
@given(limit=st.integers(1, 4), slot_wait=st.sampled_from([0, 0.5, 2.0, 4.9]), with_lifespan=st.booleans(),
       work=st.lists(st.tuples(st.floats(0, 3), st.floats(0, 6)), max_size=12))
def test_property_bounded_and_every_event_handled_exactly_once(
        limit: int, slot_wait: float, with_lifespan: bool, work: list[tuple[float, float]]) -> None:
    """Events arrive at random (virtual) times, each handler takes a random time. Whatever the
    mix: never more than ``limit`` run; each delivery is answered 200 or 503; OK redelivering
    every 503 (as it does) ends with every event handled exactly once."""
    running = peak = 0
    handled: list[int] = []

    async def handler(event: MessageCreated) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await trio.sleep(work[(event.message.seq or 0)][1])
        running -= 1
        handled.append(event.message.seq or 0)

    app = webhook_app(handler, allowed_networks=None, max_handlers=limit, slot_wait=slot_wait)

    async def deliver(n: int, at: float) -> None:
        await trio.sleep(at)
        for _attempt in range(1000):  # OK redelivers "after some time" until a 200
            status = await asgi_post(app, message(n))
            assert status in (200, 503)
            if status == 200:
                return
            await trio.sleep(10)
        raise AssertionError("never accepted")

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            async with lifespan(app, tg, with_lifespan), trio.open_nursery() as nursery:
                for n, (at, _) in enumerate(work):
                    nursery.start_soon(deliver, n, at)
            while app.running:  # without lifespan, nothing else waits for the system tasks
                await trio.sleep(1)  # virtual time: the clock jumps to the next handler's end
        assert peak <= limit and app.running == 0 and not app._slots.waiters
        assert sorted(handled) == list(range(len(work)))
        event("some deliveries answered 503" if app.stats["busy"] else "none answered 503")

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


class _Announcing(collections.deque[Any]):
    """The app's waiter queue, telling the test thread when a request starts to wait."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()

    def append(self, item: Any) -> None:
        super().append(item)
        self.waiting.set()


@pytest.mark.network
def test_under_uvicorn_busy_is_503_then_redelivery_and_in_time_slots_are_200() -> None:
    gate = threading.Event()
    got: queue.Queue[int] = queue.Queue()

    async def handler(event: MessageCreated) -> None:
        await anyio.to_thread.run_sync(gate.wait, WAIT)
        got.put(event.message.seq or 0)

    app = webhook_app(handler, allowed_networks=None, max_handlers=2, slot_wait=0)
    with run_uvicorn(app) as port:
        assert [post(port, message(n)) for n in (1, 2)] == [200, 200]
        assert post(port, message(3)) == 503  # both slots busy: refused at once (slot_wait=0)
        assert app.stats["busy"] == 1 and got.empty()
        gate.set()
        assert sorted(got.get(timeout=WAIT) for _ in range(2)) == [1, 2]
        assert post(port, message(3)) == 200  # OK's redelivery is handled, not taken for a repeat
        assert got.get(timeout=WAIT) == 3

    # With a wait: a request held open while the slot is busy gets it when the handler ends.
    gate.clear()
    app = webhook_app(handler, allowed_networks=None, max_handlers=1, slot_wait=4.9)
    app._slots.waiters = _Announcing()
    statuses: queue.Queue[int] = queue.Queue()
    with run_uvicorn(app) as port:
        assert post(port, message(4)) == 200
        thread = threading.Thread(target=lambda: statuses.put(post(port, message(5))), daemon=True)
        thread.start()
        assert app._slots.waiters.waiting.wait(WAIT)  # the second request is waiting for the slot
        assert statuses.empty()
        gate.set()
        assert statuses.get(timeout=WAIT) == 200
        thread.join(WAIT)
        assert sorted(got.get(timeout=WAIT) for _ in range(2)) == [4, 5]
    assert app.stats["busy"] == 0 and app.stats["dispatched"] == 2


def test_a_slot_handed_to_a_request_cancelled_at_that_moment_comes_back() -> None:
    from okru_asgi._webhook import _Slots, _wait_for_slot

    async def main() -> None:
        slots = _Slots(1)
        assert slots.take()
        waiting = asyncio.create_task(_wait_for_slot(slots, 4.9))
        await asyncio.sleep(0)  # one loop turn: the request is now queued for the slot
        assert len(slots.waiters) == 1
        slots.release()  # the handler ends: the slot is handed to the request...
        waiting.cancel()  # ...which the server cancels before it resumes
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert slots.running == 0 and not slots.waiters and slots.take()

    asyncio.run(main())
