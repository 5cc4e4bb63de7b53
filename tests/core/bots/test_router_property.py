"""The router picks what a hand-written ``if/elif`` chain picks (issue 23's proof).

Hypothesis builds routers (handlers with random filter sets, nested ``include``s) and event
sequences; a reference written the plain way (walk the handlers in registration order, own
before included, check every filter) says which handler each event goes to, tracking each
conversation's state as the handlers change it. The router, with its indexes and fast paths,
must pick the same handler every time, on the async path (``feed``) and the blocking one
(``feed_sync``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from okru_proto.bots import ANY_STATE, Router, parse_webhook

COMMANDS = ["start", "help", "go"]
TEXTS = ["hello", "/start", "/go now", "yes"]
PATTERNS = [r"^/", r"ll", r"\d+"]
PAYLOADS = ["yes", "no", "later"]
SYSTEM_TYPES = ["CHAT_STARTED", "MEMBER_ADDED"]
STATES = ["asking", "done"]
MESSAGE_TEXTS = ["/start", "/start 42", "/help", "/go now", "/go", "hello", "yes", "call 911", "", "/ start",
                 "/unknown", None]
CHATS = ["chat:C1", "chat:C2"]
USERS = ["user:1", "user:2"]
UNSET = object()


@dataclass
class Spec:
    kind: str  # message, callback, system, any
    commands: list[str] | None = None
    texts: list[str] | None = None
    pattern: str | None = None
    payloads: list[str] | None = None
    types: list[str] | None = None
    state: Any = ANY_STATE
    then: Any = UNSET  # the state the handler sets (None clears it; UNSET leaves it)
    shape: int = 0  # which parameters a handler that sets no state takes (the router's fast paths)
    index: int = -1


@dataclass
class Tree:
    specs: list[Spec]
    children: list[Tree] = field(default_factory=list)


def _states() -> st.SearchStrategy[Any]:
    return st.one_of(st.just(ANY_STATE), st.none(), st.sampled_from(STATES),
                     st.lists(st.sampled_from([*STATES, None]), min_size=1, max_size=2))


def _maybe(values: list[str]) -> st.SearchStrategy[list[str] | None]:
    return st.one_of(st.none(), st.lists(st.sampled_from(values), min_size=1, max_size=2, unique=True))


specs = st.one_of(
    st.builds(Spec, kind=st.just("message"), commands=_maybe(COMMANDS), texts=_maybe(TEXTS),
              pattern=st.one_of(st.none(), st.sampled_from(PATTERNS)), state=_states(),
              then=st.sampled_from([UNSET, UNSET, None, *STATES]), shape=st.integers(0, 4)),
    st.builds(Spec, kind=st.just("callback"), payloads=_maybe(PAYLOADS), state=_states(),
              then=st.sampled_from([UNSET, UNSET, None, *STATES]), shape=st.integers(0, 4)),
    st.builds(Spec, kind=st.just("system"), types=_maybe(SYSTEM_TYPES), state=_states(),
              then=st.sampled_from([UNSET, UNSET, None, *STATES]), shape=st.integers(0, 4)),
    st.builds(Spec, kind=st.just("any"), then=st.sampled_from([UNSET, UNSET, None, *STATES]),
              shape=st.integers(0, 4)),
)
trees = st.recursive(st.builds(Tree, st.lists(specs, max_size=6)),
                     lambda inner: st.builds(Tree, st.lists(specs, max_size=6), st.lists(inner, max_size=2)),
                     max_leaves=4)


def _body(kind: str, chat: str, user: str, value: Any) -> bytes:
    import json

    base: dict[str, Any] = {"sender": {"user_id": user}, "recipient": {"chat_id": chat}, "timestamp": 1}
    if kind == "message":
        message: dict[str, Any] = {"mid": "mid:1"}
        if value is not None:
            message["text"] = value
        body = {"webhookType": "MESSAGE_CREATED", **base, "message": message}
    elif kind == "callback":
        body = {"webhookType": "MESSAGE_CALLBACK", **base, "callbackId": "c1", "payload": value}
    elif kind == "system":
        body = {"webhookType": "CHAT_SYSTEM", **base, "type": value}
    else:
        body = {"webhookType": "SOMETHING_NEW", **base}
    return json.dumps(body).encode()


events = st.lists(st.one_of(
    st.tuples(st.just("message"), st.sampled_from(CHATS), st.sampled_from(USERS), st.sampled_from(MESSAGE_TEXTS)),
    st.tuples(st.just("callback"), st.sampled_from(CHATS), st.sampled_from(USERS), st.sampled_from([*PAYLOADS, "x"])),
    st.tuples(st.just("system"), st.sampled_from(CHATS), st.sampled_from(USERS),
              st.sampled_from([*SYSTEM_TYPES, "OTHER"])),
    st.tuples(st.just("other"), st.sampled_from(CHATS), st.sampled_from(USERS), st.none()),
), min_size=1, max_size=12)


def _flatten(tree: Tree) -> list[Spec]:
    out = list(tree.specs)
    for child in tree.children:
        out += _flatten(child)
    return out


def _state_ok(wanted: Any, current: str | None) -> bool:
    if wanted is ANY_STATE:
        return True
    if wanted is None or isinstance(wanted, str):
        return current == wanted
    return current in wanted


def reference(order: list[Spec], kind: str, value: Any, current: str | None) -> Spec | None:
    """The plain if/elif chain: the first handler (in flattened order) whose filters all hold."""
    for spec in order:
        if spec.kind != "any" and spec.kind != kind:
            continue
        if spec.kind == "any":
            return spec
        if not _state_ok(spec.state, current):
            continue
        if kind == "message":
            text = value if isinstance(value, str) and value else None
            if spec.commands is not None and (text is None or not text.startswith("/")
                                              or text.split()[0][1:] not in spec.commands):
                continue
            if spec.texts is not None and text not in spec.texts:
                continue
            if spec.pattern is not None and (text is None or not re.search(spec.pattern, text)):
                continue
        elif ((kind == "callback" and spec.payloads is not None and value not in spec.payloads)
              or (kind == "system" and spec.types is not None and value not in spec.types)):
            continue
        return spec
    return None


def _handler(spec: Spec, picked: list[int], blocking: bool) -> Any:
    """A handler recording its pick; one that changes the state takes ``state``, the others take
    one of the parameter lists the router calls positionally."""
    if spec.then is not UNSET:
        if blocking:
            def with_state(state: Any) -> None:
                picked.append(spec.index)
                state.set(spec.then)
            return with_state

        async def with_state_async(state: Any, event: Any) -> None:
            assert event is not None
            picked.append(spec.index)
            await state.set(spec.then)
        return with_state_async

    def note(*args: Any) -> None:
        picked.append(spec.index)

    shapes = [lambda: note(), lambda event: note(event), lambda bot: note(bot),
              lambda event, bot: note(event, bot), lambda bot, event: note(bot, event)]
    plain = shapes[spec.shape]
    if blocking or spec.shape % 2:
        return plain  # a plain function is fine on the async path too

    async def coroutine(*args: Any, **kwargs: Any) -> None:
        plain(*args, **kwargs)
    coroutine.__signature__ = __import__("inspect").signature(plain)  # type: ignore[attr-defined]
    return coroutine


def _register(router: Router, spec: Spec, picked: list[int], blocking: bool) -> None:
    handler = _handler(spec, picked, blocking)
    if spec.kind == "message":
        router.message(command=spec.commands, text=spec.texts, pattern=spec.pattern, state=spec.state)(handler)
    elif spec.kind == "callback":
        router.callback(payload=spec.payloads, state=spec.state)(handler)
    elif spec.kind == "system":
        router.system(type=spec.types, state=spec.state)(handler)
    else:
        router.event()(handler)


def _build(tree: Tree, picked: list[int], blocking: bool) -> Router:
    router = Router()
    for spec in tree.specs:
        _register(router, spec, picked, blocking)
    for child in tree.children:
        router.include(_build(child, picked, blocking))
    return router


def _run(coroutine: Any) -> Any:
    # The default store never waits: the coroutine finishes on its first step.
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("the router suspended without a reason")


@settings(max_examples=300)
@given(trees, events, st.booleans())
def test_router_picks_what_the_reference_chain_picks(tree: Tree, sequence: list[Any], blocking: bool) -> None:
    order = _flatten(tree)
    for n, spec in enumerate(order):
        spec.index = n
    picked: list[int] = []
    router = _build(tree, picked, blocking)
    states: dict[tuple[str, str], str | None] = {}
    for kind, chat, user, value in sequence:
        event = parse_webhook(_body(kind, chat, user, value))
        expected = reference(order, kind, value, states.get((chat, user)))
        before = len(picked)
        matched = router.feed_sync(event, None) if blocking else _run(router.feed(event, None))
        assert matched is (expected is not None)
        assert picked[before:] == ([] if expected is None else [expected.index])
        if expected is not None and expected.then is not UNSET:
            states[(chat, user)] = expected.then
