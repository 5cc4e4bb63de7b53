"""The Bot API's flows (docs/protocol.md §11): :class:`BotCore` and :class:`HistoryPager`.

Each method of the Bot API is one flow here, built on :mod:`._graph`'s requests and replies:
info, chats (OK's marker), one chat, its link, its messages (and a walk back through them),
sending (to a chat or to users), answering a button, editing, subscriptions, and the three-step
file upload as one flow. An adapter's ``BotSession`` only drives them with
``run_sync``/``run_async``.

Where OK publishes nothing, the choice is made here once and listed in docs/bots.md: a send's
reply is accepted in any shape that is not an error; the upload POSTs the file's bytes as the
body with the file's MIME type (the fileUploadUrl page's wording); messages are paged back by
time.

Every flow's errors go through the one scrubber (:func:`~okru_proto.adapter.guarded`), as on the
REST paths: a server that echoes the request into an HTML ``<title>``, an ``error_msg`` or
``error_data`` cannot put the group token (or an upload URL's ``sig``) into them. The upload URL
is checked as photo and video upload URLs are (:func:`~okru_proto.adapter.check_upload_url`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._errors import Error, ProtocolError, UsageError
from .._flow import Flow, RetryPolicy, Sleep, guarded, retrying
from .._photos import check_upload_url
from .._scrub import upload_url_secrets
from .._values import Endpoints, Request, Response, Secret, reveal
from .._wire.rest import form_encode
from ._graph import EDIT_PATH, FILE_TYPES, UPLOAD_SETTLE_SECONDS, _build, _segment, parse_graph_response
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

__all__ = ["BotCore", "HistoryPager"]

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
                      to_ms: int | None = None) -> Flow[tuple[ChatMessage, ...]]:
        """A chat's messages, newest first; ``from_ms`` (newest wanted) > ``to_ms`` (oldest)."""
        query = {"count": count, "from": from_ms, "to": to_ms}
        value = yield from self.request_flow("GET", f"{_segment(chat_id, 'chat_id')}/messages", "chat messages",
                                             query=query)
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
        """Replace a message's whole content (path chosen by okru: OK's is not published)."""
        path = EDIT_PATH.format(message_id=_segment(message_id, "message_id"))
        return (yield from self.request_flow("POST", path, "edit", body={"message": build_message(text, attachments)}))

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

    def upload_flow(self, data: bytes, type: str = "FILE", content_type: str | None = None) -> Flow[Attachment]:
        """The three-step upload's first two steps: an upload URL, then the file POSTed to it.
        Returns the :class:`Attachment` to send (step three)."""
        if isinstance(data, (bytearray, memoryview)):
            data = bytes(data)
        if not isinstance(data, bytes) or not data:
            raise UsageError("upload data must be non-empty bytes")
        if content_type is None:
            if type in ("IMAGE", "AUDIO"):
                # OK: "при загрузке файлов типа AUDIO и IMAGE ... необходимо указывать корректный MIME-type".
                raise UsageError(f"uploading {type} needs content_type= (e.g. 'image/jpeg'), as OK.ru requires")
            content_type = "application/octet-stream"
        known: list[object] = [self.access_token]

        def steps() -> Flow[Attachment]:
            target = yield from self.upload_target_flow(type)
            known.extend(upload_url_secrets(target.url))  # its sig authorizes the upload
            response = yield Request("POST", target.url, (("content-type", content_type),), data)
            return Attachment(type, {"token": _upload_token(response, target)})

        return (yield from guarded(steps(), lambda: known))

    def send_file_flow(self, chat_id: str, data: bytes, type: str = "FILE", *, content_type: str | None = None,
                       text: str | None = None, settle: float = UPLOAD_SETTLE_SECONDS) -> Flow[SentMessage]:
        """All three steps: upload, wait ``settle`` seconds for OK to process it, send."""
        attachment = yield from self.upload_flow(data, type, content_type)
        if settle:
            yield Sleep(settle)
        return (yield from self.send_flow(chat_id, text, [attachment]))

    def subscribe_flow(self, url: str) -> Flow[bool]:
        value = yield from self.request_flow("POST", "me/subscribe", "subscribe", body={"url": _hook(url)})
        return _success(value, "subscribe")

    def unsubscribe_flow(self, url: str) -> Flow[bool]:
        value = yield from self.request_flow("POST", "me/unsubscribe", "unsubscribe", body={"url": _hook(url)})
        return _success(value, "unsubscribe")

    def subscriptions_flow(self) -> Flow[tuple[Subscription, ...]]:
        value = yield from self.request_flow("GET", "me/subscriptions", "subscriptions")
        listed = value.get("subscriptions") if isinstance(value, dict) else None
        return tuple(Subscription(s.get("url") if isinstance(s.get("url"), str) else None,
                                  s.get("time") if type(s.get("time")) is int else None, s)
                     for s in (listed if isinstance(listed, list) else []) if isinstance(s, dict))


class HistoryPager:
    """Walks a chat's messages from the newest back (``GET <chat>/messages`` has no marker).

    Each page asks for messages no newer than the oldest one seen (``from`` = its timestamp,
    inclusive, since OK does not say whether ``from`` is inclusive), drops those already
    returned (by ``mid``), and stops when a page brings nothing new, or after ``max_pages``.
    More than ``count`` messages within one millisecond would end the walk early.
    """

    def __init__(self, chat_id: str, count: int | None = None, max_pages: int = 1000) -> None:
        self.chat_id, self.count, self.pages_left = chat_id, count, max_pages
        self.from_ms: int | None = None
        self.seen: set[str] = set()
        self.done = max_pages <= 0

    def page_flow(self, core: BotCore) -> Flow[tuple[ChatMessage, ...]]:
        page = yield from core.messages_flow(self.chat_id, count=self.count, from_ms=self.from_ms)
        self.pages_left -= 1
        fresh = tuple(m for m in page if m.mid is None or m.mid not in self.seen)
        self.seen.update(m.mid for m in fresh if m.mid is not None)
        stamps = [m.timestamp for m in page if m.timestamp is not None]
        if not fresh or not stamps or self.pages_left <= 0:
            self.done = True
        else:
            self.from_ms = min(stamps)
        return fresh


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
