"""Issue 23, in-process: ``webhook_app(router, bot=bot)`` feeds a router; ``answer="after_handler"``
answers once the handler returned (500 if it raised, 503 if it is still running at
``answer_within``: OK redelivers both); ``store=`` keeps the "handled" record where several
servers share it (two apps on one MemoryStore stand for two servers here; real processes on
SQLite and Redis: test_webhook_fleet.py), claims released when a handler fails or is cancelled,
a failing store answered 503. On asyncio and trio; trio's virtual clock where time matters."""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import anyio
import anyio.lowlevel
import pytest
import trio
import trio.testing

from okru_asgi import webhook_app
from okru_asgi._webhook import CLAIM_MARGIN, KEEP_HANDLED, STORE_PREFIX
from okru_proto import UsageError
from okru_proto.adapter import Claim
from okru_proto.bots import MessageCreated, WebhookEvent
from okru_proto.errors import StoreError
from okru_stores import MemoryStore
from tests.servers import WAIT

from ._webhook_servers import Direct, lifespan, message


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


SYSTEM = json.dumps({"webhookType": "CHAT_SYSTEM", "recipient": {"chat_id": "chat:C1"}, "timestamp": 1}).encode()


class Router:
    """What okru_proto.bots.Router offers webhook_app: ``async feed(event, bot) -> bool``."""

    def __init__(self, matches: bool = True) -> None:
        self.fed: list[tuple[WebhookEvent, Any]] = []
        self.matches = matches

    async def feed(self, event: WebhookEvent, bot: Any) -> bool:
        self.fed.append((event, bot))
        return self.matches


class Recording(MemoryStore):
    """A MemoryStore that notes every once-record call, each a checkpoint (a cancellation point)
    as in the stores that do I/O."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[Any, ...]] = []

    async def aclaim(self, key: str, holder: str, ttl: float) -> Claim:
        self.calls.append(("claim", key, holder, ttl))
        await anyio.lowlevel.checkpoint()
        return await super().aclaim(key, holder, ttl)

    async def afinish(self, key: str, holder: str, outcome: str, keep: float) -> bool:
        self.calls.append(("finish", key, holder, outcome, keep))
        await anyio.lowlevel.checkpoint()
        return await super().afinish(key, holder, outcome, keep)

    async def arelease(self, key: str, holder: str) -> None:
        await anyio.lowlevel.checkpoint()
        self.calls.append(("release", key, holder))
        await super().arelease(key, holder)


# -- a router in place of a handler -----------------------------------------------------------

@pytest.mark.anyio
async def test_a_router_is_fed_each_event_with_the_bot() -> None:
    bot = object()
    router = Router()
    app = webhook_app(router, bot=bot, allowed_networks=None)
    async with lifespan(app), anyio.create_task_group() as tasks:
        server = Direct(app, tasks)
        assert await server.post(message(1)) == 200
        assert await server.post(message(1)) == 200  # OK's redelivery: dropped
        await server.settled()
    ((event, given),) = router.fed
    assert isinstance(event, MessageCreated) and event.message.mid == "mid:C1.1" and given is bot
    assert app.stats["unmatched"] == 0 and app.handler is router and app.bot is bot


@pytest.mark.anyio
async def test_an_event_no_handler_of_the_router_matched_is_counted_and_done(
        caplog: pytest.LogCaptureFixture) -> None:
    router = Router(matches=False)
    app = webhook_app(router, allowed_networks=None, answer="after_handler")
    with caplog.at_level(logging.DEBUG, "okru.webhook"):
        async with anyio.create_task_group() as tasks:
            server = Direct(app, tasks)
            assert await server.post(message(1)) == 200  # nothing to do is done
            assert await server.post(message(1)) == 200
            await server.settled()
    assert len(router.fed) == 1 and router.fed[0][1] is None and app.stats["unmatched"] == 1
    assert "no handler of the router matched a MESSAGE_CREATED event" in caplog.text


@pytest.mark.anyio
async def test_what_webhook_app_is_given_is_checked() -> None:
    async def handler(event: WebhookEvent) -> None:
        return None

    with pytest.raises(UsageError, match="bot= is passed to a router's feed"):
        webhook_app(handler, bot=object())
    with pytest.raises(UsageError, match=r"a handler .* or a router"):
        webhook_app(object())  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="store= is a once store"):
        webhook_app(handler, store={})  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="answer is 'at_once' or 'after_handler'"):
        webhook_app(handler, answer="later")  # type: ignore[arg-type]
    for bad in (0, 5, -1, math.nan, "4"):
        with pytest.raises(UsageError, match="answer_within"):
            webhook_app(handler, answer_within=bad)  # type: ignore[arg-type]


# -- answer="after_handler" -------------------------------------------------------------------

@pytest.mark.anyio
@pytest.mark.parametrize("with_lifespan", [True, False], ids=["lifespan", "no-lifespan"])
async def test_after_handler_the_answer_follows_the_handler(with_lifespan: bool) -> None:
    order: list[str] = []
    runs: list[int] = []

    async def handler(event: MessageCreated) -> None:
        runs.append(event.message.seq or 0)
        await anyio.sleep(0)
        order.append("handler returned")
        if event.message.seq == 2 and runs.count(2) == 1:
            raise RuntimeError("fails the first time")

    app = webhook_app(handler, allowed_networks=None, answer="after_handler")
    async with lifespan(app, with_lifespan), anyio.create_task_group() as tasks:
        server = Direct(app, tasks)
        assert await server.post(message(1)) == 200
        order.append("answered")
        assert order == ["handler returned", "answered"]
        assert await server.post(message(2)) == 500  # the handler raised: OK delivers it again...
        assert server.bodies[-1] == b"the handler failed; OK delivers the event again\n"
        assert await server.post(message(2)) == 200  # ...and the redelivery runs it again
        assert await server.post(message(2)) == 200  # a repeat of a handled event is dropped
        await server.settled()
    assert runs == [1, 2, 2] and app.stats["handler_errors"] == 1 and app.stats["duplicates"] == 1


def test_after_handler_a_late_handler_gets_503_and_finishes_in_the_background(
        caplog: pytest.LogCaptureFixture) -> None:
    runs: list[float] = []
    ended: list[float] = []

    async def main() -> None:
        async def handler(event: MessageCreated) -> None:
            runs.append(trio.current_time())
            await trio.sleep(10)
            ended.append(trio.current_time())

        app = webhook_app(handler, allowed_networks=None, answer="after_handler")  # answer_within=4
        async with lifespan(app), trio.open_nursery() as tasks:
            server = Direct(app, tasks)
            start = trio.current_time()
            assert await server.post(message(1)) == 503
            assert math.isclose(trio.current_time() - start, 4)
            assert await server.post(message(1)) == 503  # OK's next try while it still runs: busy
            await trio.sleep(7)
            assert ended and await server.post(message(1)) == 200  # it ended: the next try is a repeat
            await server.settled()
        assert len(runs) == 1 and app.stats["late"] == 1 and app.stats["busy"] == 1

    with caplog.at_level(logging.WARNING, "okru.webhook"):
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert "still runs after answer_within=4 s: answered 503" in caplog.text


def test_after_handler_the_wait_for_a_slot_counts_against_answer_within() -> None:
    async def main() -> None:
        async def handler(event: MessageCreated) -> None:
            await trio.sleep(100 if event.message.seq == 1 else 0)

        app = webhook_app(handler, allowed_networks=None, answer="after_handler", answer_within=1.5,
                          max_handlers=1, slot_wait=4.9)
        async with lifespan(app), trio.open_nursery() as tasks:
            server = Direct(app, tasks)
            assert await server.post(message(1)) == 503  # late, runs on
            start = trio.current_time()
            assert await server.post(message(2)) == 503  # no slot within 1.5 s (not 4.9)
            assert math.isclose(trio.current_time() - start, 1.5)
            await trio.sleep(200)
            await server.settled()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


# -- store= ---------------------------------------------------------------------------------

@pytest.mark.anyio
async def test_two_servers_on_one_store_handle_a_redelivered_event_once() -> None:
    """At once: server A accepted the event and runs its handler; OK's redelivery to server B
    (A's 200 was late) is answered 200 without running B's handler, then and after A is done."""
    store = Recording()
    gate = anyio.Event()
    ran: list[str] = []

    def handler_for(name: str) -> Any:
        async def handler(event: MessageCreated) -> None:
            ran.append(name)
            await gate.wait()
        return handler

    a = webhook_app(handler_for("A"), allowed_networks=None, store=store)
    b = webhook_app(handler_for("B"), allowed_networks=None, store=store)
    async with lifespan(a), lifespan(b), anyio.create_task_group() as tasks:
        server_a, server_b = Direct(a, tasks), Direct(b, tasks)
        assert await server_a.post(message(1)) == 200
        await anyio.wait_all_tasks_blocked()
        assert await server_b.post(message(1)) == 200  # claimed by A: accepted there already
        gate.set()
        await server_a.settled()
        assert await server_b.post(message(1)) == 200  # done
        assert await server_b.post(message(1)) == 200  # done, and now remembered by B too
        await server_b.settled()
    assert ran == ["A"] and b.stats["duplicates"] == 3 and b.stats["dispatched"] == 0
    key = STORE_PREFIX + "m:mid:C1.1"
    assert [c[:2] for c in store.calls] == [("claim", key), ("claim", key), ("finish", key), ("claim", key)]
    assert store.calls[0][2] == a.holder != b.holder == store.calls[1][2]
    assert store.calls[0][3] == 60 + CLAIM_MARGIN + 4  # the claim outlives the handler's deadline
    assert store.calls[2][3:] == ("handled", KEEP_HANDLED)  # kept past OK's 8 hours of retries


@pytest.mark.anyio
async def test_after_handler_a_failure_on_one_server_is_run_by_the_next(caplog: pytest.LogCaptureFixture) -> None:
    store = Recording()
    ran: list[str] = []

    def handler_for(name: str) -> Any:
        async def handler(event: MessageCreated) -> None:
            ran.append(name)
            if name == "A":
                raise RuntimeError("A crashed")
        return handler

    a = webhook_app(handler_for("A"), allowed_networks=None, store=store, answer="after_handler")
    b = webhook_app(handler_for("B"), allowed_networks=None, store=store, answer="after_handler")
    async with anyio.create_task_group() as tasks:
        server_a, server_b = Direct(a, tasks), Direct(b, tasks)
        with caplog.at_level(logging.ERROR, "okru.webhook"):
            assert await server_a.post(message(1)) == 500  # A's handler crashed: its claim is released
        assert await server_b.post(message(1)) == 200  # so OK's redelivery to B runs it
        assert await server_a.post(message(1)) == 200  # and a later one to A finds it done
        await server_a.settled()
    assert ran == ["A", "B"]
    assert [c[0] for c in store.calls] == ["claim", "release", "claim", "finish", "claim"]
    assert "A crashed" in caplog.text and "answered 500 so OK delivers it again" in caplog.text


@pytest.mark.anyio
async def test_after_handler_a_delivery_finding_the_event_running_elsewhere_gets_503() -> None:
    store = MemoryStore()
    gate = anyio.Event()
    ran: list[str] = []

    async def slow(event: MessageCreated) -> None:
        ran.append("A")
        await gate.wait()

    async def other(event: MessageCreated) -> None:
        ran.append("B")

    a = webhook_app(slow, allowed_networks=None, store=store, answer="after_handler")
    b = webhook_app(other, allowed_networks=None, store=store, answer="after_handler")
    async with lifespan(a), lifespan(b), anyio.create_task_group() as tasks:
        server_a, server_b = Direct(a, tasks), Direct(b, tasks)
        first = anyio.Event()

        async def deliver_to_a() -> None:
            assert await server_a.post(message(1)) == 200
            first.set()
        tasks.start_soon(deliver_to_a)
        await anyio.wait_all_tasks_blocked()
        assert await server_b.post(message(1)) == 503  # running on A, outcome unknown: come back later
        gate.set()
        with anyio.fail_after(WAIT):
            await first.wait()
        assert await server_b.post(message(1)) == 200  # done on A
        await server_b.settled()
    assert ran == ["A"] and b.stats["busy"] == 1


@pytest.mark.anyio
async def test_a_handler_cancelled_at_shutdown_releases_its_claim() -> None:
    store = Recording()

    async def hung(event: MessageCreated) -> None:
        await anyio.sleep_forever()

    app = webhook_app(hung, allowed_networks=None, store=store, shutdown_timeout=0)
    async with lifespan(app), anyio.create_task_group() as tasks:
        assert await Direct(app, tasks).post(message(1)) == 200
        await anyio.wait_all_tasks_blocked()
    # The cancelled handler's release went through its cancellation (shielded): another server
    # may run the event at once, not after the claim's TTL.
    assert [c[0] for c in store.calls] == ["claim", "release"] and app.stats["cancelled"] == 1
    assert (await store.aclaim(STORE_PREFIX + "m:mid:C1.1", "another server", 10)).status == "claimed"


class Failing(MemoryStore):
    """A store that fails while ``down``."""

    down = True

    async def aclaim(self, key: str, holder: str, ttl: float) -> Claim:
        if self.down:
            raise StoreError("the store is down (test)")
        return await super().aclaim(key, holder, ttl)

    async def afinish(self, key: str, holder: str, outcome: str, keep: float) -> bool:
        if self.down:
            raise StoreError("the store is down (test)")
        return await super().afinish(key, holder, outcome, keep)


@pytest.mark.anyio
async def test_a_failing_store_gets_503_and_the_event_is_handled_when_it_is_back(
        caplog: pytest.LogCaptureFixture) -> None:
    store = Failing()
    ran: list[int] = []

    async def handler(event: MessageCreated) -> None:
        ran.append(event.message.seq or 0)
        store.down = True  # fails again while the outcome is recorded

    app = webhook_app(handler, allowed_networks=None, store=store)
    with caplog.at_level(logging.WARNING, "okru.webhook"):
        async with anyio.create_task_group() as tasks:
            server = Direct(app, tasks)
            assert await server.post(message(1)) == 503  # the store cannot say: not now
            assert ran == [] and app.running == 0
            store.down = False
            assert await server.post(message(1)) == 200  # OK's redelivery: the store is back
            await server.settled()
    assert ran == [1] and app.stats["store_errors"] == 2
    assert "the store failed (StoreError: the store is down (test)), so an event could not be claimed" in caplog.text
    assert "recording a handled event" in caplog.text


@pytest.mark.anyio
async def test_events_without_an_id_are_never_claimed() -> None:
    store = Recording()
    ran: list[str | None] = []

    async def handler(event: WebhookEvent) -> None:
        ran.append(event.webhook_type)  # (a system event's `type` is its own, e.g. CHAT_STARTED)

    app = webhook_app(handler, allowed_networks=None, store=store)
    async with anyio.create_task_group() as tasks:
        server = Direct(app, tasks)
        assert [await server.post(SYSTEM) for _ in range(2)] == [200, 200]
        await server.settled()
    assert ran == ["CHAT_SYSTEM", "CHAT_SYSTEM"] and store.calls == []
