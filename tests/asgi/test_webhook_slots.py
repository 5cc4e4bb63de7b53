"""``webhook_app(max_handlers=, slot_wait=)``: the handlers running at once are bounded, on
asyncio and trio, with and without the ASGI lifespan; an event that finds every slot busy waits
up to ``slot_wait`` (first come, first served) and is then answered 503 (OK redelivers anything
not answered 200), is not remembered, and is handled when it comes again; a request cancelled
while it waits takes nothing with it. The app is driven in-process as a server calls it (trio's
virtual clock where time matters) and, once, under real uvicorn."""

from __future__ import annotations

import asyncio
import logging
import math
import queue
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.to_thread
import pytest
import trio
import trio.testing
from hypothesis import event, given, settings
from hypothesis import strategies as st

from okru_asgi import WebhookApp, webhook_app
from okru_proto import UsageError
from okru_proto.bots import MessageCreated
from okru_stores import MemoryStore
from tests.servers import WAIT, post, run_uvicorn

from ._webhook_servers import SECRET, Direct, lifespan, message


class Counting:
    """A handler that blocks on ``go`` and records how many run at once and in which order they
    started."""

    def __init__(self) -> None:
        self.running = self.peak = 0
        self.started: list[int] = []
        self.handled: list[int] = []
        self.go = anyio.Event()

    async def __call__(self, event: MessageCreated) -> None:
        self.running += 1
        self.started.append(event.message.seq or 0)
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
    statuses: list[int] = []

    async def main() -> None:
        handler = Counting()
        app = webhook_app(handler, allowed_networks=None, max_handlers=3, slot_wait=4.9)

        async with lifespan(app, with_lifespan), anyio.create_task_group() as tasks:
            server = Direct(app, tasks)

            async def one(n: int) -> None:
                statuses.append(await server.post(message(n)))

            with anyio.fail_after(WAIT):
                async with anyio.create_task_group() as posts:
                    for n in range(10):
                        posts.start_soon(one, n)
                    await anyio.wait_all_tasks_blocked()
                    # Three handlers run; seven requests are held open, not answered, not queued elsewhere.
                    assert (handler.running, app.running, len(statuses), app.waiting) == (3, 3, 3, 7)
                    handler.go.set()
                await server.settled()
        assert statuses == [200] * 10
        assert sorted(handler.handled) == list(range(10)) and handler.peak == 3
        assert app.stats["busy"] == 0 and app.stats["dispatched"] == 10
        assert (app.running, app.waiting) == (0, 0)

    run(backend, main)


@pytest.mark.parametrize(("backend", "with_lifespan"), BACKENDS, ids=backend_ids)
def test_a_refused_event_gets_503_and_is_handled_when_redelivered(
        backend: str, with_lifespan: bool, caplog: pytest.LogCaptureFixture) -> None:
    apps: list[WebhookApp] = []
    handlers: list[Counting] = []

    async def main() -> None:
        handler = Counting()
        app = webhook_app(handler, allowed_networks=None, max_handlers=2, slot_wait=0)
        apps.append(app)
        handlers.append(handler)
        async with lifespan(app, with_lifespan), anyio.create_task_group() as tasks:
            server = Direct(app, tasks)
            with anyio.fail_after(WAIT):
                assert [await server.post(message(n)) for n in (1, 2)] == [200, 200]
                await anyio.wait_all_tasks_blocked()
                assert handler.running == 2
                with caplog.at_level(logging.WARNING, "okru.webhook"):
                    assert await server.post(message(3)) == 503
                    assert await server.post(message(3)) == 503  # OK's retry, still busy: not a "repeat"
                handler.go.set()
                await server.settled()
                assert await server.post(message(3)) == 200  # redelivered once a slot is free
                await server.settled()
                assert await server.post(message(3)) == 200  # and now a repeat is dropped
                await server.settled()

    run(backend, main)
    app, handler = apps[0], handlers[0]
    assert sorted(handler.handled) == [1, 2, 3] and handler.peak == 2
    assert app.stats["busy"] == 2 and app.stats["dispatched"] == 3 and app.stats["duplicates"] == 1
    warnings = [r for r in caplog.records if r.name == "okru.webhook"]
    assert [r.levelno for r in warnings] == [logging.WARNING] * 2
    line = warnings[0].getMessage()
    assert "503" in line and "max_handlers=2" in line and "MESSAGE_CREATED" in line
    assert SECRET not in caplog.text and "mid:C1" not in caplog.text


def test_the_wait_is_bounded_by_slot_wait_on_a_virtual_clock() -> None:
    clock = trio.testing.MockClock(autojump_threshold=0)

    async def main() -> None:
        handler = Counting()
        app = webhook_app(handler, allowed_networks=None, max_handlers=1, slot_wait=4.5)
        async with trio.open_nursery() as nursery:
            server = Direct(app, nursery)
            assert await server.post(message(1)) == 200
            start = trio.current_time()
            assert await server.post(message(2)) == 503  # the clock jumps while everything waits
            assert math.isclose(trio.current_time() - start, 4.5)
            assert app.waiting == 0  # the request that gave up left no trace
            # A slot that frees within the wait is taken: held open, then 200.
            got: list[int] = []

            async def late() -> None:
                got.append(await server.post(message(2)))
            nursery.start_soon(late)
            await trio.sleep(4.0)  # virtual time: 4 of the 4.5 seconds pass with the request held
            assert got == [] and app.waiting == 1
            handler.go.set()
            await server.settled()
        assert got == [200] and sorted(handler.handled) == [1, 2]

    trio.run(main, clock=clock)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_slots_are_given_first_come_first_served(backend: str) -> None:
    """Events held for a slot get one in the order they arrived: a burst of later events cannot
    starve an early one (which would then time out into a 503)."""
    order: list[int] = []

    async def main() -> None:
        gates: dict[int, anyio.Event] = {}

        async def handler(event: MessageCreated) -> None:
            n = event.message.seq or 0
            order.append(n)
            gates[n] = anyio.Event()
            await gates[n].wait()

        app = webhook_app(handler, allowed_networks=None, max_handlers=1, slot_wait=4.9)
        async with lifespan(app), anyio.create_task_group() as tasks:
            server = Direct(app, tasks)
            assert await server.post(message(0)) == 200
            with anyio.fail_after(WAIT):
                async with anyio.create_task_group() as posts:
                    for n in range(1, 6):  # each arrives once the previous one waits
                        posts.start_soon(server.post, message(n))
                        await anyio.wait_all_tasks_blocked()
                        assert app.waiting == n
                    for n in range(5):  # each handler's end hands its slot to the longest waiter
                        gates[n].set()
                        await anyio.wait_all_tasks_blocked()
                        assert order[-1] == n + 1 and app.waiting == 4 - n
                    gates[5].set()
                await server.settled()
        assert order == [0, 1, 2, 3, 4, 5]

    run(backend, main)


def test_a_cancelled_waiter_gives_nothing_away() -> None:
    async def main() -> None:
        handler = Counting()
        app = webhook_app(handler, allowed_networks=None, max_handlers=1, slot_wait=4.9)
        async with trio.open_nursery() as nursery:
            server = Direct(app, nursery)
            assert await server.post(message(1)) == 200
            with trio.move_on_after(1):  # the server cancels the request (shutting down)
                await app(server.scope(), _body(message(2)), _nowhere)
            assert app.waiting == 0 and app.running == 1
            handler.go.set()
            await server.settled()
            assert app.running == 0
            assert await server.post(message(2)) == 200  # not remembered: OK's retry is handled
            await server.settled()
        assert sorted(handler.handled) == [1, 2]

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def _body(body: bytes) -> Callable[[], Awaitable[dict[str, Any]]]:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}
    return receive


async def _nowhere(message: Any) -> None:
    raise AssertionError(f"a cancelled request answered {message}")


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_slot_handed_to_a_request_cancelled_at_that_moment_comes_back(backend: str) -> None:
    """The first handler, as it ends, cancels the request waiting for its slot: the slot is
    handed over and the request cancelled in the same loop turn. Nobody holds the slot after."""
    handled: list[int] = []

    async def main() -> None:
        waiter = anyio.CancelScope()
        go = anyio.Event()

        async def handler(event: MessageCreated) -> None:
            n = event.message.seq or 0
            if n == 1:
                await go.wait()
                waiter.cancel()  # no checkpoint after this: the slot is given back right away
            handled.append(n)

        app = webhook_app(handler, allowed_networks=None, max_handlers=1, slot_wait=4.9)
        async with lifespan(app), anyio.create_task_group() as tasks:
            server = Direct(app, tasks)
            assert await server.post(message(1)) == 200

            async def waiting() -> None:
                with waiter:
                    await app(server.scope(), _body(message(2)), _nowhere)
            tasks.start_soon(waiting)
            await anyio.wait_all_tasks_blocked()
            assert app.waiting == 1
            go.set()
            await anyio.wait_all_tasks_blocked()
            assert waiter.cancel_called and (app.running, app.waiting) == (0, 0)
            assert await server.post(message(2)) == 200  # the slot is free and 2 was never claimed
            await server.settled()
        assert handled == [1, 2]

    run(backend, main)


def test_a_failing_handler_frees_its_slot(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    async def handler(event: MessageCreated) -> None:
        calls.append(event.message.seq or 0)
        raise RuntimeError("bot bug")

    app = webhook_app(handler, allowed_networks=None, max_handlers=1, slot_wait=4.9)

    async def main() -> None:
        with caplog.at_level(logging.ERROR, "okru.webhook"):
            async with trio.open_nursery() as nursery:
                server = Direct(app, nursery)
                for n in range(5):
                    assert await server.post(message(n)) == 200
                await server.settled()

    trio.run(main)
    assert calls == list(range(5)) and app.stats["handler_errors"] == 5 and app.running == 0
    assert "bot bug" in caplog.text and "OK will not deliver it again" in caplog.text


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "4", None])
def test_max_handlers_is_validated(value: Any) -> None:
    with pytest.raises(UsageError, match="max_handlers"):
        webhook_app(lambda e: None, max_handlers=value)


@pytest.mark.parametrize("value", [-0.1, 5, 60, math.nan, math.inf, "1", None, True])
def test_slot_wait_is_validated(value: Any) -> None:
    with pytest.raises(UsageError, match="slot_wait"):
        webhook_app(lambda e: None, slot_wait=value)


@settings(max_examples=60, deadline=None)
@given(limit=st.integers(1, 4), slot_wait=st.sampled_from([0, 0.5, 2.0, 4.9]), with_lifespan=st.booleans(),
       answer=st.sampled_from(["at_once", "after_handler"]), shared=st.booleans(),
       work=st.lists(st.tuples(st.floats(0, 3), st.floats(0, 6), st.booleans()), max_size=12))
def test_property_bounded_and_every_event_handled_exactly_once(
        limit: int, slot_wait: float, with_lifespan: bool, answer: str, shared: bool,
        work: list[tuple[float, float, bool]]) -> None:
    """Events arrive at random (virtual) times, each handler takes a random time, and some fail
    the first time they run. Whatever the mix: never more than ``limit`` handlers run; each
    delivery is answered 200, or (not handled) 503, or (answered after a failed handler) 500;
    OK redelivering every non-200 (as it does) ends with:

    * ``answer="after_handler"``: every event handled successfully exactly once (a failed one
      ran again on its redelivery, never twice at once);
    * ``answer="at_once"``: every event's handler started exactly once (a failure after the 200
      is lost: OK does not deliver it again).

    With or without a (Memory) once store behind the app's own record."""
    running = peak = 0
    started: list[int] = []
    handled: list[int] = []

    async def handler(event: MessageCreated) -> None:
        nonlocal running, peak
        n = event.message.seq or 0
        first = n not in started
        started.append(n)
        running += 1
        peak = max(peak, running)
        try:
            await trio.sleep(work[n][1])
            if work[n][2] and first:
                raise RuntimeError("fails the first time")
            handled.append(n)
        finally:
            running -= 1

    app = webhook_app(handler, allowed_networks=None, max_handlers=limit, slot_wait=slot_wait,
                      answer=answer, store=MemoryStore() if shared else None,  # type: ignore[arg-type]
                      shutdown_timeout=100)  # the lifespan shutdown waits for every handler
    statuses: set[int] = set()

    async def main() -> None:
        async with lifespan(app, with_lifespan), trio.open_nursery() as tasks:
            server = Direct(app, tasks)

            async def deliver(n: int, at: float) -> None:
                await trio.sleep(at)
                for _attempt in range(1000):  # OK redelivers "after some time" until a 200
                    status = await server.post(message(n))
                    statuses.add(status)
                    if status == 200:
                        return
                    await trio.sleep(10)
                raise AssertionError("never accepted")

            async with trio.open_nursery() as deliveries:
                for n, (at, _, _) in enumerate(work):
                    deliveries.start_soon(deliver, n, at)
            await server.settled(handlers=False)  # with lifespan, its shutdown waits for them
        assert peak <= limit and app.running == 0 and app.waiting == 0
        assert statuses <= {200, 503, 500}
        everything = list(range(len(work)))
        if answer == "after_handler":
            assert sorted(handled) == everything
            assert sorted(started) == sorted(everything + [n for n, w in enumerate(work) if w[2]])
        else:
            assert sorted(started) == everything
            assert sorted(handled) == [n for n, w in enumerate(work) if not w[2]]
        event("some deliveries answered 503" if app.stats["busy"] or app.stats["late"] else "none answered 503")
        event(f"{answer}: some handlers failed" if app.stats["handler_errors"] else f"{answer}: none failed")

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


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
    waiting = threading.Event()
    app = webhook_app(handler, allowed_networks=None, max_handlers=1, slot_wait=4.9)

    async def announcing(scope: Any, receive: Any, send: Any) -> None:
        """The app, telling the test thread once a request's body was read: from there the app
        reaches its wait for a slot without yielding, so a callback queued now runs after it."""
        async def read() -> Any:
            message = await receive()
            if scope["type"] == "http" and message.get("body", b"").find(b'"seq": 5') > 0:
                asyncio.get_running_loop().call_soon(waiting.set)
            return message
        await app(scope, read, send)

    statuses: queue.Queue[int] = queue.Queue()
    with run_uvicorn(announcing) as port:
        assert post(port, message(4)) == 200
        thread = threading.Thread(target=lambda: statuses.put(post(port, message(5))), daemon=True)
        thread.start()
        assert waiting.wait(WAIT)
        assert app.waiting == 1 and statuses.empty()  # the second request is held for the slot
        gate.set()
        assert statuses.get(timeout=WAIT) == 200
        thread.join(WAIT)
        assert sorted(got.get(timeout=WAIT) for _ in range(2)) == [4, 5]
    assert app.stats["busy"] == 0 and app.stats["dispatched"] == 2


def test_without_lifespan_a_request_cancelled_before_its_answer_leaves_the_event_to_ok() -> None:
    """No lifespan: the handler runs in the request's task after the answer. If the server
    cancels that request while the answer is being sent (a stalled client, a shutdown), the
    handler does not get to run, so the event is not remembered: OK's redelivery is handled."""
    handled: list[int] = []

    async def handler(event: MessageCreated) -> None:
        await trio.sleep(0)
        handled.append(event.message.seq or 0)

    app = webhook_app(handler, allowed_networks=None)

    async def stalled(message: Any) -> None:
        if message["type"] == "http.response.body":
            await trio.sleep_forever()  # the client stopped reading

    async def main() -> None:
        with trio.move_on_after(10):
            await app(Direct(app, None).scope(), _body(message(1)), stalled)  # type: ignore[arg-type]
        assert handled == [] and app.running == 0
        async with trio.open_nursery() as nursery:
            server = Direct(app, nursery)
            assert await server.post(message(1)) == 200  # OK's redelivery: not taken for a repeat
            await server.settled()
        assert handled == [1]

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
