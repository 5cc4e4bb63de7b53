"""The router: which handler a chat event goes to, and each conversation's state.

A bot registers handlers on a :class:`Router` with filters (``@router.message(command="start")``,
``@router.callback(payload="yes")``, ``@router.system(type="CHAT_STARTED")``, ``@router.event()``
for anything) and feeds it events, from long polling (``bot.run_polling(router)``) or a webhook
(``okru_asgi.webhook_app(router, bot=bot)``). The rules, as aiogram's routers and vkbottle's
labelers have them:

* the first handler whose filters all match wins, in registration order; a router's own
  handlers come before those of the routers it includes (:meth:`Router.include`), which come in
  the order they were included;
* a handler gets what it declares by parameter name: ``event``, ``bot``, ``state`` (the
  conversation's :class:`State`), ``match`` (the ``pattern=`` match);
* an exception in a handler goes to the router's error hooks (:meth:`Router.errors`), else it is
  logged on ``okru.bots``; it never reaches the loop that fed the event.

Conversation state is per chat and user, kept in the router's ``store`` (an
:class:`~okru_proto.ValueStore`: okru_stores' ``MemoryStore``, ``SQLiteStore`` or ``RedisStore``),
so a restarted bot, or another process sharing the store, carries on the conversation. Without a
store the state lives in this process's memory.

The router does no I/O of its own: the store's methods and the handlers are the only I/O, and
the async path only awaits them, so it runs under asyncio and trio alike. :meth:`Router.feed` is
the async path (handlers may be ``async def`` or plain functions); :meth:`Router.feed_sync` is
the blocking one (plain functions only, state through the store's blocking methods).
"""

from __future__ import annotations

import inspect
import json
import logging
import re
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .._errors import UsageError
from .._flow import is_async_callable
from .._store import ValueStore
from ._webhook import CallbackPressed, ChatSystemEvent, MessageCreated, WebhookEvent

__all__ = ["ANY_STATE", "Router", "State", "SyncState"]

log = logging.getLogger("okru.bots")

F = TypeVar("F", bound=Callable[..., Any])

#: The names a handler (or an error hook) may declare.
_HANDLER_PARAMS = frozenset({"event", "bot", "state", "match"})
_HOOK_PARAMS = frozenset({"event", "bot", "state", "error"})
#: Store keys: kinds of record apart by a prefix, chat and user by a newline (never in an id).
_STATE_KEY = "okru.bots.state\n{chat}\n{user}"
_DATA_KEY = "okru.bots.data\n{chat}\n{user}"


class _AnyState:
    """The default of ``state=``: match whatever the conversation's state is."""

    _instance: _AnyState | None = None

    def __new__(cls) -> _AnyState:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ANY_STATE"


#: ``state=ANY_STATE`` (the default): the handler matches in any state. ``state=None``: only
#: when no state is set.
ANY_STATE: Any = _AnyState()


# -- state --------------------------------------------------------------------------------------

class _MemoryValues:
    """The store a router without ``store=`` keeps its state in: this process's memory, no
    expiry (the :class:`~okru_proto.ValueStore` protocol, both forms; nothing here waits, so the
    async methods run under any loop)."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    def get_value(self, key: str) -> str | None:
        return self._values.get(key)

    def set_value(self, key: str, value: str, ttl: float | None = None) -> None:
        self._values[key] = value

    def delete_value(self, key: str) -> None:
        self._values.pop(key, None)

    async def aget_value(self, key: str) -> str | None:
        return self._values.get(key)

    async def aset_value(self, key: str, value: str, ttl: float | None = None) -> None:
        self._values[key] = value

    async def adelete_value(self, key: str) -> None:
        self._values.pop(key, None)


_UNREAD: Any = object()


def _check_name(name: object) -> str | None:
    if name is not None and (not isinstance(name, str) or not name):
        raise UsageError(f"a conversation state is a non-empty str (or None to clear it), got {name!r}")
    return name


def _dump(data: object) -> str:
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise UsageError("conversation data is a dict with str keys")
    try:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"conversation data must be JSON values (str, numbers, lists, dicts...): {exc}") from None


def _load(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class _StateBase:
    __slots__ = ("_cached", "_data_key", "_key", "_store", "_ttl", "chat_id", "user_id")

    def __init__(self, store: ValueStore, chat_id: str | None, user_id: str | None, ttl: float | None) -> None:
        self._store = store
        self.chat_id = chat_id
        self.user_id = user_id
        self._key = _STATE_KEY.format(chat=chat_id or "", user=user_id or "")
        self._data_key = _DATA_KEY.format(chat=chat_id or "", user=user_id or "")
        self._ttl = ttl
        self._cached: str | None = _UNREAD

    def __repr__(self) -> str:
        shown = "not read" if self._cached is _UNREAD else repr(self._cached)
        return f"{type(self).__name__}(chat_id={self.chat_id!r}, user_id={self.user_id!r}, state={shown})"


class State(_StateBase):
    """One conversation's state (a chat and a user), as a handler receives it: ``await
    state.get()``, ``await state.set("asking_name")``, ``await state.clear()``, and a small
    JSON ``data`` dict beside it (``get_data``/``update_data``/``set_data``). The state is read
    at most once per event (the router may have read it to match ``state=`` filters)."""

    __slots__ = ()

    async def get(self) -> str | None:
        """The state's name, or None when none is set."""
        if self._cached is _UNREAD:
            self._cached = await self._store.aget_value(self._key)
        return self._cached

    async def set(self, name: str | None) -> None:
        """Set the state (``None`` clears it; the data stays)."""
        if _check_name(name) is None:
            await self._store.adelete_value(self._key)
        else:
            await self._store.aset_value(self._key, name, self._ttl)  # type: ignore[arg-type]
        self._cached = name

    async def clear(self) -> None:
        """Forget the state and the data: the conversation starts over."""
        await self._store.adelete_value(self._key)
        await self._store.adelete_value(self._data_key)
        self._cached = None

    async def get_data(self) -> dict[str, Any]:
        return _load(await self._store.aget_value(self._data_key))

    async def set_data(self, data: dict[str, Any]) -> None:
        await self._store.aset_value(self._data_key, _dump(data), self._ttl)

    async def update_data(self, **values: Any) -> dict[str, Any]:
        """Merge ``values`` into the data; the new data."""
        data = {**await self.get_data(), **values}
        await self.set_data(data)
        return data


class SyncState(_StateBase):
    """The blocking twin of :class:`State` (handlers fed by ``feed_sync``: a blocking bot's
    ``run_polling``)."""

    __slots__ = ()

    def get(self) -> str | None:
        if self._cached is _UNREAD:
            self._cached = self._store.get_value(self._key)
        return self._cached

    def set(self, name: str | None) -> None:
        if _check_name(name) is None:
            self._store.delete_value(self._key)
        else:
            self._store.set_value(self._key, name, self._ttl)  # type: ignore[arg-type]
        self._cached = name

    def clear(self) -> None:
        self._store.delete_value(self._key)
        self._store.delete_value(self._data_key)
        self._cached = None

    def get_data(self) -> dict[str, Any]:
        return _load(self._store.get_value(self._data_key))

    def set_data(self, data: dict[str, Any]) -> None:
        self._store.set_value(self._data_key, _dump(data), self._ttl)

    def update_data(self, **values: Any) -> dict[str, Any]:
        data = {**self.get_data(), **values}
        self.set_data(data)
        return data


def _conversation(event: WebhookEvent) -> tuple[str | None, str | None]:
    raw = event.raw
    recipient = raw.get("recipient")
    sender = raw.get("sender")
    chat = recipient.get("chat_id") if isinstance(recipient, dict) else None
    user = sender.get("user_id") if isinstance(sender, dict) else None
    return (str(chat) if isinstance(chat, (str, int)) and chat != "" else None,
            str(user) if isinstance(user, (str, int)) and user != "" else None)


# -- handlers -----------------------------------------------------------------------------------

def _params(function: Callable[..., Any], allowed: frozenset[str], what: str) -> tuple[str, ...]:
    if not callable(function):
        raise UsageError(f"{what} must be a function, got {type(function).__name__}")
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        raise UsageError(f"{what} {function!r} has no readable signature") from None
    names: list[str] = []
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.name not in allowed:
            if param.default is not param.empty:
                continue
            raise UsageError(f"{what} {getattr(function, '__qualname__', function)!r} asks for {param.name!r}; "
                             f"okru passes {', '.join(sorted(allowed))} by name")
        if param.kind is param.POSITIONAL_ONLY:
            raise UsageError(f"{what} parameter {param.name!r} is positional-only; okru passes it by name")
        names.append(param.name)
    return tuple(names)


def _strings(value: str | Iterable[str] | None, what: str, check: Callable[[str], str] | None = None
             ) -> frozenset[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value) if isinstance(value, Iterable) else []
    if not items or not all(isinstance(v, str) and v for v in items):
        raise UsageError(f"{what} is a non-empty str or a collection of them, got {value!r}")
    return frozenset(check(v) if check else v for v in items)


def _command(name: str) -> str:
    name = name[1:] if name.startswith("/") else name
    if not name or any(c.isspace() for c in name) or "/" in name:
        raise UsageError(f"a command is a word such as 'start' (matching '/start'), got {name!r}")
    return name


def _states(value: object) -> frozenset[str | None] | None:
    """None: any state; else the set of accepted states (None in it: no state set)."""
    if value is ANY_STATE:
        return None
    if value is None or isinstance(value, str):
        return frozenset({_check_name(value)})
    if isinstance(value, Collection):
        items = list(value)
        if items:
            return frozenset(_check_name(v) for v in items)
    raise UsageError(f"state= is a state name, None (no state), a collection of them, or ANY_STATE; got {value!r}")


#: Event kinds, by the class parse_webhook returns.
_MESSAGE, _CALLBACK, _SYSTEM, _OTHER = 0, 1, 2, 3
_KIND = {MessageCreated: _MESSAGE, CallbackPressed: _CALLBACK, ChatSystemEvent: _SYSTEM}


@dataclass(eq=False, slots=True)
class _Handler:
    """One registration: its kind (None: any event), filters and how to call it."""

    kind: int | None
    function: Callable[..., Any]
    wants: tuple[str, ...]
    is_async: bool
    router: Router
    commands: frozenset[str] | None = None
    texts: frozenset[str] | None = None
    pattern: re.Pattern[str] | None = None
    payloads: frozenset[str] | None = None
    types: frozenset[str] | None = None
    states: frozenset[str | None] | None = None


def _no_function() -> None:  # pragma: no cover - every entry gets its handler's function
    return None


#: How a handler is called when it takes only ``event`` and/or ``bot``, positionally (the fast
#: path); None: by keyword through the general path.
_CALL_MODES = {(): 0, ("event",): 1, ("bot",): 2, ("event", "bot"): 3, ("bot", "event"): 4}


@dataclass(eq=False, slots=True)
class _Entry:
    """A handler as one feeding router sees it: its position, the hooks and middlewares of the
    routers between it and the feeding one (innermost first), and how to call it."""

    handler: _Handler
    position: int
    hooks: tuple[_Hook, ...]
    middlewares: tuple[Callable[..., Any], ...]
    mode: int | None = None
    # Copied from the handler: the hot loop reads them without a second lookup.
    states: frozenset[str | None] | None = None
    function: Callable[..., Any] = _no_function
    is_async: bool = False

    def __post_init__(self) -> None:
        if not self.middlewares:
            self.mode = _CALL_MODES.get(self.handler.wants)
        self.states, self.function, self.is_async = self.handler.states, self.handler.function, self.handler.is_async


_Hook = tuple[Callable[..., Any], tuple[str, ...]]
#: A candidate list: entries in dispatch order, each with "its filters other than state are
#: known to match" (it was found by the index key that is its only filter).
_Candidates = list[tuple[_Entry, bool]]


def _only_key(handler: _Handler, key: str) -> bool:
    others = [getattr(handler, name) for name in ("commands", "texts", "pattern", "payloads", "types") if name != key]
    return all(value is None for value in others)


@dataclass(eq=False)
class _Table:
    """A router's handlers flattened in dispatch order, with indexes by command, text and
    payload so an event looks only at the handlers that can match it."""

    entries: list[_Entry]
    by_kind: dict[int, list[_Entry]]
    commands: dict[str, list[_Entry]]
    texts: dict[str, list[_Entry]]
    payloads: dict[str, list[_Entry]]
    generic: dict[int, _Candidates]
    by_command: dict[str, _Candidates] = field(default_factory=dict)
    by_text: dict[str, _Candidates] = field(default_factory=dict)
    by_payload: dict[str, _Candidates] = field(default_factory=dict)
    cache: dict[tuple[str, str], _Candidates] = field(default_factory=dict)
    #: Commands whose first candidate always matches and is called the fast way: the dispatch
    #: is then one dict lookup, as a hand-written table's.
    direct: dict[str, _Entry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for index, target, key, kind in ((self.commands, self.by_command, "commands", _MESSAGE),
                                         (self.texts, self.by_text, "texts", _MESSAGE),
                                         (self.payloads, self.by_payload, "payloads", _CALLBACK)):
            for name, listed in index.items():
                target[name] = self._merge(self.generic[kind], [(e, _only_key(e.handler, key)) for e in listed])
        for name, merged in self.by_command.items():
            first, verified = merged[0]
            if verified and first.states is None and first.mode is not None:
                self.direct[name] = first

    @staticmethod
    def _merge(*lists: _Candidates) -> _Candidates:
        picked: dict[int, tuple[_Entry, bool]] = {}
        for listed in lists:
            for entry, verified in listed:
                if id(entry) not in picked or verified:
                    picked[id(entry)] = (entry, verified and picked.get(id(entry), (entry, True))[1])
        return sorted(picked.values(), key=lambda pair: pair[0].position)

    def messages(self, command: str | None, text: str | None) -> _Candidates:
        """The entries a message may match: by its command, by its whole text, or neither."""
        by_command = self.by_command.get(command) if command is not None else None
        by_text = self.by_text.get(text) if text is not None and self.by_text else None
        if by_text is None:
            return by_command if by_command is not None else self.generic[_MESSAGE]
        if by_command is None:
            return by_text
        key = (command, text)  # both indexes hit (rare): merged once, kept (keys are registered)
        found = self.cache.get(key)  # type: ignore[arg-type]
        if found is None:
            found = self.cache[key] = self._merge(by_command, by_text)  # type: ignore[index]
        return found


class Router:
    """Dispatch of chat events to handlers, with conversation state (see the module doc).

    ``store``: where conversation state lives (an :class:`~okru_proto.ValueStore`; default: this
    process's memory). ``state_ttl``: seconds a state and its data live after their last change
    (None: until cleared; needs a store that expires values, e.g. okru_stores' stores).
    """

    def __init__(self, *, store: ValueStore | None = None, state_ttl: float | None = None,
                 name: str | None = None) -> None:
        if store is not None and not isinstance(store, ValueStore):
            raise UsageError("store must be a ValueStore (okru_stores.MemoryStore, SQLiteStore, RedisStore)")
        if state_ttl is not None:
            if type(state_ttl) not in (int, float) or not 0 < state_ttl < float("inf"):
                raise UsageError(f"state_ttl is seconds > 0 (or None), got {state_ttl!r}")
            if store is None:
                raise UsageError("state_ttl needs a store that expires values: pass store=okru_stores.MemoryStore()")
        self.store: ValueStore = store if store is not None else _MemoryValues()
        self.state_ttl = state_ttl
        self.name = name
        self._handlers: list[_Handler] = []
        self._children: list[Router] = []
        self._parents: list[Router] = []
        self._hooks: list[_Hook] = []
        self._middlewares: list[Callable[..., Any]] = []
        self._table: _Table | None = None

    def __repr__(self) -> str:
        label = f"{self.name!r}, " if self.name else ""
        return f"Router({label}{len(self._handlers)} handlers, {len(self._children)} included)"

    # -- registration --------------------------------------------------------------------------
    def _add(self, kind: int | None, **filters: Any) -> Callable[[F], F]:
        def register(function: F) -> F:
            wants = _params(function, _HANDLER_PARAMS, "a handler")
            self._handlers.append(_Handler(kind, function, wants, is_async_callable(function), self, **filters))
            self._changed()
            return function

        return register

    def message(self, *, command: str | Iterable[str] | None = None, text: str | Iterable[str] | None = None,
                pattern: str | re.Pattern[str] | None = None, state: Any = ANY_STATE) -> Callable[[F], F]:
        """Register a handler for new messages (``MessageCreated``); every filter given must match.

        ``command``: the text's first word is ``/command`` (``"start"`` or ``"/start"``; several
        allowed); ``text``: the whole text equals it (or one of them); ``pattern``: a regular
        expression found in the text (``re.search``; the handler may take ``match``);
        ``state``: the conversation's state is this one (None: no state; default: any).
        """
        if pattern is not None and not isinstance(pattern, (str, re.Pattern)):
            raise UsageError(f"pattern is a regular expression (str or re.Pattern), got {pattern!r}")
        try:
            compiled = re.compile(pattern) if isinstance(pattern, str) else pattern
        except re.error as exc:
            raise UsageError(f"pattern {pattern!r} is not a regular expression: {exc}") from None
        return self._add(_MESSAGE, commands=_strings(command, "command", _command),
                         texts=_strings(text, "text"), pattern=compiled, states=_states(state))

    def callback(self, *, payload: str | Iterable[str] | None = None, state: Any = ANY_STATE) -> Callable[[F], F]:
        """Register a handler for button presses (``CallbackPressed``): ``payload`` is the
        pressed button's payload (or one of them); ``state`` as for :meth:`message`."""
        return self._add(_CALLBACK, payloads=_strings(payload, "payload"), states=_states(state))

    def system(self, *, type: str | Iterable[str] | None = None, state: Any = ANY_STATE) -> Callable[[F], F]:
        """Register a handler for chat system events (``ChatSystemEvent``): ``type`` is the
        system event's type (e.g. ``"CHAT_STARTED"``) or one of them."""
        return self._add(_SYSTEM, types=_strings(type, "type"), states=_states(state))

    def event(self) -> Callable[[F], F]:
        """Register a handler for any event, including types okru does not know
        (``UnknownEvent``). Registered last, it is the fallback."""
        return self._add(None)

    def errors(self, hook: F) -> F:
        """Register an error hook: ``hook(event=..., bot=..., state=..., error=...)`` (by name, as
        handlers) gets a handler's exception instead of the log. The hooks of the handler's own
        router are tried first, then its including routers'; a hook that raises is logged."""
        self._hooks.append((hook, _params(hook, _HOOK_PARAMS, "an error hook")))
        self._changed()
        return hook

    def middleware(self, function: F) -> F:
        """Register a middleware around this router's handlers and those of the routers it
        includes: ``function(call, event, bot)``; ``call()`` runs the handler (and the inner
        middlewares) and returns its result. On the async path it is ``async def`` and awaits
        ``call()``; on the blocking path a plain function. Not calling ``call`` skips the
        handler (the event still counts as matched)."""
        if not callable(function):
            raise UsageError("a middleware is a function (call, event, bot)")
        self._middlewares.append(function)
        self._changed()
        return function

    def include(self, other: Router) -> Router:
        """Add ``other``'s handlers after this router's own (and after routers included
        before it). A router is included once, and never into itself."""
        if not isinstance(other, Router):
            raise UsageError(f"include takes a Router, got {type(other).__name__}")
        if other is self or self._within(other):
            raise UsageError("including this router would make a cycle")
        if other._parents:
            raise UsageError(f"{other!r} is already included in another router")
        self._children.append(other)
        other._parents.append(self)
        self._changed()
        return other

    def _within(self, other: Router) -> bool:
        # True when self is somewhere under other (other is an ancestor... or a descendant).
        stack = list(other._children)
        while stack:
            node = stack.pop()
            if node is self:
                return True
            stack.extend(node._children)
        return False

    def _changed(self) -> None:
        stack = [self]
        while stack:
            node = stack.pop()
            node._table = None
            stack.extend(node._parents)

    # -- the table -----------------------------------------------------------------------------
    def _flatten(self, out: list[_Entry], hooks: tuple[_Hook, ...],
                 middlewares: tuple[Callable[..., Any], ...]) -> None:
        hooks = (*self._hooks, *hooks)
        middlewares = (*middlewares, *self._middlewares)
        for handler in self._handlers:
            out.append(_Entry(handler, len(out), hooks, middlewares))
        for child in self._children:
            child._flatten(out, hooks, middlewares)

    def _compile(self) -> _Table:
        entries: list[_Entry] = []
        self._flatten(entries, (), ())
        by_kind: dict[int, list[_Entry]] = {k: [] for k in (_MESSAGE, _CALLBACK, _SYSTEM, _OTHER)}
        commands: dict[str, list[_Entry]] = {}
        texts: dict[str, list[_Entry]] = {}
        payloads: dict[str, list[_Entry]] = {}
        generic: dict[int, _Candidates] = {k: [] for k in by_kind}
        for entry in entries:
            h = entry.handler
            kinds = list(by_kind) if h.kind is None else [h.kind]
            for kind in kinds:
                by_kind[kind].append(entry)
            if h.kind == _MESSAGE and h.commands is not None:
                for name in h.commands:
                    commands.setdefault(name, []).append(entry)
            elif h.kind == _MESSAGE and h.texts is not None:
                for text in h.texts:
                    texts.setdefault(text, []).append(entry)
            elif h.kind == _CALLBACK and h.payloads is not None:
                for payload in h.payloads:
                    payloads.setdefault(payload, []).append(entry)
            else:
                for kind in kinds:
                    generic[kind].append((entry, False))
        table = _Table(entries, by_kind, commands, texts, payloads, generic)
        self._table = table
        return table

    def _candidates(self, event: WebhookEvent) -> tuple[_Candidates, str | None, str | None]:
        """The entries that may match ``event`` in order, its text and command (messages)."""
        table = self._table or self._compile()
        cls = type(event)
        if cls is MessageCreated:
            text = event.raw["message"].get("text")
            if type(text) is not str or not text:
                return table.generic[_MESSAGE], None, None
            command = text.split(None, 1)[0][1:] if text[0] == "/" else None
            return table.messages(command, text), text, command
        if cls is CallbackPressed:
            payload = event.payload  # type: ignore[union-attr]
            found = table.by_payload.get(payload) if payload is not None else None
            return (found if found is not None else table.generic[_CALLBACK]), None, None
        return table.generic[_KIND.get(cls, _OTHER)], None, None

    @staticmethod
    def _check(handler: _Handler, event: WebhookEvent, text: str | None, command: str | None
               ) -> tuple[bool, re.Match[str] | None]:
        """The filters other than state (the caller checked it)."""
        if handler.kind == _MESSAGE:
            if handler.commands is not None and (command is None or command not in handler.commands):
                return False, None
            if handler.texts is not None and text not in handler.texts:
                return False, None
            if handler.pattern is not None:
                found = handler.pattern.search(text) if text is not None else None
                return found is not None, found
        elif handler.kind == _CALLBACK:
            if handler.payloads is not None:
                payload = event.payload  # type: ignore[union-attr]
                if payload is None or payload not in handler.payloads:
                    return False, None
        elif handler.kind == _SYSTEM and handler.types is not None:
            kind = event.type
            if kind is None or kind not in handler.types:
                return False, None
        return True, None

    # -- feeding -------------------------------------------------------------------------------
    def _state(self, event: WebhookEvent, kind: type[_StateBase]) -> Any:
        chat, user = _conversation(event)
        return kind(self.store, chat, user, self.state_ttl)

    async def feed(self, event: WebhookEvent, bot: Any) -> bool:
        """Run the first handler that matches ``event`` (async path); True if one matched.

        The handler's exception goes to the error hooks or the log, never to the caller; only
        cancellation (and other ``BaseException``) propagates. A store error while reading the
        state for a ``state=`` filter propagates (the event could not be routed)."""
        table = self._table or self._compile()
        if type(event) is MessageCreated and not table.by_text:
            # The common case inline (a message, routed by command): what _candidates does.
            text = event.raw["message"].get("text")
            if type(text) is str and text:
                command = text.split(None, 1)[0][1:] if text[0] == "/" else None
                if command is not None:
                    direct = table.direct.get(command)
                    if direct is not None:
                        # Its first candidate always matches: call it (the fast call below, inline).
                        mode, function = direct.mode, direct.function
                        try:
                            result = (function(event, bot) if mode == 3 else function(event) if mode == 1 else
                                      function() if mode == 0 else function(bot) if mode == 2 else
                                      function(bot, event))
                            if direct.is_async or inspect.isawaitable(result):
                                await result
                        except Exception as error:
                            await self._handle_error(direct, event, bot, None, error)
                        return True
                entries = (command is not None and table.by_command.get(command)) or table.generic[_MESSAGE]
            else:
                text = command = None
                entries = table.generic[_MESSAGE]
        else:
            entries, text, command = self._candidates(event)
        state: State | None = None
        for entry, verified in entries:
            if entry.states is not None:
                if state is None:
                    state = self._state(event, State)
                if await state.get() not in entry.states:
                    continue
            found = None
            if not verified:
                matched, found = self._check(entry.handler, event, text, command)
                if not matched:
                    continue
            mode = entry.mode
            if mode is not None:
                # The fast path: a handler taking event and/or bot, called positionally.
                function = entry.function
                try:
                    result = (function(event, bot) if mode == 3 else function(event) if mode == 1 else
                              function() if mode == 0 else function(bot) if mode == 2 else function(bot, event))
                    if entry.is_async or inspect.isawaitable(result):
                        await result
                except Exception as error:
                    await self._handle_error(entry, event, bot, state, error)
                return True
            handler = entry.handler
            if state is None and ("state" in handler.wants or entry.hooks):
                state = self._state(event, State)
            await self._run(entry, event, bot, state, found)
            return True
        return False

    async def _run(self, entry: _Entry, event: WebhookEvent, bot: Any, state: State | None,
                   found: re.Match[str] | None) -> None:
        handler = entry.handler
        values = {"event": event, "bot": bot, "state": state, "match": found}
        try:
            if entry.middlewares:
                await self._through(entry.middlewares, handler, values)
            else:
                result = handler.function(**{n: values[n] for n in handler.wants})
                if handler.is_async or inspect.isawaitable(result):
                    await result
        except Exception as error:
            await self._handle_error(entry, event, bot, state, error)

    async def _through(self, middlewares: tuple[Callable[..., Any], ...], handler: _Handler,
                       values: dict[str, Any]) -> Any:
        async def innermost() -> Any:
            result = handler.function(**{n: values[n] for n in handler.wants})
            return await result if inspect.isawaitable(result) else result

        call: Callable[[], Awaitable[Any]] = innermost
        for middleware in reversed(middlewares):
            call = _wrap(middleware, call, values["event"], values["bot"])
        return await call()

    async def _handle_error(self, entry: _Entry, event: WebhookEvent, bot: Any, state: State | None,
                            error: Exception) -> None:
        if state is None and entry.hooks:
            state = self._state(event, State)
        for hook, wants in entry.hooks:
            values = {"event": event, "bot": bot, "state": state, "error": error}
            try:
                result = hook(**{n: values[n] for n in wants})
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("an error hook failed on %s", _describe(event))
            return
        log.error("handler %s failed on %s", _name(entry.handler.function), _describe(event), exc_info=error)

    def feed_sync(self, event: WebhookEvent, bot: Any) -> bool:
        """The blocking twin of :meth:`feed` (a blocking bot's ``run_polling``): handlers,
        hooks and middlewares must be plain functions; ``state`` is a :class:`SyncState`."""
        entries, text, command = self._candidates(event)
        state: SyncState | None = None
        for entry, verified in entries:
            handler = entry.handler
            if handler.states is not None:
                if state is None:
                    state = self._state(event, SyncState)
                if state.get() not in handler.states:
                    continue
            found = None
            if not verified:
                matched, found = self._check(handler, event, text, command)
                if not matched:
                    continue
            if handler.is_async:
                raise UsageError(f"handler {_name(handler.function)} is async; a blocking bot cannot await it "
                                 "(use an async adapter's run_polling, or a plain function)")
            if state is None and ("state" in handler.wants or entry.hooks):
                state = self._state(event, SyncState)
            values = {"event": event, "bot": bot, "state": state, "match": found}
            try:
                if entry.middlewares:
                    call = _bound(handler, values)
                    for middleware in reversed(entry.middlewares):
                        call = _wrap_sync(middleware, call, event, bot)
                    _refuse_awaitable(call(), handler)
                else:
                    _refuse_awaitable(handler.function(**{n: values[n] for n in handler.wants}), handler)
            except UsageError:
                raise
            except Exception as error:
                self._handle_error_sync(entry, event, bot, state, error)
            return True
        return False

    def _handle_error_sync(self, entry: _Entry, event: WebhookEvent, bot: Any, state: SyncState | None,
                           error: Exception) -> None:
        for hook, wants in entry.hooks:
            values = {"event": event, "bot": bot, "state": state, "error": error}
            try:
                result = hook(**{n: values[n] for n in wants})
                if inspect.isawaitable(result):
                    _close(result)
                    log.error("error hook %s is async; a blocking bot cannot await it", _name(hook))
            except Exception:
                log.exception("an error hook failed on %s", _describe(event))
            return
        log.error("handler %s failed on %s", _name(entry.handler.function), _describe(event), exc_info=error)

    def event_types(self) -> tuple[str, ...] | None:
        """The webhook types this router has handlers for (to subscribe to only those), or
        None when a handler takes any event."""
        table = self._table or self._compile()
        if any(e.handler.kind is None for e in table.entries):
            return None
        names = {_MESSAGE: "MESSAGE_CREATED", _CALLBACK: "MESSAGE_CALLBACK", _SYSTEM: "CHAT_SYSTEM"}
        return tuple(names[k] for k in (_MESSAGE, _CALLBACK, _SYSTEM) if table.by_kind[k])


def _wrap(middleware: Callable[..., Any], call: Callable[[], Awaitable[Any]], event: Any, bot: Any
          ) -> Callable[[], Awaitable[Any]]:
    async def step() -> Any:
        result = middleware(call, event, bot)
        return await result if inspect.isawaitable(result) else result

    return step


def _bound(handler: _Handler, values: dict[str, Any]) -> Callable[[], Any]:
    def call() -> Any:
        return handler.function(**{n: values[n] for n in handler.wants})

    return call


def _wrap_sync(middleware: Callable[..., Any], call: Callable[[], Any], event: Any, bot: Any) -> Callable[[], Any]:
    def step() -> Any:
        return middleware(call, event, bot)

    return step


def _close(result: object) -> None:
    close = getattr(result, "close", None)
    if callable(close):
        close()


def _refuse_awaitable(result: object, handler: _Handler) -> None:
    if inspect.isawaitable(result):
        _close(result)
        raise UsageError(f"handler {_name(handler.function)} returned an awaitable; a blocking bot cannot await "
                         "it (use an async adapter's run_polling)")


def _name(function: Callable[..., Any]) -> str:
    return str(getattr(function, "__qualname__", None) or repr(function))


def _describe(event: WebhookEvent) -> str:
    # The event's kind and chat only: its text and sender stay out of the logs.
    chat, _ = _conversation(event)
    return f"{event.webhook_type or 'an event'} in {chat or 'no chat'}"
