"""okru_proto.bots: what an application writing an OK.ru bot uses (Bot API, docs/protocol.md §11).

Messages and their parts (:class:`Attachment`, :class:`Button`, :func:`keyboard`,
:func:`build_message`, the limits :data:`ATTACHMENT_TYPES`, :data:`MAX_ATTACHMENTS`,
:data:`FILE_TYPES`), what the Bot API returns (:class:`Chat`, :class:`ChatMessage`,
:class:`ChatsPage`, :class:`BotInfo`, :class:`SentMessage`, :class:`Subscription`,
:class:`UploadTarget`, :class:`DirectSend`, :class:`ChatsPager`, :class:`HistoryPager`), the webhook side (the events
:func:`parse_webhook` returns, :class:`DedupWindow` and :func:`event_key` for OK's redeliveries,
OK's sending networks :data:`OK_WEBHOOK_NETWORKS`), long polling's reply (:func:`parse_updates`,
:class:`Updates`), the chat actions :data:`ACTIONS`, the :class:`Router` that dispatches events to
handlers with conversation :class:`State`, and the bot-only errors. The ASGI app that
receives webhooks is :func:`okru_asgi.webhook_app` (server-side apps live in :mod:`okru_asgi`). The sessions themselves (``BotSession``) come from an adapter; the machinery
behind them (``BotCore``, ``BotSessionSpec``) is in :mod:`okru_proto.adapter`.

This module owns only the list; the code is in this folder's modules: ``_graph`` (the Graph
API's wire rules), ``_values`` (messages and views), ``_flows`` (what a bot does, as flows),
``_sessions`` (the sync and async session bases), ``_webhook`` (events) and ``_router``
(dispatch and conversation state).
"""

from __future__ import annotations

from ._flows import DEFAULT_POLL_TIMEOUT, ChatsPager, HistoryPager
from ._graph import ACTIONS, EVENT_TYPES, FILE_TYPES, UPLOAD_ENCODINGS, BotTokenError, ChatNotFoundError
from ._router import ANY_STATE, Router, State, SyncState
from ._values import (
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
from ._webhook import (
    OK_WEBHOOK_NETWORKS,
    CallbackPressed,
    ChatSystemEvent,
    DedupWindow,
    MessageCreated,
    UnknownEvent,
    Updates,
    WebhookError,
    WebhookEvent,
    event_key,
    parse_updates,
    parse_webhook,
)

__all__ = [
    "ACTIONS",
    "ANY_STATE",
    "ATTACHMENT_TYPES",
    "DEFAULT_POLL_TIMEOUT",
    "EVENT_TYPES",
    "FILE_TYPES",
    "MAX_ATTACHMENTS",
    "OK_WEBHOOK_NETWORKS",
    "UPLOAD_ENCODINGS",
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
    "ChatsPager",
    "DedupWindow",
    "DirectSend",
    "HistoryPager",
    "MessageCreated",
    "Router",
    "SentMessage",
    "State",
    "Subscription",
    "SyncState",
    "UnknownEvent",
    "Updates",
    "UploadTarget",
    "WebhookError",
    "WebhookEvent",
    "build_message",
    "event_key",
    "keyboard",
    "parse_updates",
    "parse_webhook",
]

#: Names that left this namespace (okru 0.2): the ASGI app is server-side, in okru_asgi.
_ELSEWHERE = {"WebhookApp": "okru_asgi", "webhook_app": "okru_asgi"}

TYPE_CHECKING = False  # not typing's: the type checker must not see __getattr__ (see okru_proto)
if not TYPE_CHECKING:
    from .._deprecation import relocated

    __getattr__ = relocated(__name__, _ELSEWHERE)
