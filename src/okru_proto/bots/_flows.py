"""The Bot API's flows (docs/protocol.md §11): :class:`BotCore` and :class:`HistoryPager`.

Each method of the Bot API is one flow here, built on :mod:`._graph`'s requests and replies:
info, chats (OK's marker), one chat, its link, its messages (and a walk back through them),
sending (to a chat or to users), answering a button, editing, subscriptions, and the three-step
file upload as one flow. An adapter's ``BotSession`` only drives them with
``run_sync``/``run_async``.

Where OK publishes nothing, the choice is made here once and listed in docs/bots.md: a send's
reply is accepted in any shape that is not an error; the upload POSTs the file's bytes as the
body (multipart for IMAGE, see :data:`DEFAULT_UPLOAD_ENCODING`); messages are paged back by
time; long polling (:class:`UpdatesPoller`) asks OK to hold each poll ``timeout`` seconds,
follows the reply's ``marker``, subscribes when OK says there is no long-polling subscription,
and backs off (capped, through :class:`Sleep`) on failures and on empty replies OK did not hold.

Every flow's errors go through the one scrubber (:func:`~okru_proto.adapter.guarded`), as on the
REST paths: a server that echoes the request into an HTML ``<title>``, an ``error_msg`` or
``error_data`` cannot put the group token (or an upload URL's ``sig``) into them. The upload URL
is checked as photo and video upload URLs are (:func:`~okru_proto.adapter.check_upload_url`).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._errors import APIError, Error, ProtocolError, TransportError, UsageError
from .._flow import Flow, RetryPolicy, Sleep, guarded, retrying
from .._multipart import FormFile, form_data_body
from .._photos import check_upload_url
from .._scrub import upload_url_secrets
from .._values import Endpoints, Request, Response, Secret, reveal
from .._wire.rest import _quote, form_encode
from ._graph import (
    ACTION_FIELD,
    ACTION_PATH,
    ACTIONS,
    EDIT_PATH,
    EVENT_TYPES,
    FILE_TYPES,
    MESSAGES_PATH,
    NOT_SUBSCRIBED,
    UPDATES_PATH,
    UPLOAD_ENCODINGS,
    UPLOAD_FIELD,
    UPLOAD_SETTLE_SECONDS,
    _build,
    _segment,
    parse_graph_response,
)
from ._values import (
    Attachment,
    BotInfo,
    Chat,
    ChatMessage,
    ChatsPage,
    DirectSend,
    SentMessage,
    Subscription,
    UploadTarget,
    as_id,
    build_message,
)
from ._webhook import DedupWindow, Updates, WebhookEvent, event_key, parse_updates

__all__ = [
    "DEFAULT_POLL_TIMEOUT",
    "DEFAULT_UPLOAD_ENCODING",
    "BotCore",
    "ChatsPager",
    "HistoryPager",
    "PollSettings",
    "UpdatesPoller",
]

#: Seconds okru asks OK to hold a long poll open when nothing happens (okru's choice: OK
#: publishes no limit). It stays under the sessions' default read timeout (30 s) so a held poll
#: is never cut by the client.
DEFAULT_POLL_TIMEOUT = 20
#: The most a caller may ask for: a poll held longer than this is better made shorter.
MAX_POLL_TIMEOUT = 300
#: Step two's encoding per file type (okru's choice, docs/protocol.md §11.6): IMAGE as multipart,
#: where two of three sources point (the English page's photo-upload step, two public clients);
#: the others as the raw body, as the Russian page says and OK answers them with the step-one token.
DEFAULT_UPLOAD_ENCODING = {"IMAGE": "multipart"}
#: Long polling's backoff: 1 s doubling to 30 s, with jitter.
POLL_BACKOFF = RetryPolicy(attempts=0, base=1.0, cap=30.0)
_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp",
               "audio/mpeg": ".mp3", "audio/ogg": ".ogg", "video/mp4": ".mp4"}

log = logging.getLogger("okru")


def _need(value: Any, kind: type, what: str, response: Any = None) -> Any:
    if not isinstance(value, kind):
        raise ProtocolError(f"{what}: expected a JSON {kind.__name__}, got {type(value).__name__}",
                            method=what, response=response)
    return value


class BotCore:
    """One group token's options; builds every Bot API flow (no I/O).

    ``retry`` (a :class:`RetryPolicy`) retries flood/service errors, 5xx and transport failures,
    as for REST; it is off by default because a retried send can post twice.
    """

    def __init__(self, access_token: Secret | str, *, endpoints: Endpoints | None = None,
                 retry: RetryPolicy | None = None, clock: Callable[[], float] | None = None) -> None:
        token = reveal(access_token)
        if not isinstance(token, str) or not token or any(c in token for c in "\r\n\x00 "):
            raise UsageError("BotSession needs the group's access token (a non-empty str)")
        if endpoints is not None and not isinstance(endpoints, Endpoints):
            raise UsageError("endpoints must be an okru_proto.Endpoints")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise UsageError("retry must be an okru_proto.RetryPolicy (or None)")
        self.access_token = Secret(token)
        self._token_query = form_encode([("access_token", token)])
        self.endpoints = endpoints or Endpoints()
        self.retry = retry
        self.clock = clock

    def __repr__(self) -> str:
        return f"BotCore(api={self.endpoints.api!r})"

    # -- the one request flow ------------------------------------------------------------
    def request_flow(self, http_method: str, path: str, what: str, *, query: Mapping[str, object] | None = None,
                     body: object = None) -> Flow[Any]:
        """One Graph call with the retry policy; the parsed JSON (never an error object)."""
        request = _build(http_method, path, self._token_query, self.endpoints, query, body)
        secrets = (self.access_token,)

        def attempt() -> Flow[Any]:
            try:
                response = yield request
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("graph %s %s -> HTTP %d", http_method, what, response.status)
                return parse_graph_response(response, what, secrets)
            except Error as exc:
                log.debug("%s failed: %s", what, type(exc).__name__)
                raise

        # The one scrubber, as on REST: whatever the server echoed into the error loses the token.
        return (yield from guarded(retrying(self.retry, attempt), secrets))

    # -- methods -------------------------------------------------------------------------
    def info_flow(self) -> Flow[BotInfo]:
        value = _need((yield from self.request_flow("GET", "me/info", "me/info")), dict, "me/info")
        return BotInfo(value.get("name") if isinstance(value.get("name"), str) else None,
                       as_id(value.get("group_id")), value)

    def chats_page_flow(self, marker: str | None = None, count: int | None = None) -> Flow[ChatsPage]:
        if count is not None and (type(count) is not int or not 1 <= count <= 100):
            raise UsageError(f"count is 1..100 chats per page (OK's limit), got {count!r}")
        value = _need((yield from self.request_flow("GET", "me/chats", "me/chats",
                                                    query={"marker": marker, "count": count})), dict, "me/chats")
        chats = value.get("chats")
        items = tuple(Chat.from_json(c) for c in chats) if isinstance(chats, list) else ()
        # "Если в ответе метода отсутствует marker, то ... больше чатов для загрузки нет."
        next_marker = value.get("marker") if isinstance(value.get("marker"), str) and value["marker"] else None
        return ChatsPage(items, next_marker, value)

    def chat_flow(self, chat_id: str) -> Flow[Chat]:
        path = f"me/chat/{_segment(chat_id, 'chat_id')}"
        return Chat.from_json(_need((yield from self.request_flow("GET", path, "me/chat")), dict, "me/chat"))

    def chat_url_flow(self, chat_id: str) -> Flow[str]:
        value = yield from self.request_flow("GET", f"{_segment(chat_id, 'chat_id')}/url", "chat url")
        url = value.get("url") if isinstance(value, dict) else None
        if not isinstance(url, str):
            raise ProtocolError("chat url: the reply has no url", method="chat url")
        return url

    def messages_flow(self, chat_id: str, *, count: int | None = None, from_ms: int | None = None,
                      to_ms: int | None = None, include_deleted: bool | None = None
                      ) -> Flow[tuple[ChatMessage, ...]]:
        """A chat's messages, newest first; ``from_ms`` (newest wanted) > ``to_ms`` (oldest);
        ``include_deleted`` lists deleted ones too (OK enables it per group on request)."""
        if include_deleted is not None and type(include_deleted) is not bool:
            raise UsageError(f"include_deleted is True or False, got {include_deleted!r}")
        query = {"count": count, "from": from_ms, "to": to_ms, "include_deleted": include_deleted}
        path = MESSAGES_PATH.format(chat_id=_segment(chat_id, "chat_id"))
        value = yield from self.request_flow("GET", path, "chat messages", query=query)
        listed = value.get("messages") if isinstance(value, dict) else None
        return tuple(ChatMessage.from_json(m) for m in listed) if isinstance(listed, list) else ()

    def send_flow(self, chat_id: str, text: str | None = None, attachments: Sequence[Attachment] = (), *,
                  reply_to: str | None = None, extra: Mapping[str, Any] | None = None) -> Flow[SentMessage]:
        body = {"recipient": {"chat_id": chat_id},
                "message": build_message(text, attachments, reply_to=reply_to, extra=extra)}
        value = yield from self.request_flow("POST", f"{_segment(chat_id, 'chat_id')}/messages", "send", body=body)
        return _sent(value)

    def send_to_users_flow(self, user_ids: Sequence[str], text: str | None = None,
                           attachments: Sequence[Attachment] = ()) -> Flow[tuple[DirectSend, ...]]:
        """A message to users by id (each must allow messages from the group). OK answers two
        lists in request order: ``success`` and the ``chat_ids`` it used."""
        ids = [user_ids] if isinstance(user_ids, str) else list(user_ids)
        if not ids or not all(isinstance(u, str) and u for u in ids):
            raise UsageError("user_ids must be one or more user ids such as 'user:123456789012'")
        body = {"recipient": {"user_ids": ids}, "message": build_message(text, attachments)}
        value = _need((yield from self.request_flow("POST", "me/messages", "send to users", body=body)),
                      dict, "send to users")
        success, chats = value.get("success"), value.get("chat_ids")
        success = success if isinstance(success, list) else []
        chats = chats if isinstance(chats, list) else []
        return tuple(DirectSend(u, success[i] is True if i < len(success) else False,
                                as_id(chats[i]) if i < len(chats) else None) for i, u in enumerate(ids))

    def answer_flow(self, chat_id: str, callback_id: str, text: str | None = None,
                    attachments: Sequence[Attachment] = ()) -> Flow[Any]:
        """Answer a CALLBACK button press (OK requires a message in the answer)."""
        if not isinstance(callback_id, str) or not callback_id:
            raise UsageError("callback_id is the callbackId of the MESSAGE_CALLBACK event")
        body = {"message": build_message(text, attachments)}
        return (yield from self.request_flow("POST", f"{_segment(chat_id, 'chat_id')}/answer", "answer",
                                             query={"callbackId": callback_id}, body=body))

    def edit_flow(self, message_id: str, text: str | None = None, attachments: Sequence[Attachment] = ()) -> Flow[Any]:
        """Replace a message's whole content (``POST <message_id>/edit``)."""
        path = EDIT_PATH.format(message_id=_segment(message_id, "message_id"))
        return (yield from self.request_flow("POST", path, "edit", body={"message": build_message(text, attachments)}))

    def action_flow(self, chat_id: str, action: str) -> Flow[None]:
        """Show chat members what the bot is doing (``TYPING_ON``...) or mark all read
        (``MARK_SEEN``): ``POST <chat_id>/action``. Any reply that is not an error is success."""
        if action not in ACTIONS:
            raise UsageError(f"a chat action is one of {', '.join(ACTIONS)}, got {action!r}")
        path = ACTION_PATH.format(chat_id=_segment(chat_id, "chat_id"))
        yield from self.request_flow("POST", path, "action", body={ACTION_FIELD: action})

    def upload_target_flow(self, type: str = "FILE") -> Flow[UploadTarget]:
        if type not in FILE_TYPES:
            raise UsageError(f"upload type is one of {', '.join(FILE_TYPES)}, got {type!r}")
        value = _need((yield from self.request_flow("GET", "me/fileUploadUrl", "fileUploadUrl",
                                                    query={"type": type})), dict, "fileUploadUrl")
        # The photo and video rule: absolute http(s), no userinfo, plain http only to loopback.
        url = check_upload_url(value.get("url"), "the file", _upload_url_error)
        token = value.get("token")
        return UploadTarget(type, url, token if isinstance(token, str) and token else None,
                            as_id(value.get("file_id")), value)

    def upload_flow(self, data: bytes, type: str = "FILE", content_type: str | None = None, *,
                    encoding: str | None = None, boundary: str | None = None,
                    file_name: str | None = None) -> Flow[Attachment]:
        """The three-step upload's first two steps: an upload URL, then the file POSTed to it.
        Returns the :class:`Attachment` to send (step three).

        ``encoding``: ``"raw"`` (the bytes as the body, typed ``content_type``) or
        ``"multipart"`` (one part named :data:`UPLOAD_FIELD`, which needs ``boundary``);
        default :data:`DEFAULT_UPLOAD_ENCODING` (multipart for IMAGE, raw for the rest)."""
        if isinstance(data, (bytearray, memoryview)):
            data = bytes(data)
        if not isinstance(data, bytes) or not data:
            raise UsageError("upload data must be non-empty bytes")
        if encoding is None:
            encoding = DEFAULT_UPLOAD_ENCODING.get(type, "raw")
        if encoding not in UPLOAD_ENCODINGS:
            raise UsageError(f"upload encoding is one of {', '.join(UPLOAD_ENCODINGS)}, got {encoding!r}")
        if content_type is None:
            if type in ("IMAGE", "AUDIO"):
                # OK: "при загрузке файлов типа AUDIO и IMAGE ... необходимо указывать корректный MIME-type".
                raise UsageError(f"uploading {type} needs content_type= (e.g. 'image/jpeg'), as OK.ru requires")
            content_type = "application/octet-stream"
        if not isinstance(content_type, str) or not content_type or any(c in content_type for c in "\r\n\x00"):
            raise UsageError(f"content_type must be a MIME type such as 'image/jpeg', got {content_type!r}")
        if encoding == "multipart":
            if boundary is None:
                raise UsageError("a multipart upload needs boundary= (e.g. secrets.token_hex(16))")
            name = file_name or "file" + _EXTENSIONS.get(content_type.split(";", 1)[0].strip().lower(), "")
            ctype, streamed = form_data_body([FormFile(UPLOAD_FIELD, name, content_type, data)], boundary)
            # Every part is in memory: one flat body, which every transport sends as is.
            headers: tuple[tuple[str, str], ...] = (("content-type", ctype),)
            body = b"".join(p for p in streamed.parts if isinstance(p, bytes))
        else:
            headers, body = (("content-type", content_type),), data
        known: list[object] = [self.access_token]

        def steps() -> Flow[Attachment]:
            target = yield from self.upload_target_flow(type)
            known.extend(upload_url_secrets(target.url))  # its sig authorizes the upload
            response = yield Request("POST", target.url, headers, body)
            return Attachment(type, {"token": _upload_token(response, target)})

        return (yield from guarded(steps(), lambda: known))

    def send_file_flow(self, chat_id: str, data: bytes, type: str = "FILE", *, content_type: str | None = None,
                       text: str | None = None, settle: float = UPLOAD_SETTLE_SECONDS, encoding: str | None = None,
                       boundary: str | None = None) -> Flow[SentMessage]:
        """All three steps: upload, wait ``settle`` seconds for OK to process it, send."""
        attachment = yield from self.upload_flow(data, type, content_type, encoding=encoding, boundary=boundary)
        if settle:
            yield Sleep(settle)
        return (yield from self.send_flow(chat_id, text, [attachment]))

    def subscribe_flow(self, url: str | None = None, *, types: Sequence[str] | None = None,
                       long_polling: bool = False) -> Flow[bool]:
        """Subscribe to chat events, with one of the two bodies graph.user.subscribe documents:
        a webhook, ``{"url": ...}`` (plus ``"types"`` when given), or long polling,
        ``{"types": [...], "longPolling": true}`` (every event type unless ``types`` says)."""
        if type(long_polling) is not bool:
            raise UsageError(f"long_polling is True or False, got {long_polling!r}")
        listed = _event_types(types)
        body: dict[str, Any]
        if long_polling:
            if url is not None:
                raise UsageError("subscribe takes a webhook url or long_polling=True, not both")
            body = {"types": list(listed or EVENT_TYPES), "longPolling": True}
        else:
            if url is None:
                raise UsageError("subscribe needs a webhook url (http: or https:), or long_polling=True")
            body = {"url": _hook(url)}
            if listed is not None:
                body["types"] = list(listed)
        value = yield from self.request_flow("POST", "me/subscribe", "subscribe", body=body)
        return _success(value, "subscribe")

    def unsubscribe_flow(self, url: str) -> Flow[bool]:
        value = yield from self.request_flow("POST", "me/unsubscribe", "unsubscribe", body={"url": _hook(url)})
        return _success(value, "unsubscribe")

    def subscriptions_flow(self) -> Flow[tuple[Subscription, ...]]:
        value = yield from self.request_flow("GET", "me/subscriptions", "subscriptions")
        listed = value.get("subscriptions") if isinstance(value, dict) else None
        return tuple(Subscription.from_json(s) for s in (listed if isinstance(listed, list) else [])
                     if isinstance(s, dict))


class ChatsPager:
    """Walks the group's chats page by page with OK's ``marker`` (``GET me/chats``).

    Stops when a page carries no marker, when a marker comes back a second time (a server that
    repeats itself must not loop the caller forever), or after ``max_pages``.
    """

    def __init__(self, count: int | None = None, max_pages: int = 1000) -> None:
        self.count, self.pages_left = count, max_pages
        self.marker: str | None = None
        self.seen: set[str] = set()
        self.done = max_pages <= 0

    def page_flow(self, core: BotCore) -> Flow[tuple[Chat, ...]]:
        page = yield from core.chats_page_flow(self.marker, self.count)
        self.pages_left -= 1
        if page.marker is None or page.marker in self.seen or self.pages_left <= 0:
            self.done = True
        else:
            self.seen.add(page.marker)
            self.marker = page.marker
        return page.chats


class HistoryPager:
    """Walks a chat's messages from the newest back (``GET me/messages/<chat>`` has no marker).

    Each page asks for messages no newer than the oldest one seen (``from`` = its timestamp,
    inclusive, since OK does not say whether ``from`` is inclusive), drops those already
    returned (by ``mid``), and stops when a page brings nothing new, or after ``max_pages``.
    More than ``count`` messages within one millisecond would end the walk early.
    """

    def __init__(self, chat_id: str, count: int | None = None, max_pages: int = 1000,
                 include_deleted: bool | None = None) -> None:
        self.chat_id, self.count, self.pages_left = chat_id, count, max_pages
        self.include_deleted = include_deleted
        self.from_ms: int | None = None
        self.seen: set[str] = set()
        self.done = max_pages <= 0

    def page_flow(self, core: BotCore) -> Flow[tuple[ChatMessage, ...]]:
        page = yield from core.messages_flow(self.chat_id, count=self.count, from_ms=self.from_ms,
                                             include_deleted=self.include_deleted)
        self.pages_left -= 1
        fresh = tuple(m for m in page if m.mid is None or m.mid not in self.seen)
        self.seen.update(m.mid for m in fresh if m.mid is not None)
        stamps = [m.timestamp for m in page if m.timestamp is not None]
        if not fresh or not stamps or self.pages_left <= 0:
            self.done = True
        else:
            self.from_ms = min(stamps)
        return fresh


@dataclass(frozen=True, slots=True)
class PollSettings:
    """How one ``updates()`` loop polls: the event ``types`` it wants (None: all; others are
    dropped), the ``timeout`` OK is asked to hold each poll (seconds), whether to ``subscribe``
    for long polling when OK says there is no subscription, the ``backoff`` between failed or
    unheld polls, and the ``clock`` (seconds, passed in) that tells a held poll from one answered
    at once (None: no such check)."""

    types: tuple[str, ...] | None = None
    timeout: float = DEFAULT_POLL_TIMEOUT
    subscribe: bool = True
    backoff: RetryPolicy = POLL_BACKOFF
    clock: Callable[[], float] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "types", _event_types(self.types))
        timeout = self.timeout
        if type(timeout) not in (int, float) or not math.isfinite(timeout) or not 0 < timeout <= MAX_POLL_TIMEOUT:
            raise UsageError(f"timeout is the seconds OK may hold a poll, 0 < timeout <= {MAX_POLL_TIMEOUT}, "
                             f"got {timeout!r}")
        if type(self.subscribe) is not bool:
            raise UsageError(f"subscribe is True or False, got {self.subscribe!r}")
        if not isinstance(self.backoff, RetryPolicy):
            raise UsageError("backoff must be an okru_proto.RetryPolicy")

    @property
    def held(self) -> float:
        """An empty reply sooner than this many seconds was not held by the server."""
        return min(1.0, self.timeout / 2)


class UpdatesPoller:
    """One bot's long-polling position (``GET me/updates``): the ``marker`` to send next, the
    events received but not handed out yet, and the ids of those handed out, so each event is
    given once across polls, lost replies and a consumer that stops in the middle of a batch
    (the next loop on the same session hands out the rest first).

    A driver loops: :meth:`take` the next event while there is one; else :meth:`add` the
    result of :meth:`poll_flow`.
    """

    def __init__(self, dedup_window: int = 10_000) -> None:
        self.marker: str | None = None
        self.pending: deque[WebhookEvent] = deque()
        self._seen = DedupWindow(dedup_window)
        self._failures = 0
        self._unheld = 0

    def take(self) -> WebhookEvent | None:
        """The next event to hand out (never one handed out before), or None: poll again."""
        pending = self.pending
        while pending:
            event = pending.popleft()
            if not self._seen.seen(event_key(event)):
                return event
        return None

    def add(self, batch: Updates) -> None:
        """A poll's events (in order, after any still pending) and its marker (a reply without
        one keeps the last)."""
        self.pending.extend(batch.events)
        if batch.marker is not None:
            self.marker = batch.marker

    def poll_flow(self, core: BotCore, settings: PollSettings) -> Flow[Updates]:
        """One long poll (see :meth:`_poll`), its errors scrubbed of the token as every flow's."""
        return (yield from guarded(self._poll(core, settings), (core.access_token,)))

    def _poll(self, core: BotCore, settings: PollSettings) -> Flow[Updates]:
        """One long poll, retried until OK answers: a failure that may pass (transport, 5xx,
        an unreadable reply, flood/service errors) waits the backoff and polls again; "not
        subscribed" subscribes once, then polls again; any other error is raised. Returns the
        reply's events of the wanted types, in OK's order, and its marker."""
        resubscribed = False
        clock, held = settings.clock, settings.held
        head = f"{core.endpoints.api}/graph/{UPDATES_PATH}?"
        tail = f"timeout={_wire_seconds(settings.timeout)}&{core._token_query}"
        secrets = (core.access_token,)
        while True:
            started = clock() if clock is not None else None
            # One GET, built here rather than by request_flow: a poll's only varying part is the
            # marker, and the poller has its own retry rules (the session's retry= is for calls).
            marker = self.marker
            request = Request("GET", head + (f"marker={_quote(marker)}&{tail}" if marker else tail))
            try:
                response = yield request
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("graph GET updates -> HTTP %d", response.status)
                value = parse_graph_response(response, "updates", secrets)
            except APIError as exc:
                if exc.code == NOT_SUBSCRIBED and settings.subscribe and not resubscribed:
                    log.info("updates: no long-polling subscription; subscribing")
                    resubscribed = True
                    yield from core.subscribe_flow(types=settings.types, long_polling=True)
                    continue
                if not exc.retryable:
                    raise
                yield from self._pause(settings, exc)
                continue
            except (TransportError, ProtocolError) as exc:
                if not getattr(exc, "retryable", False) and not _unreadable(exc):
                    raise
                yield from self._pause(settings, exc)
                continue
            self._failures = 0
            updates = parse_updates(value)
            if not updates.events and started is not None and clock is not None and clock() - started < held:
                # OK answered an empty poll at once instead of holding it: wait before the next
                # one (growing, capped), so a server that does not hold polls is not hammered.
                self._unheld += 1
                yield Sleep(settings.backoff.delay(self._unheld - 1))
            else:
                self._unheld = 0
            if settings.types is None:
                return updates
            wanted = settings.types
            return Updates(tuple(e for e in updates.events if e.webhook_type in wanted), updates.marker)

    def _pause(self, settings: PollSettings, exc: Error) -> Flow[None]:
        self._failures += 1
        delay = settings.backoff.delay(self._failures - 1)
        log.warning("updates: %s; polling again in %.1f s", type(exc).__name__, delay)
        yield Sleep(delay)


def _wire_seconds(seconds: float) -> int | str:
    return int(seconds) if float(seconds).is_integer() else f"{seconds:g}"


def _unreadable(exc: Error) -> bool:
    # HTML or garbage instead of JSON ("technical works" pages): worth another poll later.
    return type(exc) is ProtocolError


def _event_types(types: Sequence[str] | None) -> tuple[str, ...] | None:
    if types is None:
        return None
    listed = (types,) if isinstance(types, str) else tuple(types)
    if not listed or any(t not in EVENT_TYPES for t in listed):
        raise UsageError(f"types are one or more of {', '.join(EVENT_TYPES)}, got {types!r}")
    return listed


def _upload_url_error(step: str, why: str) -> ProtocolError:
    return ProtocolError(f"fileUploadUrl: {why}", method="fileUploadUrl")


def _hook(url: str) -> str:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise UsageError(f"a webhook URL is an http: or https: URL (OK's rule), got {url!r}")
    return url


def _success(value: Any, what: str) -> bool:
    if isinstance(value, dict) and value.get("success") is True:
        return True
    raise ProtocolError(f"{what}: OK.ru did not confirm (no \"success\": true in the reply)", method=what)


def _sent(value: Any) -> SentMessage:
    message_id = None
    if isinstance(value, dict):
        message_id = as_id(value.get("message_id")) or as_id(value.get("mid"))
    return SentMessage(message_id, value)


def _upload_token(response: Response, target: UploadTarget) -> str:
    value = parse_graph_response(response, "file upload")
    if target.type != "IMAGE":
        if target.token is None:
            raise ProtocolError("fileUploadUrl gave no token for this upload", method="fileUploadUrl")
        return target.token
    # For IMAGE the token is in the upload's reply, photo-upload shaped: {"photos": {id: {"token"}}}.
    photos = value.get("photos") if isinstance(value, dict) else None
    if isinstance(photos, dict) and photos:
        entry = photos.get(target.file_id) if target.file_id in photos else next(iter(photos.values()))
        token = entry.get("token") if isinstance(entry, dict) else None
        if isinstance(token, str) and token:
            return token
    raise ProtocolError("file upload: the IMAGE upload reply has no photo token", method="file upload",
                        status=response.status, response=response)
