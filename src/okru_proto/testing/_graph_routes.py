"""The emulator's Bot API endpoints: ``/graph/...`` and the file upload host (``/fu/upload.do``).

Documented behaviour (docs/protocol.md §11): the token as the ``access_token`` query parameter,
POST bodies as ``application/json``, chats paged by ``marker`` (none on the last page, count
1..100, default 50), at most 5 attachments and one image by URL per message, a CALLBACK answer
needs the ``callbackId`` of a press, subscriptions by http(s) URL. Where OK publishes nothing
the emulator chooses, as docs/bots.md lists: errors are OK's error object with HTTP 200; a
send answers ``{"success": true, "message_id": ...}``; an unknown chat is 705 CHAT_NOT_FOUND;
a bad body or parameter is 100 PARAM; an unknown or replaced token 103, an expired one 102.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

from .._values import Response
from ._bots import FakeBots, Upload, bots_of
from ._http import Incoming, api_error, json_response
from ._store import Store

__all__ = ["file_upload", "graph_endpoint"]

_FILE_TYPES = ("FILE", "VIDEO", "AUDIO", "IMAGE")
_UPLOAD_TTL_MS = 24 * 3600 * 1000


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
        return {"subscriptions": [{"time": t, "url": u} for u, t in bots.subscriptions.items()]}
    if method == "POST" and name in ("subscribe", "unsubscribe"):
        url = _body(incoming).get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise _Fail(100, "url : an http: or https: URL is required")
        if name == "subscribe":
            bots.subscriptions.setdefault(url, bots.now_ms)
        else:
            bots.subscriptions.pop(url, None)
        return {"success": True}
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
        newest = _int(params, "from", 2**63 - 1, 0, 2**63 - 1)
        oldest = _int(params, "to", 0, 0, 2**63 - 1)
        count = _int(params, "count", 50, 1, 100)
        listed = [m for m in reversed(chat.messages) if oldest <= m["timestamp"] <= newest][:count]
        return {"messages": listed}
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
    """The file host's ``upload.do``: the file is the raw body, typed by its Content-Type."""
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
        ctype = (incoming.request.header("content-type") or "").split(";", 1)[0].strip().lower()
        needed = {"IMAGE": "image/", "AUDIO": "audio/"}.get(upload.type)
        if needed and not ctype.startswith(needed):
            raise _Fail(100, f"upload : {upload.type} needs a {needed}* Content-Type")
    except _Fail as fail:
        return api_error(fail.code, fail.text)
    upload.data = _raw(incoming)
    if upload.type == "IMAGE":
        return json_response({"photos": {upload.file_id: {"token": upload.token}}})
    return json_response({"success": True})
