"""The router's rules, one at a time: filters, order, include, what handlers receive, state and
its data in every store (on asyncio and trio), errors and hooks, middlewares, the blocking path."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from okru_proto import UsageError
from okru_proto.bots import ANY_STATE, Router, State, SyncState, parse_webhook

CHAT = "chat:C1"


def msg(text: str | None, user: str = "user:1", chat: str = CHAT) -> Any:
    body: dict[str, Any] = {"webhookType": "MESSAGE_CREATED", "sender": {"user_id": user, "name": "Вася"},
                            "recipient": {"chat_id": chat}, "message": {"mid": f"mid:{text}"}, "timestamp": 1}
    if text is not None:
        body["message"]["text"] = text
    return parse_webhook(json.dumps(body))


def press(payload: str, user: str = "user:1") -> Any:
    return parse_webhook(json.dumps({"webhookType": "MESSAGE_CALLBACK", "callbackId": "c", "payload": payload,
                                     "sender": {"user_id": user}, "recipient": {"chat_id": CHAT}}))


def system(kind: str | None) -> Any:
    return parse_webhook(json.dumps({"webhookType": "CHAT_SYSTEM", "type": kind, "recipient": {"chat_id": CHAT}}))


def run(coroutine: Any) -> Any:
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("suspended")


def test_filters_and_first_match_in_registration_order() -> None:
    router, seen = Router(), []
    router.message(command="start")(lambda event: seen.append(("start", event.text)))
    router.message(command=["/help", "info"])(lambda: seen.append(("help",)))
    router.message(text="привет")(lambda: seen.append(("text",)))
    router.message(pattern=r"(\d+)")(lambda match: seen.append(("digits", match.group(1))))
    router.callback(payload="yes")(lambda event: seen.append(("yes", event.payload)))
    router.callback()(lambda: seen.append(("any press",)))
    router.system(type="CHAT_STARTED")(lambda event: seen.append(("started", event.type)))
    router.message()(lambda: seen.append(("any message",)))
    router.event()(lambda event: seen.append(("fallback", event.webhook_type)))
    for event in (msg("/start now"), msg("/help"), msg("/info x"), msg("привет"), msg("call 911"), msg("/start123"),
                  msg(None), press("yes"), press("no"), system("CHAT_STARTED"), system("OTHER"),
                  parse_webhook(b'{"webhookType":"NEW"}')):
        assert run(router.feed(event, None)) is True
    assert seen == [("start", "/start now"), ("help",), ("help",), ("text",), ("digits", "911"),
                    ("digits", "123"), ("any message",), ("yes", "yes"), ("any press",), ("started", "CHAT_STARTED"),
                    ("fallback", "CHAT_SYSTEM"), ("fallback", "NEW")]


def test_nothing_matches_is_false_and_a_catch_all_first_takes_everything() -> None:
    router = Router()
    router.message(command="start")(lambda: None)
    assert run(router.feed(msg("hello"), None)) is False
    first, seen = Router(), []
    first.event()(lambda: seen.append("all"))
    first.message(command="start")(lambda: seen.append("start"))
    run(first.feed(msg("/start"), None))
    assert seen == ["all"]


def test_own_handlers_come_before_included_ones_whatever_the_order_of_registration() -> None:
    root, child, grandchild, seen = Router(name="root"), Router(), Router(), []
    root.include(child)
    child.include(grandchild)
    grandchild.message(command="go")(lambda: seen.append("grandchild"))
    child.message(command="go")(lambda: seen.append("child"))
    root.message(command="go")(lambda: seen.append("root"))
    root.message(text="/go")(lambda: seen.append("never"))
    run(root.feed(msg("/go"), None))
    run(child.feed(msg("/go"), None))
    run(grandchild.feed(msg("/go"), None))
    assert seen == ["root", "child", "grandchild"]
    assert "root" in repr(root)


def test_include_refuses_cycles_twice_and_non_routers() -> None:
    a, b, c = Router(), Router(), Router()
    a.include(b)
    b.include(c)
    for bad in (lambda: a.include(a), lambda: c.include(a), lambda: a.include(c), lambda: a.include("b")):  # type: ignore[arg-type]
        with pytest.raises(UsageError):
            bad()


def test_handlers_get_what_they_name_and_bad_signatures_are_refused() -> None:
    router, got = Router(), {}

    async def handler(bot: Any, state: State, event: Any, match: Any) -> None:
        got.update(bot=bot, state=state, event=event, match=match)

    router.message(pattern="x+")(handler)
    run(router.feed(msg("axxb"), "the bot"))
    assert got["bot"] == "the bot" and got["event"].text == "axxb" and got["match"].group(0) == "xx"
    assert isinstance(got["state"], State) and (got["state"].chat_id, got["state"].user_id) == (CHAT, "user:1")
    with pytest.raises(UsageError, match="message"):
        router.message()(lambda message: None)
    with pytest.raises(UsageError, match="positional-only"):
        exec("def f(event, /): pass", scope := {})
        router.message()(scope["f"])
    router.message()(lambda event, extra=1, *args, **kwargs: None)  # defaults and *args are left alone
    for bad in ({"command": ""}, {"command": "two words"}, {"text": 5}, {"pattern": "("}, {"pattern": 5},
                {"state": ""}, {"state": []}, {"command": []}):
        with pytest.raises(UsageError):
            router.message(**bad)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        Router(store="memory")  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        Router(state_ttl=60)  # no store that expires values
    with pytest.raises(UsageError):
        router.errors(lambda nonsense: None)


def test_registration_after_feeding_is_seen() -> None:
    router, seen = Router(), []
    router.message(command="a")(lambda: seen.append("a"))
    run(router.feed(msg("/b"), None))
    router.message(command="b")(lambda: seen.append("b"))
    child = router.include(Router())
    run(router.feed(msg("/b"), None))
    child.message(command="c")(lambda: seen.append("c"))
    run(router.feed(msg("/c"), None))
    assert seen == ["b", "c"]


def test_event_types_say_what_to_subscribe_to() -> None:
    router = Router()
    assert router.event_types() == ()
    router.message()(lambda: None)
    router.include(Router()).system()(lambda: None)
    assert router.event_types() == ("MESSAGE_CREATED", "CHAT_SYSTEM")
    router.event()(lambda: None)
    assert router.event_types() is None


# -- state ------------------------------------------------------------------------------------------

def _conversation_router(store: Any = None) -> tuple[Router, list[str]]:
    router, said = Router(store=store), []

    @router.message(command="start")
    async def start(state: State) -> None:
        await state.set("name")
        said.append("name?")

    @router.message(state="name")
    async def name(event: Any, state: State) -> None:
        await state.update_data(name=event.text)
        await state.set("age")
        said.append("age?")

    @router.message(state="age")
    async def age(event: Any, state: State) -> None:
        data = await state.update_data(age=int(event.text))
        await state.clear()
        said.append(f"{data['name']} {data['age']}")

    @router.message(state=None)
    async def idle() -> None:
        said.append("say /start")

    return router, said


@pytest.fixture(params=["core-memory", "okru_stores-memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "core-memory":
        return None
    import okru_stores

    if request.param == "okru_stores-memory":
        return okru_stores.MemoryStore()
    return okru_stores.SQLiteStore(tmp_path / "state.db")


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_a_conversation_per_chat_and_user_in_every_store(store: Any) -> None:
    router, said = _conversation_router(store)
    for event in (msg("hi"), msg("/start"), msg("/start", user="user:2"), msg("Вася"), msg("Петя", user="user:2"),
                  msg("30"), msg("hi"), msg("41", user="user:2"), msg("Маша", chat="chat:C2")):
        assert await router.feed(event, None)
    assert said == ["say /start", "name?", "name?", "age?", "age?", "Вася 30", "say /start", "Петя 41", "say /start"]


def test_state_data_and_errors() -> None:
    router, states = Router(), []
    router.message()(lambda state: states.append(state))
    run(router.feed(msg("x"), None))
    state = states[0]
    assert "not read" in repr(state)
    assert run(state.get()) is None and run(state.get_data()) == {}
    run(state.set_data({"a": [1, "б"]}))
    assert run(state.update_data(b=2)) == {"a": [1, "б"], "b": 2}
    run(state.set("s1"))
    assert run(state.get()) == "s1" and "'s1'" in repr(state)
    run(state.set(None))
    assert run(state.get()) is None and run(state.get_data()) == {"a": [1, "б"], "b": 2}  # set(None) keeps data
    for bad in (lambda: state.set(""), lambda: state.set(5), lambda: state.set_data({"x": object()}),
                lambda: state.set_data([1]), lambda: state.set_data({1: 2})):
        with pytest.raises(UsageError):
            run(bad())
    run(state.clear())
    assert run(state.get_data()) == {}


def test_the_blocking_path_has_the_same_rules_with_sync_state() -> None:
    router, said = Router(), []

    @router.message(command="start")
    def start(state: SyncState) -> None:
        state.set("name")
        state.update_data(step=1)

    @router.message(state="name")
    def name(event: Any, state: SyncState) -> None:
        said.append((event.text, state.get(), state.get_data()))
        state.clear()

    assert router.feed_sync(msg("/start"), None)
    assert router.feed_sync(msg("Вася"), None)
    assert not router.feed_sync(msg("again"), None)
    assert said == [("Вася", "name", {"step": 1})]

    @router.message(command="async")
    async def coroutine() -> None:
        pass

    with pytest.raises(UsageError, match="async"):
        router.feed_sync(msg("/async"), None)
    sneaky = Router()
    sneaky.message()(lambda: coroutine())  # a plain function returning an awaitable
    with pytest.raises(UsageError, match="awaitable"):
        sneaky.feed_sync(msg("x"), None)


# -- errors, hooks, middlewares ---------------------------------------------------------------------

def test_a_failing_handler_is_logged_without_the_message_and_the_next_event_is_routed(
        caplog: pytest.LogCaptureFixture) -> None:
    router, seen = Router(), []

    @router.message(command="boom")
    def boom() -> None:  # a plain function: it runs on both paths
        raise RuntimeError("handler bug")

    router.message()(lambda event: seen.append(event.text))
    with caplog.at_level(logging.ERROR, logger="okru.bots"):
        assert run(router.feed(msg("/boom secret-text"), None)) is True
        assert router.feed_sync(msg("/boom secret-text"), None) is True
    assert len(caplog.records) == 2 and all(r.name == "okru.bots" for r in caplog.records)
    assert "boom" in caplog.records[0].getMessage() and "MESSAGE_CREATED in chat:C1" in caplog.records[0].getMessage()
    assert "secret-text" not in caplog.text.replace("handler bug", "")
    assert caplog.records[0].exc_info is not None
    run(router.feed(msg("next"), None))
    assert seen == ["next"]


def test_error_hooks_nearest_router_first_and_a_failing_hook_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    root, child, got = Router(), Router(), []
    root.include(child)

    @child.message(command="a")
    def a() -> None:
        raise ValueError("a")

    @root.message(command="b")
    def b() -> None:
        raise KeyError("b")

    @child.errors
    async def child_hook(error: Exception, event: Any, state: State) -> None:
        got.append(("child", type(error).__name__, event.text, isinstance(state, State)))

    @root.errors
    def root_hook(error: Exception) -> None:
        got.append(("root", type(error).__name__))
        raise RuntimeError("hook bug")

    run(root.feed(msg("/a"), None))
    with caplog.at_level(logging.ERROR, logger="okru.bots"):
        run(root.feed(msg("/b"), None))
    assert got == [("child", "ValueError", "/a", True), ("root", "KeyError")]
    assert "error hook failed" in caplog.text
    # Cancellation and other BaseExceptions are never swallowed.
    stop = Router()
    stop.message()(lambda: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        stop.feed_sync(msg("x"), None)


def test_middlewares_wrap_outermost_first_and_may_skip() -> None:
    root, child, trail = Router(), Router(), []
    root.include(child)

    @root.middleware
    async def outer(call: Any, event: Any, bot: Any) -> Any:
        trail.append("outer>")
        if event.text == "/skip":
            return None
        result = await call()
        trail.append("<outer")
        return result

    @child.middleware
    async def inner(call: Any, event: Any, bot: Any) -> Any:
        trail.append("inner>")
        return await call()

    child.message(command=["go", "skip"])(lambda bot: trail.append(f"handler({bot})"))
    assert run(root.feed(msg("/go"), "B"))
    assert trail == ["outer>", "inner>", "handler(B)", "<outer"]
    trail.clear()
    assert run(root.feed(msg("/skip"), "B"))
    assert trail == ["outer>"]
    sync_root, sync_trail = Router(), []
    sync_root.middleware(lambda call, event, bot: (sync_trail.append("mw"), call())[1])
    sync_root.message()(lambda: sync_trail.append("handler"))
    assert sync_root.feed_sync(msg("x"), None)
    assert sync_trail == ["mw", "handler"]
    with pytest.raises(UsageError):
        sync_root.middleware("nope")  # type: ignore[arg-type]


def test_any_state_is_the_default_and_state_lists() -> None:
    router, seen = Router(), []
    router.message(command="in")(lambda: None)
    router.message(state=["a", None], command="x")(lambda: seen.append("a-or-none"))
    router.message(state=ANY_STATE, command="x")(lambda: seen.append("any"))
    run(router.feed(msg("/x"), None))
    assert seen == ["a-or-none"]
    assert repr(ANY_STATE) == "ANY_STATE"


def test_state_ttl_forgets_a_conversation_left_alone() -> None:
    import okru_stores

    now = [1000.0]
    router, said = Router(store=okru_stores.MemoryStore(clock=lambda: now[0]), state_ttl=60), []

    @router.message(command="start")
    def start(state: SyncState) -> None:
        state.set("name")
        state.update_data(step=1)

    @router.message(state="name")
    def name(state: SyncState) -> None:
        said.append(("name", state.get_data()))

    @router.message()
    def idle() -> None:
        said.append(("idle",))

    router.feed_sync(msg("/start"), None)
    now[0] += 59
    router.feed_sync(msg("Вася"), None)
    now[0] += 61
    router.feed_sync(msg("Петя"), None)
    assert said == [("name", {"step": 1}), ("idle",)]
    with pytest.raises(UsageError):
        Router(store=okru_stores.MemoryStore(), state_ttl=0)
