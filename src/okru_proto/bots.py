"""okru_proto.bots: what an application writing an OK.ru bot uses (Bot API, docs/protocol.md §11).

Messages and their parts (:class:`Attachment`, :class:`Button`, :func:`keyboard`,
:func:`build_message`, the limits :data:`ATTACHMENT_TYPES`, :data:`MAX_ATTACHMENTS`,
:data:`FILE_TYPES`), what the Bot API returns (:class:`Chat`, :class:`ChatMessage`,
:class:`ChatsPage`, :class:`BotInfo`, :class:`SentMessage`, :class:`Subscription`,
:class:`UploadTarget`, :class:`DirectSend`, :class:`HistoryPager`), the webhook side (the events
:func:`parse_webhook` returns, :class:`DedupWindow` and :func:`event_key` for OK's redeliveries,
the ASGI :func:`webhook_app` and OK's sending networks :data:`OK_WEBHOOK_NETWORKS`) and the
bot-only errors. The sessions themselves (``BotSession``) come from an adapter; the machinery
behind them (``BotCore``, ``BotSessionSpec``) is in :mod:`okru_proto.adapter`.

This module owns only the list; each name lives with its code.
"""

from __future__ import annotations

from ._bot_core import HistoryPager
from ._bot_types import (
    ATTACHMENT_TYPES,
    MAX_ATTACHMENTS,
    Attachment,
    BotInfo,
    Button,
    Chat,
    ChatMessage,
    ChatsPage,
    DirectSend,
    SentMessage,
    Subscription,
    UploadTarget,
    build_message,
    keyboard,
)
from ._graph import FILE_TYPES, BotTokenError, ChatNotFoundError
from ._webhook import (
    CallbackPressed,
    ChatSystemEvent,
    DedupWindow,
    MessageCreated,
    UnknownEvent,
    WebhookError,
    WebhookEvent,
    event_key,
    parse_webhook,
)
from ._webhook_app import OK_WEBHOOK_NETWORKS, WebhookApp, webhook_app

__all__ = [
    "ATTACHMENT_TYPES",
    "FILE_TYPES",
    "MAX_ATTACHMENTS",
    "OK_WEBHOOK_NETWORKS",
    "Attachment",
    "BotInfo",
    "BotTokenError",
    "Button",
    "CallbackPressed",
    "Chat",
    "ChatMessage",
    "ChatNotFoundError",
    "ChatSystemEvent",
    "ChatsPage",
    "DedupWindow",
    "DirectSend",
    "HistoryPager",
    "MessageCreated",
    "SentMessage",
    "Subscription",
    "UnknownEvent",
    "UploadTarget",
    "WebhookApp",
    "WebhookError",
    "WebhookEvent",
    "build_message",
    "event_key",
    "keyboard",
    "parse_webhook",
    "webhook_app",
]
