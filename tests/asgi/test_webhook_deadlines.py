"""Issue 20 item 3: handlers that never return. A handler runs at most ``handler_timeout``
seconds (then it is cancelled and a WARNING says so), so 64 hung handlers no longer hold every
slot forever; the server's shutdown waits at most ``shutdown_timeout`` for running handlers,
then cancels them, so a real uvicorn process with hung handlers exits on SIGTERM in bounded
time. In-process on trio's virtual clock (and on asyncio, waiting for the cancellations
themselves), then with real uvicorn processes."""

from __future__ import annotations

import logging
import math
import signal
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
import trio
import trio.testing

from okru_asgi import webhook_app
from okru_proto import UsageError
from okru_proto.bots import MessageCreated
from tests.servers import WAIT, Control, post

from ._webhook_servers import Direct, WebhookWorker, lifespan, message


class Hung:
    """A handler that never returns (until cancelled); counts those started and cancelled."""

    def __init__(self) -> None:
        self.started = self.cancelled = 0
        self.all_cancelled = anyio.Event()
        self.expected = 0

    async def __call__(self, event: MessageCreated) -> None:
        self.started += 1
        try:
            await anyio.sleep_forever()
        finally:
            self.cancelled += 1
            if self.cancelled == self.expected:
                self.all_cancelled.set()


@pytest.mark.parametrize("with_lifespan", [True, False], ids=["lifespan", "no-lifespan"])
def test_64_hung_handlers_free_their_slots_at_handler_timeout(with_lifespan: bool,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    clock = trio.testing.MockClock(autojump_threshold=0)

    async def main() -> None:
        hung = Hung()
        app = webhook_app(hung, allowed_networks=None, slot_wait=0)  # max_handlers=64, handler_timeout=60
        async with lifespan(app, with_lifespan), trio.open_nursery() as tasks:
            server = Direct(app, tasks)
            start = trio.current_time()
            assert [await server.post(message(n)) for n in range(64)] == [200] * 64
            await trio.testing.wait_all_tasks_blocked()
            assert (hung.started, app.running) == (64, 64)
            assert await server.post(message(64)) == 503  # every slot is held...
            await trio.sleep(59)
            assert await server.post(message(64)) == 503  # ...for a minute...
            await trio.sleep(1)
            await trio.testing.wait_all_tasks_blocked()
            assert math.isclose(trio.current_time() - start, 60)
            assert (hung.cancelled, app.running) == (64, 0)  # ...and no longer
            assert await server.post(message(64)) == 200  # OK's redelivery finds a slot
            await trio.testing.wait_all_tasks_blocked()
            assert app.running == 1
            await trio.sleep(61)
            await server.settled()
        assert app.stats["timeouts"] == 65 and app.stats["busy"] == 2

    with caplog.at_level(logging.WARNING, "okru.webhook"):
        trio.run(main, clock=clock)
    lines = [r.getMessage() for r in caplog.records if "handler_timeout" in r.getMessage()]
    assert len(lines) == 65
    assert "cancelled after handler_timeout=60 s on a MESSAGE_CREATED event" in lines[0]
    assert "answered 200 already: OK will not deliver it again" in lines[0]


@pytest.mark.parametrize("with_lifespan", [True, False], ids=["lifespan", "no-lifespan"])
def test_each_handler_is_cancelled_at_its_own_deadline(with_lifespan: bool) -> None:
    """Handlers that start at different times end at their own deadlines (with lifespan one
    watchdog times them all; without, each has its own)."""
    ended: dict[int, float] = {}

    async def main() -> None:
        start = trio.current_time()

        async def handler(event: MessageCreated) -> None:
            try:
                await trio.sleep_forever()
            finally:
                ended[event.message.seq or 0] = trio.current_time() - start

        app = webhook_app(handler, allowed_networks=None, handler_timeout=60)
        async with lifespan(app, with_lifespan), trio.open_nursery() as tasks:
            server = Direct(app, tasks)
            for n, at in enumerate((0, 10, 25, 25.5)):
                await trio.sleep_until(start + at)
                assert await server.post(message(n)) == 200
            await trio.sleep(100)
            await server.settled(handlers=False)
        assert app.stats["timeouts"] == 4

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert {n: round(t, 6) for n, t in ended.items()} == {0: 60, 1: 70, 2: 85, 3: 85.5}


def test_handler_timeout_on_asyncio_frees_the_slots() -> None:
    """The same on asyncio with a short deadline: the test waits for the cancellations to happen
    (an event), never for a time."""

    async def main() -> None:
        hung = Hung()
        hung.expected = 8
        app = webhook_app(hung, allowed_networks=None, max_handlers=8, slot_wait=0, handler_timeout=0.05)
        async with lifespan(app), anyio.create_task_group() as tasks:
            server = Direct(app, tasks)
            assert [await server.post(message(n)) for n in range(8)] == [200] * 8
            await anyio.wait_all_tasks_blocked()
            assert await server.post(message(8)) == 503
            with anyio.fail_after(WAIT):
                await hung.all_cancelled.wait()
            await anyio.wait_all_tasks_blocked()
            assert app.running == 0 and app.stats["timeouts"] == 8
            hung.all_cancelled, hung.expected = anyio.Event(), 9
            assert await server.post(message(8)) == 200  # OK's redelivery finds a slot
            with anyio.fail_after(WAIT):
                await hung.all_cancelled.wait()

    anyio.run(main, backend="asyncio")


def test_shutdown_waits_shutdown_timeout_then_cancels(caplog: pytest.LogCaptureFixture) -> None:
    """At the lifespan's shutdown, a handler that ends in time ends; the hung ones are
    cancelled once ``shutdown_timeout`` has passed, and one WARNING counts them."""
    clock = trio.testing.MockClock(autojump_threshold=0)
    finished: list[int] = []

    async def main() -> None:
        hung = Hung()

        async def handler(event: MessageCreated) -> None:
            if event.message.seq == 0:
                await trio.sleep(3)  # ends within the shutdown's 5 s
                finished.append(0)
            else:
                await hung(event)

        app = webhook_app(handler, allowed_networks=None)
        with caplog.at_level(logging.WARNING, "okru.webhook"):
            async with lifespan(app), trio.open_nursery() as tasks:
                server = Direct(app, tasks)
                assert [await server.post(message(n)) for n in range(4)] == [200] * 4
                await trio.testing.wait_all_tasks_blocked()
                start = trio.current_time()
            # lifespan's exit ran the shutdown: it returned when the app reported it complete
            assert math.isclose(trio.current_time() - start, 5)
        assert finished == [0] and hung.cancelled == 3 and app.stats["cancelled"] == 3

    trio.run(main, clock=clock)
    assert any("3 handler(s) still running after shutdown_timeout=5 s: cancelled" in r.getMessage()
               for r in caplog.records)


@pytest.mark.parametrize("value", [0, -1, math.nan, math.inf, "60", True])
def test_handler_timeout_is_validated(value: Any) -> None:
    with pytest.raises(UsageError, match="handler_timeout"):
        webhook_app(lambda e: None, handler_timeout=value)


@pytest.mark.parametrize("value", [-1, math.nan, math.inf, None, "5"])
def test_shutdown_timeout_is_validated(value: Any) -> None:
    with pytest.raises(UsageError, match="shutdown_timeout"):
        webhook_app(lambda e: None, shutdown_timeout=value)


@pytest.mark.network
@pytest.mark.parametrize("with_lifespan", [True, False], ids=["lifespan", "no-lifespan"])
def test_uvicorn_with_64_hung_handlers_exits_on_sigterm_in_bounded_time(tmp_path: Path, with_lifespan: bool) -> None:
    """A real uvicorn process, every slot held by a handler that never returns, gets SIGTERM.
    With lifespan (uvicorn's default for this app) it exits once ``shutdown_timeout`` (2 s
    here) has passed; without, once ``handler_timeout`` (2 s here) has cancelled the handlers
    its request tasks run. Before issue 20 it did not exit at all."""
    bound = 2.0
    control = Control()
    options = ["--slot-wait", "0", "--lifespan", "on" if with_lifespan else "off"]
    options += ["--shutdown-timeout", str(bound)] if with_lifespan else ["--handler-timeout", str(bound)]
    worker = WebhookWorker(tmp_path / "record", *options, control=control)
    try:
        hung = []
        for n in range(64):
            assert post(worker.port, message(n, "hang")) == 200
        for _ in range(64):
            hung.append(control.next()[2])
        assert post(worker.port, message(64, "hang")) == 503  # every slot is held
        sent = time.monotonic()
        worker.proc.send_signal(signal.SIGTERM)
        # uvicorn re-raises the signal once its graceful shutdown is over: the exit says SIGTERM;
        # the log lines below show the shutdown ran.
        assert worker.proc.wait(WAIT) in (0, -signal.SIGTERM)
        took = time.monotonic() - sent
        assert all(control.closed(conn) for conn in hung)  # every hung handler was cancelled
    finally:
        worker.kill()
        control.close()
    # It waited for the handlers as long as it said it would, and not much longer.
    assert bound <= took < bound + 5, took
    err = worker.stderr()
    if with_lifespan:
        assert "64 handler(s) still running after shutdown_timeout=2 s: cancelled" in err
    else:
        assert err.count("cancelled after handler_timeout=2 s") == 64
