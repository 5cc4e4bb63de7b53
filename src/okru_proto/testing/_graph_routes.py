"""The emulator's Bot API endpoints: ``/graph/...``, the file upload host (``/fu/upload.do``)
and ``/fake/bots/...``, the emulator's own controls (a member writes, presses a button), which
a shell or another process uses to script a running emulator.

Documented behaviour (docs/protocol.md §11): the token as the ``access_token`` query parameter,
POST bodies as ``application/json``, chats paged by ``marker`` (none on the last page, count
1..100, default 50), at most 5 attachments and one image by URL per message, a CALLBACK answer
needs the ``callbackId`` of a press, subscriptions by http(s) URL. Where OK publishes nothing
the emulator chooses, as docs/bots.md lists: errors are OK's error object with HTTP 200; a
send answers ``{"success": true, "message_id": ...}``; an unknown chat is 705 CHAT_NOT_FOUND;
a bad body or parameter is 100 PARAM; an unknown or replaced token 103, an expired one 102;
``me/updates`` without a long-polling subscription is 5000 (what a public client takes as "not
subscribed"), and answers ``{"updates": [<webhook body>...], "marker": "..."}``; a chat action
is ``{"action": "TYPING_ON"}``; a file upload is the raw body or one multipart part.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

from .._values import Response
from ._bots import EVENT_TYPES, FakeBots, Upload, bots_of
from ._http import Incoming, api_error, json_response, parse_multipart
from ._store import Store

__all__ = ["fake_control", "file_upload", "graph_endpoint", "updates_hold"]

_FILE_TYPES = ("FILE", "VIDEO", "AUDIO", "IMAGE")
_UPLOAD_TTL_MS = 24 * 3600 * 1000
_ACTIONS = ("TYPING_ON", "SENDING_PHOTO", "SENDING_VIDEO", "SENDING_AUDIO", "MARK_SEEN")
#: How long a held long poll may wait by default, and at most (the emulator's choice).
_POLL_HOLD = 30
_POLL_HOLD_MAX = 90


class _Fail(Exception):
    def __init__(self, code: int, text: str) -> None:
        self.code, self.text = code, text


def _marker(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _offset(marker: str) -> int:
    try:
        kind, _, number = base64.b64decode(marker, validate=True).decode().partition(":")
        if kind == "offset" and number.isdigit():
            return int(number)
    except (ValueError, UnicodeDecodeError):
        pass
    raise _Fail(100, "marker : invalid marker")


def _position(marker: str) -> int:
    try:
        kind, _, number = base64.b64decode(marker, validate=True).decode().partition(":")
        if kind == "updates" and number.isdigit():
            return int(number)
    except (ValueError, UnicodeDecodeError):
        pass
    raise _Fail(100, "marker : invalid marker")


def _int(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    text = params.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise _Fail(100, f"{name} : not a number") from None
    if not low <= value <= high:
        raise _Fail(100, f"{name} : must be in {low}..{high}")
    return value


def _raw(incoming: Incoming) -> bytes:
    # The Bot API takes whole bodies; only a video upload is handed over as a stream.
    body = incoming.request.body
    if type(body) is not bytes:
        raise _Fail(100, "the Bot API does not take streamed bodies")
    return body


def _body(incoming: Incoming) -> dict[str, Any]:
    ctype = (incoming.request.header("content-type") or "").split(";", 1)[0].strip().lower()
    if ctype != "application/json":
        raise _Fail(100, "Content-Type must be application/json;charset=utf-8")
    try:
        value = json.loads(_raw(incoming).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _Fail(100, "request body is not valid JSON") from None
    if type(value) is not dict:
        raise _Fail(100, "request body must be a JSON object")
    return value


def _message(bots: FakeBots, body: dict[str, Any]) -> dict[str, Any]:
    message = body.get("message")
    if type(message) is not dict:
        raise _Fail(100, "message : missing")
    items: list[Any] = []
    if "attachment" in message:
        items.append(message["attachment"])
    if isinstance(message.get("attachments"), list):
        items.extend(message["attachments"])
    if len(items) > 5:
        raise _Fail(100, "attachments : at most 5 attachments")
    by_url = 0
    for item in items:
        if type(item) is not dict or not isinstance(item.get("type"), str) or type(item.get("payload")) is not dict:
            raise _Fail(100, "attachment : needs type and payload")
        payload = item["payload"]
        if item["type"] == "IMAGE" and "url" in payload:
            by_url += 1
        elif item["type"] in _FILE_TYPES and not _known_token(bots, payload.get("token"), item["type"]):
            raise _Fail(100, f"attachment : unknown {item['type']} token")
    if by_url > 1:
        raise _Fail(100, "attachment : only 1 image by url per message")
    text = message.get("text")
    if not items and not (isinstance(text, str) and text):
        raise _Fail(100, "message : text or attachments required")
    return message


def _known_token(bots: FakeBots, token: object, kind: str) -> bool:
    if not isinstance(token, str):
        return False
    for upload in bots.uploads.values():
        if upload.token == token and upload.type == kind and upload.data is not None:
            return True
    # A token taken from an existing message's attachment may be sent again.
    return any(isinstance(a, dict) and isinstance(a.get("payload"), dict) and a["payload"].get("token") == token
               for chat in bots.chats.values() for m in chat.messages
               for a in [m["message"].get("attachment"), *(m["message"].get("attachments") or [])])


def _chat(bots: FakeBots, chat_id: str) -> Any:
    chat = bots.chats.get(chat_id)
    if chat is None:
        raise _Fail(705, f"chat {chat_id} not found")
    return chat


def _me(bots: FakeBots, incoming: Incoming, method: str, rest: list[str]) -> Any:
    params = incoming.params
    name = rest[0] if rest else ""
    if (method, name) == ("GET", "info"):
        return {"name": bots.name, "group_id": bots.group_id}
    if (method, name) == ("GET", "chats"):
        count = _int(params, "count", 50, 1, 100)
        start = _offset(params["marker"]) if "marker" in params else 0
        ordered = sorted(bots.chats.values(), key=lambda c: (-c.last_event_time, c.chat_id))
        page = ordered[start:start + count]
        reply: dict[str, Any] = {"chats": [c.to_json(bots.group_id) for c in page]}
        if start + count < len(ordered):
            reply["marker"] = _marker(start + count)
        return reply
    if (method, name) == ("GET", "chat"):
        chat_id = rest[1] if len(rest) > 1 else params.get("chat_id", "")
        return _chat(bots, chat_id).to_json(bots.group_id)
    if (method, name) == ("GET", "subscriptions"):
        listed: list[dict[str, Any]] = []
        for u, t in bots.subscriptions.items():
            item: dict[str, Any] = {"time": t, "url": u}
            if u in bots.hook_types:
                item["types"] = list(bots.hook_types[u])
            listed.append(item)
        if bots.long_polling is not None:
            listed.append({"time": bots.long_polling.time, "types": list(bots.long_polling.types),
                           "longPolling": True})
        return {"subscriptions": listed}
    if method == "POST" and name in ("subscribe", "unsubscribe"):
        return _subscribe(bots, _body(incoming), name == "subscribe")
    if (method, name) == ("GET", "updates"):
        return _updates(bots, params)
    if (method, name) == ("GET", "messages") and (len(rest) > 1 or "chat_id" in params):
        return _messages(_chat(bots, rest[1] if len(rest) > 1 else params["chat_id"]), params)
    if (method, name) == ("GET", "fileUploadUrl"):
        kind = params.get("type", "FILE")
        if kind not in _FILE_TYPES:
            raise _Fail(100, f"type : one of {', '.join(_FILE_TYPES)}")
        store = bots.store
        upload = Upload(kind, store.random_hex(8), store.random_hex(11), store.random_hex(24),
                        store.random_hex(7) if kind == "IMAGE" else None, bots.now_ms + _UPLOAD_TTL_MS)
        bots.uploads[upload.upload_id] = upload
        url = (f"{incoming.base_url}/fu/upload.do?sig={upload.sig}&expires={upload.expires_ms}"
               f"&clientType=3&id={upload.upload_id}&userId={quote(bots.group_id)}")
        # IMAGE: the attachment token comes from the upload's reply; its temporary id is file_id.
        return {"url": url, "file_id": upload.file_id} if kind == "IMAGE" else {"url": url, "token": upload.token}
    if (method, name) == ("POST", "messages"):
        return _send_to_users(bots, _body(incoming))
    raise _Fail(3, f"no Graph method {method} me/{name}")


def _types(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(t in EVENT_TYPES for t in value):
        raise _Fail(100, f"types : a list of {', '.join(EVENT_TYPES)}")
    return tuple(dict.fromkeys(value))


def _subscribe(bots: FakeBots, body: dict[str, Any], on: bool) -> Any:
    if body.get("longPolling") is True:
        # The documented long-polling body: {"types": [...], "longPolling": true}.
        if on:
            types = _types(body["types"]) if "types" in body else EVENT_TYPES
            if bots.long_polling is None:
                bots.poll_cursor = bots.poll_end  # a new subscription starts with what happens next
            bots.long_polling = _long_polling(bots, types)
        else:
            bots.long_polling = None
        return {"success": True}
    url = body.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise _Fail(100, "url : an http: or https: URL is required")
    if on:
        bots.subscriptions.setdefault(url, bots.now_ms)
        if "types" in body:
            bots.hook_types[url] = _types(body["types"])
        else:
            bots.hook_types.pop(url, None)
    else:
        bots.subscriptions.pop(url, None)
        bots.hook_types.pop(url, None)
    return {"success": True}


def _long_polling(bots: FakeBots, types: tuple[str, ...]) -> Any:
    from ._bots import LongPolling

    since = bots.long_polling.time if bots.long_polling is not None else bots.now_ms
    return LongPolling(since, types)


def _updates(bots: FakeBots, params: dict[str, str]) -> Any:
    if bots.long_polling is None:
        raise _Fail(5000, "no long polling subscription: POST me/subscribe {\"longPolling\": true}")
    count = _int(params, "count", 100, 1, 100)
    _int(params, "timeout", _POLL_HOLD, 0, _POLL_HOLD_MAX)
    start = _position(params["marker"]) if "marker" in params else bots.poll_cursor
    events, end = bots.poll(start, count)
    if "marker" not in params or start >= bots.poll_cursor:
        bots.poll_cursor = max(bots.poll_cursor, end)
    return {"updates": events, "marker": _updates_marker(end)}


def _updates_marker(position: int) -> str:
    return base64.b64encode(f"updates:{position}".encode()).decode()


def _messages(chat: Any, params: dict[str, str]) -> Any:
    newest = _int(params, "from", 2**63 - 1, 0, 2**63 - 1)
    oldest = _int(params, "to", 0, 0, 2**63 - 1)
    count = _int(params, "count", 50, 1, 100)
    if params.get("include_deleted", "false") not in ("true", "false"):
        raise _Fail(100, "include_deleted : true or false")
    listed = [m for m in reversed(chat.messages) if oldest <= m["timestamp"] <= newest][:count]
    return {"messages": listed}


def updates_hold(store: Store, incoming: Incoming) -> float:
    """Seconds a transport may hold this request open before answering it: a long poll
    (``GET /graph/me/updates`` with the right token and a long-polling subscription) that has
    nothing to return yet waits up to its ``timeout`` (default 30, at most 90) for news; every
    other request 0."""
    if incoming.path.rstrip("/") != "/graph/me/updates" or incoming.request.method != "GET":
        return 0.0
    bots = bots_of(store)
    params = incoming.params
    with store.lock:
        if params.get("access_token") != bots.access_token or bots.token_expired or bots.long_polling is None:
            return 0.0
        try:
            hold = _int(params, "timeout", _POLL_HOLD, 0, _POLL_HOLD_MAX)
            start = _position(params["marker"]) if "marker" in params else bots.poll_cursor
        except _Fail:
            return 0.0
        return float(hold) if start >= bots.poll_end else 0.0


def _send_to_users(bots: FakeBots, body: dict[str, Any]) -> Any:
    recipient = body.get("recipient")
    recipient = recipient if type(recipient) is dict else {}
    ids = recipient.get("user_ids") if "user_ids" in recipient else [recipient.get("user_id")]
    if not isinstance(ids, list) or not ids or not all(isinstance(u, str) and u for u in ids):
        raise _Fail(100, "recipient : user_ids or user_id required")
    message = _message(bots, body)
    success: list[bool] = []
    chat_ids: list[str | None] = []
    for user in ids:
        user = user if user.startswith("user:") else f"user:{user}"
        if user not in bots.allowed_users:
            success.append(False)
            chat_ids.append(None)
            continue
        dialog = next((c for c in bots.chats.values() if c.type == "DIALOG" and user in c.participants), None)
        chat_id = dialog.chat_id if dialog else bots.add_chat(user, [user], chat_type="DIALOG")
        bots.add_message(chat_id, {"name": bots.name, "group_id": bots.group_id}, message)
        success.append(True)
        chat_ids.append(chat_id)
    if "user_ids" not in recipient:
        return {"success": success[0], "chat_id": chat_ids[0]}
    return {"success": success, "chat_ids": chat_ids}


def _chat_call(bots: FakeBots, incoming: Incoming, method: str, target: str, action: str) -> Any:
    if target.startswith("mid:") and (method, action) == ("POST", "edit"):
        message = _message(bots, _body(incoming))
        for chat in bots.chats.values():
            for record in chat.messages:
                if record["message"]["mid"] == target:
                    if record["sender"].get("group_id") != bots.group_id:
                        raise _Fail(24, "only the group's own messages can be edited")
                    record["message"] = {**message, "seq": record["message"]["seq"], "mid": target}
                    return {"success": True}
        raise _Fail(300, f"message {target} not found")
    chat = _chat(bots, target)
    params = incoming.params
    if (method, action) == ("GET", "url"):
        return {"url": f"https://ok.ru/messages/g{int(chat.chat_id.encode().hex()[:12], 16)}"}
    if (method, action) == ("GET", "messages"):
        return _messages(chat, params)
    if (method, action) == ("POST", "action"):
        kind = _body(incoming).get("action")
        if kind not in _ACTIONS:
            raise _Fail(100, f"action : one of {', '.join(_ACTIONS)}")
        bots.actions.append((chat.chat_id, kind))
        return {"success": True}
    if (method, action) == ("POST", "messages"):
        body = _body(incoming)
        recipient = body.get("recipient")
        if type(recipient) is dict and recipient.get("chat_id") not in (None, chat.chat_id):
            raise _Fail(100, "recipient : chat_id differs from the chat in the path")
        record = bots.add_message(chat.chat_id, {"name": bots.name, "group_id": bots.group_id},
                                  _message(bots, body))
        return {"success": True, "message_id": record["message"]["mid"]}
    if (method, action) == ("POST", "answer"):
        callback = bots.callbacks.get(params.get("callbackId", ""))
        if callback is None or callback[0] != chat.chat_id:
            raise _Fail(100, "callbackId : unknown callback")
        message = _message(bots, _body(incoming))
        del bots.callbacks[params["callbackId"]]
        bots.answers.append({"chat_id": chat.chat_id, "user_id": callback[1], "message": message})
        return {"success": True}
    raise _Fail(3, f"no Graph method {method} <chat>/{action}")


def graph_endpoint(store: Store, incoming: Incoming) -> Response:
    """Every ``/graph/...`` request (paths ``me/...`` and ``<chat_id>/...``)."""
    bots = bots_of(store)
    try:
        token = incoming.query and dict(incoming.query).get("access_token")
        if not token:
            raise _Fail(100, "access_token : missing")
        if token != bots.access_token:
            raise _Fail(103, "Invalid access_token")
        if bots.token_expired:
            raise _Fail(102, "access_token expired")
        method = incoming.request.method
        parts = [p for p in incoming.path[len("/graph/"):].split("/") if p]
        if not parts:
            raise _Fail(3, "no Graph method")
        if parts[0] == "me":
            value = _me(bots, incoming, method, parts[1:])
        elif len(parts) == 2:
            value = _chat_call(bots, incoming, method, parts[0], parts[1])
        else:
            raise _Fail(3, f"no Graph method {'/'.join(parts)}")
    except _Fail as fail:
        return api_error(fail.code, fail.text)
    return json_response(value)


def file_upload(store: Store, incoming: Incoming) -> Response:
    """The file host's ``upload.do``: the file is the raw body, typed by its Content-Type, or
    the one file part of a ``multipart/form-data`` body, typed by the part's Content-Type."""
    bots = bots_of(store)
    params = incoming.params
    upload = bots.uploads.get(params.get("id", ""))
    try:
        if upload is None or params.get("sig") != upload.sig:
            raise _Fail(100, "upload : unknown upload url")
        if bots.now_ms > upload.expires_ms:
            raise _Fail(100, "upload : the upload url has expired")
        if incoming.request.method != "POST" or not incoming.request.body:
            raise _Fail(100, "upload : POST the file as the request body")
        header = incoming.request.header("content-type") or ""
        ctype = header.split(";", 1)[0].strip().lower()
        data = _raw(incoming)
        if ctype == "multipart/form-data":
            parts = [p for p in parse_multipart(header, data) or () if p.filename is not None]
            if len(parts) != 1 or not parts[0].data:
                raise _Fail(100, "upload : a multipart upload carries exactly one file part")
            ctype, data = parts[0].content_type.lower(), parts[0].data
        needed = {"IMAGE": "image/", "AUDIO": "audio/"}.get(upload.type)
        if needed and not ctype.startswith(needed):
            raise _Fail(100, f"upload : {upload.type} needs a {needed}* Content-Type")
    except _Fail as fail:
        return api_error(fail.code, fail.text)
    upload.data = data
    if upload.type == "IMAGE":
        return json_response({"photos": {upload.file_id: {"token": upload.token}}})
    return json_response({"success": True})


def fake_control(store: Store, incoming: Incoming) -> Response:
    """``POST /fake/bots/write`` (``{"chat_id", "text", "user_id"?}``: a member writes; the
    reply has the ``mid``) and ``POST /fake/bots/press`` (``{"chat_id", "payload",
    "user_id"?}``: a member presses a button; the reply has the ``callback_id``), authorised by
    the group's token as ``access_token`` (the emulator's controls, not OK's API). ``user_id``
    defaults to the chat's first member."""
    bots = bots_of(store)
    try:
        if dict(incoming.query).get("access_token") != bots.access_token:
            raise _Fail(103, "Invalid access_token")
        if incoming.request.method != "POST":
            raise _Fail(3, "the emulator's controls take POST")
        body = _body(incoming)
        chat_id = body.get("chat_id")
        chat = _chat(bots, chat_id if isinstance(chat_id, str) else "")
        user = body.get("user_id")
        if user is None:
            if not chat.participants:
                raise _Fail(100, "user_id : the chat has no members")
            user = next(iter(chat.participants))
        if not isinstance(user, str) or user not in chat.participants:
            raise _Fail(100, f"user_id : not a member of {chat.chat_id}")
        if incoming.path == "/fake/bots/write":
            text = body.get("text")
            if not isinstance(text, str) or not text:
                raise _Fail(100, "text : missing")
            return json_response({"mid": bots.user_writes(chat.chat_id, user, text)})
        if incoming.path == "/fake/bots/press":
            payload = body.get("payload")
            if not isinstance(payload, str):
                raise _Fail(100, "payload : missing")
            return json_response({"callback_id": bots.press(chat.chat_id, user, payload)})
        raise _Fail(3, f"no emulator control {incoming.path}")
    except _Fail as fail:
        return api_error(fail.code, fail.text)
