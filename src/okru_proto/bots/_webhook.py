"""Webhook events: the bytes OK POSTs to a subscribed URL, read into typed events.

OK POSTs one JSON object per event (docs/protocol.md §11.10). Its documented examples carry no
type field (new messages); third-party v2 clients read a top-level ``webhookType``
(``MESSAGE_CREATED``, ``MESSAGE_CALLBACK``, ``CHAT_SYSTEM``...) and, for a button press,
``callbackId`` and ``payload``. :func:`parse_webhook` accepts both: a body with ``webhookType``
is typed by it, a body without one but with a ``message`` object is a new message. Anything
else, including a known type whose fields are not where they should be, is an
:class:`UnknownEvent` that keeps the raw JSON: a new event type from OK must not break a bot.
Only bodies that are not a JSON object raise (:class:`WebhookError`).

Long polling delivers the same events: :func:`parse_updates` is the one place that reads a
``GET me/updates`` reply, whose format OK does not publish (docs/protocol.md §11.11).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._errors import ProtocolError, UsageError
from ._values import ChatMessage, as_id

__all__ = [
    "OK_WEBHOOK_NETWORKS",
    "CallbackPressed",
    "ChatSystemEvent",
    "DedupWindow",
    "MessageCreated",
    "UnknownEvent",
    "Updates",
    "WebhookError",
    "WebhookEvent",
    "event_key",
    "parse_updates",
    "parse_webhook",
]


#: Where OK's webhook POSTs come from: "Запросы могут производиться только с определенного списка
#: IP-адресов" (docs/protocol.md §11.10). The server-side app (``okru_asgi.webhook_app``) accepts
#: only these by default.
OK_WEBHOOK_NETWORKS = ("217.20.145.192/28", "217.20.151.160/28", "217.20.153.48/28")


class WebhookError(ProtocolError):
    """A webhook body that is not a JSON object (not from OK, or cut short)."""


class _Event:
    """Base of the typed events: ``raw`` is the whole JSON object; fields are read from it when
    first asked for (a handler that only looks at the type pays for nothing else).

    ``webhook_type`` is the kind of event (OK's ``webhookType``: ``MESSAGE_CREATED``...);
    ``type`` is the same, except for a :class:`ChatSystemEvent`, whose ``type`` is the system
    event's own (``CHAT_STARTED``...)."""

    __slots__ = ("raw",)
    webhook_type: str | None
    if TYPE_CHECKING:
        @property
        def type(self) -> str | None: ...

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.raw == self.raw

    __hash__ = None  # type: ignore[assignment]

    def _chat(self) -> str | None:
        return as_id(_dict(self.raw.get("recipient")).get("chat_id"))

    def _stamp(self) -> int | None:
        stamp = self.raw.get("timestamp")
        return stamp if type(stamp) is int else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(type={self.type!r}, chat_id={self._chat()!r})"


class MessageCreated(_Event):
    """A member wrote in a chat (``MESSAGE_CREATED``, or OK's untyped message body)."""

    __slots__ = ("_message",)
    type = webhook_type = "MESSAGE_CREATED"

    @property
    def message(self) -> ChatMessage:
        """The message (text, mid, sender, attachments...)."""
        try:
            return self._message
        except AttributeError:
            self._message: ChatMessage = ChatMessage.from_json(self.raw)
            return self._message

    @property
    def chat_id(self) -> str | None:
        return self._chat()

    @property
    def text(self) -> str | None:
        text = self.raw["message"].get("text")
        return text if isinstance(text, str) else None

    @property
    def message_id(self) -> str | None:
        """The new message's ``mid`` (reply to it, edit it...)."""
        return as_id(self.raw["message"].get("mid"))

    @property
    def sender_id(self) -> str | None:
        return as_id(_dict(self.raw.get("sender")).get("user_id"))

    @property
    def timestamp(self) -> int | None:
        return self._stamp()


class CallbackPressed(_Event):
    """A member pressed a CALLBACK button (``MESSAGE_CALLBACK``): answer with
    ``bot.answer(event.chat_id, event.callback_id, ...)``."""

    __slots__ = ("callback_id",)
    type = webhook_type = "MESSAGE_CALLBACK"

    def __init__(self, raw: Mapping[str, Any], callback_id: str) -> None:
        self.raw = raw
        self.callback_id = callback_id

    @property
    def chat_id(self) -> str | None:
        return self._chat()

    @property
    def payload(self) -> str | None:
        """The pressed button's ``payload``."""
        payload = self.raw.get("payload")
        return payload if isinstance(payload, str) else None

    @property
    def sender_id(self) -> str | None:
        return as_id(_dict(self.raw.get("sender")).get("user_id"))

    @property
    def sender_name(self) -> str | None:
        name = _dict(self.raw.get("sender")).get("name")
        return name if isinstance(name, str) else None

    @property
    def message_id(self) -> str | None:
        """The id of the message whose button was pressed (edit it to change the keyboard).
        OK publishes no callback body: okru reads ``message.mid`` (the message object public
        clients type on every event), else a top-level ``mid``; None when neither is there."""
        mid = as_id(_dict(self.raw.get("message")).get("mid"))
        return mid if mid is not None else as_id(self.raw.get("mid"))

    @property
    def timestamp(self) -> int | None:
        return self._stamp()


class ChatSystemEvent(_Event):
    """A system event in a chat (``CHAT_SYSTEM``: a chat opened by a special link, title/icon
    changed, members added or gone). OK publishes no example body: ``type`` is its ``type``
    field as public clients read it (e.g. ``CHAT_STARTED``: the chat was opened by a specially
    generated link), None when absent; ``chat_id``, ``sender_id``, ``payload`` and ``timestamp``
    are read where the other events have them; the rest is in ``raw``."""

    __slots__ = ()
    webhook_type = "CHAT_SYSTEM"

    @property
    def type(self) -> str | None:
        kind = self.raw.get("type")
        return kind if isinstance(kind, str) and kind else None

    @property
    def chat_id(self) -> str | None:
        return self._chat()

    @property
    def sender_id(self) -> str | None:
        return as_id(_dict(self.raw.get("sender")).get("user_id"))

    @property
    def payload(self) -> str | None:
        payload = self.raw.get("payload")
        return payload if isinstance(payload, str) else None

    @property
    def timestamp(self) -> int | None:
        return self._stamp()


class UnknownEvent(_Event):
    """Any other body: ``type`` is its ``webhookType`` (if a str), ``raw`` the whole object."""

    __slots__ = ("_kind",)

    def __init__(self, kind: str | None, raw: Mapping[str, Any]) -> None:
        self.raw = raw
        self._kind = kind

    @property
    def type(self) -> str | None:
        return self._kind

    @property
    def webhook_type(self) -> str | None:  # type: ignore[override]
        return self._kind


WebhookEvent = MessageCreated | CallbackPressed | ChatSystemEvent | UnknownEvent


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _event(data: dict[str, Any]) -> WebhookEvent:
    kind = data.get("webhookType")
    if kind is None or kind == "MESSAGE_CREATED":
        if type(data.get("message")) is dict:
            return MessageCreated(data)
    elif kind == "MESSAGE_CALLBACK":
        callback_id = as_id(data.get("callbackId"))
        if callback_id is not None:
            return CallbackPressed(data, callback_id)
    elif kind == "CHAT_SYSTEM":
        return ChatSystemEvent(data)
    return UnknownEvent(kind if isinstance(kind, str) else None, data)


def parse_webhook(body: bytes | str, headers: Mapping[str, str] | None = None) -> WebhookEvent:
    """The typed event in one webhook POST body.

    ``headers`` (optional) is only used to refuse a body declared as something other than JSON;
    OK documents no signature header, so there is nothing else to check here (the source
    address is :func:`webhook_app`'s job). Raises :class:`WebhookError` (an
    :class:`~okru_proto.Error`) for anything that is not one JSON object.
    """
    if type(body) is bytes:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise WebhookError("webhook body is not UTF-8", method="webhook") from None
        if headers:
            _check_type(headers)
    else:
        if headers:
            _check_type(headers)
        text = _text(body)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise WebhookError("webhook body is not valid JSON", method="webhook") from None
    if type(data) is not dict:
        raise WebhookError(f"webhook body is a JSON {type(data).__name__}, not an object", method="webhook")
    return _event(data)


@dataclass(frozen=True, slots=True)
class Updates:
    """One long-polling reply: its ``events`` in the order OK gave them, and the ``marker`` to
    send with the next poll (None when the reply has none)."""

    events: tuple[WebhookEvent, ...]
    marker: str | None


def parse_updates(value: object) -> Updates:
    """The events in a ``GET me/updates`` reply, read tolerantly (okru's choice, docs/protocol.md
    §11.11: OK publishes no reply format).

    The reading a public client relies on: ``{"updates": [<event>, ...]}``, each event shaped as
    a webhook body, so each becomes what :func:`parse_webhook` returns. Also taken: a bare list of
    events; an event given as a JSON string (as REST's ``events.updates`` lists them); a
    ``marker`` (str or number) to send back. An element that is not a JSON object is skipped;
    a reply that is not an object or a list has no events. Nothing here raises.
    """
    listed: object = value
    marker: str | None = None
    if isinstance(value, dict):
        listed = value.get("updates")
        marker = as_id(value.get("marker"))
    events: list[WebhookEvent] = []
    for item in listed if isinstance(listed, list) else ():
        if isinstance(item, str):
            try:
                item = json.loads(item)
            except (ValueError, RecursionError):
                continue
        if type(item) is dict:
            events.append(_event(item))
    return Updates(tuple(events), marker)


def _check_type(headers: Mapping[str, str]) -> None:
    if headers:
        ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
        if ctype is not None and "json" not in ctype.lower() and "text/plain" not in ctype.lower():
            raise WebhookError(f"webhook body is {ctype[:60]!r}, not JSON", method="webhook")


def _text(body: object) -> str:
    if isinstance(body, (bytes, bytearray, memoryview)):
        try:
            return bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            raise WebhookError("webhook body is not UTF-8", method="webhook") from None
    if isinstance(body, str):
        return body
    raise WebhookError(f"webhook body must be bytes or str, not {type(body).__name__}", method="webhook")


def event_key(event: WebhookEvent) -> str | None:
    """What identifies a delivery across OK's retries: the message id (``mid``) of a new
    message, the ``callbackId`` of a button press; None (never de-duplicated) otherwise."""
    if type(event) is MessageCreated:
        mid = as_id(event.raw["message"].get("mid"))
        return None if mid is None else "m:" + mid
    if type(event) is CallbackPressed:
        return "c:" + event.callback_id
    return None


class DedupWindow:
    """The last ``size`` event keys seen: :meth:`seen` is True for a repeat (OK retries a
    delivery that was not answered 200 in time, for up to 8 hours). Bounded: the oldest key
    leaves when a new one comes in."""

    __slots__ = ("_keys", "size")

    def __init__(self, size: int = 10_000) -> None:
        if type(size) is not int or size < 0:
            raise UsageError("the de-duplication window is a number of events >= 0")
        self.size = size
        self._keys: OrderedDict[str, None] = OrderedDict()

    def seen(self, key: str | None) -> bool:
        """True if ``key`` is a repeat; otherwise remembers it and returns False."""
        if key is None or not self.size:
            return False
        keys = self._keys
        if key in keys:
            keys.move_to_end(key)
            return True
        keys[key] = None
        if len(keys) > self.size:
            keys.popitem(last=False)
        return False

    def __contains__(self, key: object) -> bool:
        """True if ``key`` was seen, without remembering it (the webhook app looks before it
        has a handler slot, and remembers only an event it accepted)."""
        return key is not None and key in self._keys

    def __len__(self) -> int:
        return len(self._keys)
