"""Long polling and running a router, once, on every adapter against the emulator."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import anyio.to_thread
import pytest

from okru_proto import UsageError
from okru_proto.bots import CallbackPressed, ChatSystemEvent, MessageCreated, Router, parse_webhook
from okru_proto.testing import FakeOK

from .conftest import MEMBER, BotAdapter, held, until

pytestmark = pytest.mark.anyio


def _updates(fake: FakeOK) -> list[Any]:
    return fake.calls("/graph/me/updates")


async def test_updates_in_order_each_once_waiting_on_the_server(bots: BotAdapter, fake: FakeOK) -> None:
    chat = fake.bots.chat_id
    bot = bots.bot(fake, wire="loopback")
    events = bot.updates(timeout=5)
    try:
        # No subscription yet: the first poll is told so (5000), the bot subscribes, polls again
        # and that poll is held open by the server: nothing is lost from then on.
        got = []

        async def consume() -> None:
            got.extend(await bots.take(events, 3))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(consume)
            await until(held(fake))
            # (the held poll is logged when it is answered)
            assert [r.path for r in fake.requests] == ["/graph/me/updates", "/graph/me/subscribe"]
            fake.bots.user_writes(chat, MEMBER, "первое")
            callback = fake.bots.press(chat, MEMBER, "yes")
            fake.bots.system_event(chat, type="CHAT_STARTED")
        assert [type(e) for e in got] == [MessageCreated, CallbackPressed, ChatSystemEvent]
        # The same events parse_webhook gives for the bodies OK delivers.
        assert got == [parse_webhook(__import__("json").dumps(body)) for body in fake.bots.polled]
        assert got[0].text == "первое" and got[1].callback_id == callback and got[2].type == "CHAT_STARTED"
        # One held poll carried them (the server answered when the first event came, the rest came
        # with it or in the next poll): a client that spun would have sent many more.
        assert len(_updates(fake)) <= 4
        assert fake.bots.long_polling is not None
        assert len(fake.calls("/graph/me/subscribe")) == 1
        # Later events come in order, each once, following the marker.
        for n in range(5):
            fake.bots.user_writes(chat, MEMBER, f"m{n}")
        more = await bots.take(events, 5)
        assert [e.text for e in more] == [f"m{n}" for n in range(5)]
        assert "marker" in _updates(fake)[-1].params
    finally:
        await bots.close_iterator(events)
        await bots.close(bot)


async def test_a_loop_that_stops_mid_batch_loses_nothing_and_repeats_nothing(bots: BotAdapter, fake: FakeOK) -> None:
    chat = fake.bots.chat_id
    bot = bots.bot(fake)
    try:
        assert await bots.call(bot.subscribe, long_polling=True) is True
        for n in range(4):
            fake.bots.user_writes(chat, MEMBER, f"m{n}")
        first = bot.updates()
        assert [e.text for e in await bots.take(first, 2)] == ["m0", "m1"]  # all 4 came in one reply
        await bots.close_iterator(first)
        second = bot.updates()
        assert [e.text for e in await bots.take(second, 2)] == ["m2", "m3"]
        fake.bots.user_writes(chat, MEMBER, "m4")
        assert [e.text for e in await bots.take(second, 1)] == ["m4"]
        await bots.close_iterator(second)
    finally:
        await bots.close(bot)


async def test_transport_failures_back_off_and_polling_goes_on(bots: BotAdapter, fake: FakeOK) -> None:
    bot = bots.bot(fake)
    slept: list[float] = []
    bots.record_sleeps(bot, slept)
    events = bot.updates()
    try:
        await bots.call(bot.subscribe, long_polling=True)
        fake.bots.user_writes(fake.bots.chat_id, MEMBER, "after the outage")
        fake.inject("reset", method="/graph/me/updates", times=3)
        got = await bots.take(events, 1)
        assert got[0].text == "after the outage"
        assert len(slept) == 3 and 0.5 <= slept[0] <= 1 and 1 <= slept[1] <= 2 and 2 <= slept[2] <= 4
        assert len(_updates(fake)) == 4
    finally:
        await bots.close_iterator(events)
        await bots.close(bot)


async def test_types_filter_and_a_refused_token_is_raised(bots: BotAdapter, fake: FakeOK) -> None:
    bot = bots.bot(fake)
    events = bot.updates(types=["CHAT_SYSTEM"])
    try:
        await bots.call(bot.subscribe, long_polling=True)
        fake.bots.user_writes(fake.bots.chat_id, MEMBER, "not wanted")
        fake.bots.system_event(fake.bots.chat_id, type="CHAT_STARTED")
        assert [e.webhook_type for e in await bots.take(events, 1)] == ["CHAT_SYSTEM"]
    finally:
        await bots.close_iterator(events)
    fake.bots.token_expired = True
    events = bot.updates()
    from okru_proto.errors import BotTokenError

    with pytest.raises(BotTokenError) as caught:
        await bots.take(events, 1)
    assert fake.bots.access_token not in str(caught.value)
    with pytest.raises(UsageError):
        await bots.take(bot.updates(types=["SOMETHING"]), 1)
    await bots.close(bot)


def _conversation(bots: BotAdapter) -> Router:
    router = Router()
    if bots.blocking:
        @router.message(command="start")
        def start(event: Any, bot: Any, state: Any) -> None:
            state.set("name")
            bot.typing(event.chat_id)
            bot.send(event.chat_id, "Как вас зовут?")

        @router.message(state="name")
        def name(event: Any, bot: Any, state: Any) -> None:
            state.clear()
            bot.send(event.chat_id, f"Привет, {event.text}!")

        @router.callback(payload="boom")
        def boom() -> None:
            raise RuntimeError("a handler bug")
    else:
        @router.message(command="start")
        async def start_async(event: Any, bot: Any, state: Any) -> None:
            await state.set("name")
            await bot.typing(event.chat_id)
            await bot.send(event.chat_id, "Как вас зовут?")

        @router.message(state="name")
        async def name_async(event: Any, bot: Any, state: Any) -> None:
            await state.clear()
            await bot.send(event.chat_id, f"Привет, {event.text}!")

        @router.callback(payload="boom")
        async def boom_async() -> None:
            raise RuntimeError("a handler bug")
    return router


async def test_run_polling_feeds_the_router_and_stops_cleanly(bots: BotAdapter, fake: FakeOK,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    chat = fake.bots.chat_id
    bot = bots.bot(fake, wire="loopback")
    router = _conversation(bots)
    stop = threading.Event()
    replies = lambda: [m["message"]["text"] for m in fake.bots.sent(chat)]  # noqa: E731
    try:
        async with anyio.create_task_group() as tasks:
            if bots.blocking:
                tasks.start_soon(lambda: anyio.to_thread.run_sync(
                    lambda: bot.run_polling(router, timeout=5, stop=stop)))
            else:
                tasks.start_soon(lambda: bot.run_polling(router, timeout=5))
            await until(held(fake))
            # The router's kinds are what the bot subscribed to.
            assert fake.bots.long_polling is not None
            assert fake.bots.long_polling.types == ("MESSAGE_CREATED", "MESSAGE_CALLBACK")
            fake.bots.press(chat, MEMBER, "boom")  # a failing handler does not stop the loop
            fake.bots.user_writes(chat, MEMBER, "/start")
            await until(lambda: replies() == ["Как вас зовут?"])
            fake.bots.user_writes(chat, MEMBER, "Вася")
            await until(lambda: replies() == ["Как вас зовут?", "Привет, Вася!"])
            assert fake.bots.actions == [(chat, "TYPING_ON")]
            await until(held(fake))
            if bots.blocking:
                stop.set()
                fake.bots.user_writes(chat, MEMBER, "wakes the held poll")  # then the loop sees stop
            else:
                tasks.cancel_scope.cancel()
        assert "a handler bug" in caplog.text
    finally:
        await bots.close(bot)
    if not bots.blocking:
        assert bot.client.is_closed if hasattr(bot, "client") else True


async def test_run_polling_refuses_what_is_not_a_router(bots: BotAdapter, fake: FakeOK) -> None:
    bot = bots.bot(fake)
    with pytest.raises(UsageError):
        await bots.call(bot.run_polling, lambda event: None)
    assert fake.requests == []
    await bots.close(bot)


async def test_stopping_a_loop_is_clean_and_the_next_one_carries_on(bots: BotAdapter, fake: FakeOK) -> None:
    """Async adapters: the task is cancelled while the server holds its poll (asyncio and trio).
    The blocking adapter: Ctrl-C (KeyboardInterrupt) in a handler ends run_polling quietly.
    Either way the session stays usable and the next loop gets what came meanwhile, once."""
    chat = fake.bots.chat_id
    bot = bots.bot(fake, wire="loopback")
    router, seen = Router(), []
    if bots.blocking:
        @router.message()
        def note(event: Any) -> None:
            seen.append(event.text)
            if event.text == "stop":
                raise KeyboardInterrupt
    else:
        @router.message()
        async def note_async(event: Any) -> None:
            seen.append(event.text)
    try:
        if bots.blocking:
            fake.bots.user_writes(chat, MEMBER, "one")  # not subscribed yet: the first poll subscribes
            await bots.call(bot.subscribe, long_polling=True)
            fake.bots.user_writes(chat, MEMBER, "two")
            fake.bots.user_writes(chat, MEMBER, "stop")
            await bots.call(bot.run_polling, router, timeout=5)  # returns: no exception
            assert seen == ["two", "stop"]
        else:
            # The poll is held up to 30 s: the bound below proves it is abandoned at once instead.
            with anyio.fail_after(10), anyio.CancelScope() as scope:
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(lambda: bot.run_polling(router, timeout=30))
                    await until(held(fake))
                    fake.bots.user_writes(chat, MEMBER, "two")
                    await until(lambda: seen == ["two"])
                    await until(held(fake))
                    scope.cancel()
            assert scope.cancelled_caught
        fake.bots.user_writes(chat, MEMBER, "meanwhile")
        later = bot.updates(timeout=5)
        assert [e.text for e in await bots.take(later, 1)] == ["meanwhile"]
        await bots.close_iterator(later)
        assert await bots.call(bot.info)  # the session still works
    finally:
        await bots.close(bot)


async def test_the_token_never_reaches_the_logs_while_polling(bots: BotAdapter, fake: FakeOK,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    """Every logger at DEBUG (httpx's and httpcore's too) through a poll that is told to subscribe,
    one that fails on the wire, one that gets HTML, and one that gets an event."""
    import logging

    bot = bots.bot(fake)
    bots.record_sleeps(bot, [])
    events = bot.updates()
    try:
        with caplog.at_level(logging.DEBUG):
            fake.inject("reset", method="/graph/me/updates")
            fake.inject("html", method="/graph/me/updates")
            # The third poll hears "not subscribed" and subscribes; the event comes after that
            # (OK delivers only what happens once subscribed), so it is written as the
            # subscription is made.
            original = fake.bots.poll

            def poll(start: int, count: int) -> Any:
                if not fake.bots.polled:
                    fake.bots.user_writes(fake.bots.chat_id, MEMBER, "hi")
                return original(start, count)

            fake.bots.poll = poll  # type: ignore[method-assign]
            fake.hold_for = lambda request: 0.0  # type: ignore[method-assign]  # (over a socket: no holding)
            got = await bots.take(events, 1)
        assert got[0].text == "hi"
        assert [r.path for r in fake.requests][:4] == ["/graph/me/updates"] * 3 + ["/graph/me/subscribe"]
        assert "updates: TransportError" in caplog.text and "updates: ProtocolError" in caplog.text
        assert fake.bots.access_token not in caplog.text
        assert "CQABPOJKAKEKEKEKE" not in caplog.text
    finally:
        await bots.close_iterator(events)
        await bots.close(bot)


async def test_a_handler_that_hangs_is_cancelled_and_the_loop_goes_on(bots: BotAdapter, fake: FakeOK,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    """Async adapters bound each handler (handler_timeout); a blocking call cannot be cancelled,
    so the blocking run_polling has no such option (docs/bots.md says so)."""
    import inspect

    bot = bots.bot(fake, wire="loopback")
    if bots.blocking:
        assert "handler_timeout" not in inspect.signature(bot.run_polling).parameters
        await bots.close(bot)
        return
    router, seen = Router(), []
    never = anyio.Event()

    @router.message(text="hang")
    async def hang() -> None:
        await never.wait()

    @router.message()
    async def note(event: Any) -> None:
        seen.append(event.text)

    try:
        await bot.subscribe(long_polling=True)
        for text in ("hang", "after"):
            fake.bots.user_writes(fake.bots.chat_id, MEMBER, text)
        with anyio.fail_after(10), anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(lambda: bot.run_polling(router, timeout=5, handler_timeout=0.05))
                await until(lambda: seen == ["after"])
                scope.cancel()
        assert "the handler of a MESSAGE_CREATED event ran over 0.05 s and was cancelled" in caplog.text
        with pytest.raises(UsageError):
            await bot.run_polling(router, handler_timeout=0)
    finally:
        await bots.close(bot)
