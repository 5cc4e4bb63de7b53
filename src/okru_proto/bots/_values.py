"""The Bot API's values: builders for what a bot sends, typed views of what OK returns.

Builders (:class:`Attachment`, :class:`Button`, :func:`keyboard`, :func:`build_message`) make the
JSON of OK's "general message format" (docs/protocol.md §11.5); they are lenient: every builder
takes ``extra`` fields that pass through untouched, because OK documents few payload schemas.
Results (:class:`Chat`, :class:`ChatMessage`, ...) are read leniently too: a field of an
unexpected type reads as ``None``, ids given as numbers read as strings ("all returned ids may be
strings", docs/protocol.md §11.0), and every result keeps OK's JSON in ``raw``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._errors import UsageError
from .._values import mask_query

__all__ = [
    "ATTACHMENT_TYPES",
    "MAX_ATTACHMENTS",
    "Attachment",
    "BotInfo",
    "Button",
    "Chat",
    "ChatMessage",
    "ChatsPage",
    "DirectSend",
    "SentMessage",
    "Subscription",
    "UploadTarget",
    "as_id",
    "build_message",
    "keyboard",
]

#: Attachment types of the general message format (docs/protocol.md §11.5).
ATTACHMENT_TYPES = frozenset({"IMAGE", "VIDEO", "AUDIO", "SHARE", "FILE", "CONTACT", "INLINE_KEYBOARD",
                              "LOCATION", "MUSIC", "CALL", "PRESENT", "STICKER"})
#: "Максимальное количество всех приложений 5" (docs/protocol.md §11.5).
MAX_ATTACHMENTS = 5
_INTENTS = frozenset({"DEFAULT", "POSITIVE", "NEGATIVE"})


def as_id(value: object) -> str | None:
    """An OK id as a str (OK may send ids as numbers or strings), or None."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 20:
        return int(value)
    return None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True, slots=True)
class Attachment:
    """One attachment: ``type`` (``"IMAGE"``...), its ``payload`` and any ``extra`` top-level
    fields. Unknown types are allowed (OK adds types; the builders below cover the documented
    ones)."""

    type: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.type, str) or not self.type:
            raise UsageError("an attachment needs a type such as 'IMAGE'")
        if not isinstance(self.payload, Mapping) or not isinstance(self.extra, Mapping):
            raise UsageError("an attachment's payload and extra must be mappings")

    def to_json(self) -> dict[str, Any]:
        return {**self.extra, "type": self.type, "payload": dict(self.payload)}

    @classmethod
    def from_json(cls, value: object) -> Attachment | None:
        if not isinstance(value, dict) or not isinstance(value.get("type"), str) or not value["type"]:
            return None
        extra = {k: v for k, v in value.items() if k not in ("type", "payload")}
        return cls(value["type"], _dict(value.get("payload")), extra)

    @property
    def token(self) -> str | None:
        """The payload's ``token`` (reuse it to send the same file again)."""
        return _str(self.payload.get("token"))

    @classmethod
    def image(cls, *, url: str | None = None, token: str | None = None, **extra: Any) -> Attachment:
        """An IMAGE by ``url`` (one such per message, OK says) or by upload ``token``."""
        if (url is None) == (token is None):
            raise UsageError("Attachment.image takes exactly one of url= or token=")
        return cls("IMAGE", {"url": url} if url is not None else {"token": token}, extra)

    @classmethod
    def file(cls, token: str, **extra: Any) -> Attachment:
        return cls("FILE", {"token": token}, extra)

    @classmethod
    def video(cls, token: str, **extra: Any) -> Attachment:
        return cls("VIDEO", {"token": token}, extra)

    @classmethod
    def audio(cls, token: str, **extra: Any) -> Attachment:
        return cls("AUDIO", {"token": token}, extra)


@dataclass(frozen=True, slots=True)
class Button:
    """One inline-keyboard button (the shape two independent clients send; OK's own schema is
    not published, docs/protocol.md §11.5). Use the class methods."""

    type: str
    text: str
    fields: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {**self.fields, "type": self.type, "text": self.text}

    @staticmethod
    def _intent(intent: str) -> str:
        if intent not in _INTENTS:
            raise UsageError(f"a button's intent is one of {sorted(_INTENTS)}, got {intent!r}")
        return intent

    @classmethod
    def callback(cls, text: str, payload: str, *, intent: str = "DEFAULT", **extra: Any) -> Button:
        """Pressing it sends the bot a MESSAGE_CALLBACK event carrying ``payload``."""
        if not isinstance(payload, str):
            raise UsageError("a callback button's payload is a str")
        return cls("CALLBACK", text, {**extra, "intent": cls._intent(intent), "payload": payload})

    @classmethod
    def link(cls, text: str, url: str, *, intent: str = "DEFAULT", **extra: Any) -> Button:
        return cls("LINK", text, {**extra, "intent": cls._intent(intent), "url": url})

    @classmethod
    def request_contact(cls, text: str, **extra: Any) -> Button:
        return cls("REQUEST_CONTACT", text, extra)

    @classmethod
    def request_location(cls, text: str, *, quick: bool = False, **extra: Any) -> Button:
        return cls("REQUEST_GEO_LOCATION", text, {**extra, "quick": quick})


def keyboard(rows: Iterable[Iterable[Button]], **extra: Any) -> Attachment:
    """An INLINE_KEYBOARD attachment: ``keyboard([[Button.callback("Да", "yes")], [...]])``."""
    built = [[b.to_json() for b in row] for row in rows]
    if not built or not all(built):
        raise UsageError("a keyboard needs at least one row, and every row at least one button")
    return Attachment("INLINE_KEYBOARD", {"keyboard": {"buttons": built}}, extra)


def build_message(text: str | None = None, attachments: Sequence[Attachment] = (), *,
                  reply_to: str | None = None, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``message`` object of the general message format (docs/protocol.md §11.5).

    One attachment goes as ``attachment`` (as every OK example sends it), several as
    ``attachments``; at most five. ``extra`` fields (e.g. ``privacyWarning``) pass through.
    """
    if text is not None and not isinstance(text, str):
        raise UsageError(f"message text must be a str, not {type(text).__name__}")
    items = list(attachments)
    if not all(isinstance(a, Attachment) for a in items):
        raise UsageError("attachments must be okru_proto.bots.Attachment values (see Attachment.image, keyboard)")
    if len(items) > MAX_ATTACHMENTS:
        raise UsageError(f"OK.ru allows at most {MAX_ATTACHMENTS} attachments in a message, got {len(items)}")
    if not text and not items:
        raise UsageError("a message needs text or at least one attachment")
    message: dict[str, Any] = dict(extra or {})
    if text:
        message["text"] = text
    if len(items) == 1:
        message["attachment"] = items[0].to_json()
    elif items:
        message["attachments"] = [a.to_json() for a in items]
    if reply_to is not None:
        message["reply_to"] = reply_to
    return message


@dataclass(frozen=True, slots=True)
class Chat:
    """A chat of the group (``GET me/chats``, ``GET me/chat``)."""

    chat_id: str | None
    type: str | None
    status: str | None
    title: str | None
    owner_id: str | None
    group_id: str | None
    last_event_time: int | None
    participants: Mapping[str, int]
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, value: object) -> Chat:
        data = _dict(value)
        parts = _dict(data.get("participants"))
        return cls(as_id(data.get("chat_id")), _str(data.get("type")), _str(data.get("status")),
                   _str(data.get("title")), as_id(data.get("owner_id")), as_id(data.get("group_id")),
                   _int(data.get("lastEventTime")),
                   {str(k): t for k, t in ((k, _int(v)) for k, v in parts.items()) if t is not None}, data)


@dataclass(frozen=True, slots=True)
class ChatsPage:
    """One page of ``GET me/chats``: ``marker`` is None on the last page."""

    chats: tuple[Chat, ...]
    marker: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """A chat message, as ``GET <chat>/messages`` lists it and a webhook delivers it."""

    mid: str | None
    text: str | None
    seq: int | None
    chat_id: str | None
    sender_id: str | None
    sender_name: str | None
    timestamp: int | None
    attachments: tuple[Attachment, ...]
    reply_to: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, value: object) -> ChatMessage:
        data = _dict(value)
        message, sender, recipient = (_dict(data.get(k)) for k in ("message", "sender", "recipient"))
        listed = message.get("attachments")
        raw_attachments = listed if isinstance(listed, list) else []
        if "attachment" in message:
            raw_attachments = [message["attachment"], *raw_attachments]
        attachments = tuple(a for a in map(Attachment.from_json, raw_attachments) if a is not None)
        return cls(as_id(message.get("mid")), _str(message.get("text")), _int(message.get("seq")),
                   as_id(recipient.get("chat_id")), as_id(sender.get("user_id")), _str(sender.get("name")),
                   _int(data.get("timestamp")), attachments, _str(message.get("reply_to")), data)


@dataclass(frozen=True, slots=True)
class BotInfo:
    """``GET me/info`` for a group token: the group's ``name`` and ``group_id``."""

    name: str | None
    group_id: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class SentMessage:
    """What a send returned. OK does not publish this reply's shape (docs/protocol.md §11.5):
    ``message_id`` is read from a ``message_id`` field when there is one; ``raw`` has it all."""

    message_id: str | None
    raw: Any = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class DirectSend:
    """One recipient of a send by user ids: ``success`` and the ``chat_id`` OK opened (or None)."""

    user_id: str
    success: bool
    chat_id: str | None


@dataclass(frozen=True, slots=True)
class Subscription:
    """One subscription (``GET me/subscriptions``, OK's ``bot.BotSubscriptionBean``): a webhook
    ``url`` or ``long_polling``, since ``time`` (epoch ms), for the event ``types`` it lists
    (empty: not stated), and the text ``filter`` (only messages containing it) if any."""

    url: str | None
    time: int | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    long_polling: bool = False
    types: tuple[str, ...] = ()
    filter: str | None = None

    @classmethod
    def from_json(cls, value: object) -> Subscription:
        data = _dict(value)
        listed = data.get("types")
        types = tuple(t for t in listed if isinstance(t, str)) if isinstance(listed, list) else ()
        return cls(_str(data.get("url")), _int(data.get("time")), data, data.get("longPolling") is True,
                   types, _str(data.get("filter")))


@dataclass(frozen=True, slots=True)
class UploadTarget:
    """``GET me/fileUploadUrl``: where to POST the file, and the attachment ``token`` (for IMAGE
    the token comes from the upload's own reply instead; ``file_id`` is IMAGE's temporary id).
    The repr hides the URL's query: its ``sig`` authorizes the upload."""

    type: str
    url: str
    token: str | None
    file_id: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    def __repr__(self) -> str:
        base, _, query = self.url.partition("?")
        shown = "&".join(p if not p.startswith("sig=") else "sig=***" for p in mask_query(query).split("&")) \
            if query else ""
        return f"UploadTarget(type={self.type!r}, url={base + ('?' + shown if shown else '')!r})"
