"""Every example body OK documents for the Bot API (docs/protocol.md §11), read by okru; and the
webhook parser against arbitrary input (Hypothesis)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from okru_proto import Error
from okru_proto.adapter import BotCore, Response
from okru_proto.bots import (
    Attachment,
    CallbackPressed,
    ChatSystemEvent,
    DedupWindow,
    MessageCreated,
    UnknownEvent,
    event_key,
    parse_webhook,
)
from okru_proto.errors import WebhookError

CHATS = {
    "chats": [{
        "type": "GROUP_CHAT", "status": "ACTIVE", "title": "Some chat title",
        "icon": {"url": "https://st.mycdn.me/res/i/ok_logo.png"},
        "participants": {"user:123456789012": 1498581292941}, "lastEventTime": 1498581292941,
        "chat_id": "chat:C3ecb9d02a600", "owner_id": "user:123456789012", "group_id": "group:12345678901234",
    }],
    "marker": "LTE0OTcyNDMzNTYzMzM6LTE0OTcyNDMzNTYzMzM=",
}
MESSAGES = {"messages": [
    {"sender": {"name": "Василий Васильев", "user_id": "user:123456789012"},
     "recipient": {"chat_id": "chat:C3ecb9d02a600"},
     "message": {"text": "text", "seq": 98211023614189660, "mid": "mid:C3ecb9d02a600.15cea67d78d2059"},
     "timestamp": 1498581292941},
    {"sender": {"name": "Василий Васильев", "user_id": "user:123456789012"},
     "recipient": {"chat_id": "chat:C3ecb9d02a600"},
     "message": {"text": "https://ya.ru/", "seq": 98211018056672380,
                 "attachments": [{"type": "SHARE", "payload": {"url": "https://ya.ru/"}}],
                 "mid": "mid:C3ecb9d02a600.15cea668c4c2481"},
     "timestamp": 1498581208140},
]}
# The webhook examples of the subscribe page (v1: no type field).
HOOK_TEXT = {"sender": {"user_id": "user:123456789012"}, "recipient": {"chat_id": "chat:C3ecb9d02a600"},
             "message": {"text": "text", "seq": 98211023614189660, "mid": "mid:C3ecb9d02a600.15cea67d78d2059"},
             "timestamp": 1498581292941}
HOOK_SHARE = {**HOOK_TEXT, "message": {**HOOK_TEXT["message"],
                                       "attachments": [{"type": "SHARE", "payload": {"url": "https://ya.ru/"}}]}}
# The v2 shapes third-party clients read (webhookType, callbackId, payload).
HOOK_V2 = {"webhookType": "MESSAGE_CREATED", **HOOK_TEXT, "sender": {"name": "Вася", "user_id": "user:1"}}
HOOK_CALLBACK = {"webhookType": "MESSAGE_CALLBACK", "sender": {"name": "Вася", "user_id": "user:1"},
                 "recipient": {"chat_id": "chat:C3ecb9d02a600"}, "callbackId": "cb-1", "payload": "yes",
                 "timestamp": 1498581292941}


def reply(flow: Any, value: object) -> Any:
    next(flow)
    try:
        flow.send(Response(200, (("content-type", "application/json;charset=utf-8"),), json.dumps(value).encode()))
    except StopIteration as done:
        return done.value
    raise AssertionError("the flow did not finish")


def core() -> BotCore:
    return BotCore("tkn18YdUJZe:CQABPOJKAKEKEKEKE")


def test_chats_example() -> None:
    page = reply(core().chats_page_flow(count=1), CHATS)
    chat = page.chats[0]
    assert page.marker == "LTE0OTcyNDMzNTYzMzM6LTE0OTcyNDMzNTYzMzM="
    assert (chat.chat_id, chat.type, chat.status, chat.title) == ("chat:C3ecb9d02a600", "GROUP_CHAT", "ACTIVE",
                                                                   "Some chat title")
    assert (chat.owner_id, chat.group_id, chat.last_event_time) == ("user:123456789012", "group:12345678901234",
                                                                     1498581292941)
    assert chat.participants == {"user:123456789012": 1498581292941}
    assert chat.raw["icon"] == {"url": "https://st.mycdn.me/res/i/ok_logo.png"}
    # me/chat answers one chat object with the same fields.
    assert reply(core().chat_flow("chat:C3ecb9d02a600"), CHATS["chats"][0]) == chat


def test_messages_example() -> None:
    first, second = reply(core().messages_flow("chat:C3ecb9d02a600"), MESSAGES)
    assert (first.text, first.seq, first.mid, first.sender_name, first.timestamp) == (
        "text", 98211023614189660, "mid:C3ecb9d02a600.15cea67d78d2059", "Василий Васильев", 1498581292941)
    assert second.attachments == (Attachment("SHARE", {"url": "https://ya.ru/"}),)


def test_small_examples() -> None:
    info = reply(core().info_flow(), {"name": "название группы", "group_id": "group:123456789012345"})
    assert (info.name, info.group_id) == ("название группы", "group:123456789012345")
    url = reply(core().chat_url_flow("chat:C4017fdcea600"), {"url": "https://ok.ru/messages/g71003596062794"})
    assert url == "https://ok.ru/messages/g71003596062794"
    subs = reply(core().subscriptions_flow(),
                 {"subscriptions": [{"time": 1498577751487, "url": "https://sample.com/webhook.php"}]})
    assert [(s.url, s.time) for s in subs] == [("https://sample.com/webhook.php", 1498577751487)]
    assert reply(core().subscribe_flow("http://sample.com/webhook.php"), {"success": True}) is True
    assert reply(core().unsubscribe_flow("http://sample.com/webhook.php"), {"success": True}) is True
    direct = reply(core().send_to_users_flow(["user:123456789012", "210987654321"], "Hello"),
                   {"success": [True, False], "chat_ids": ["chat:C401b13206b00", None]})
    assert [(d.user_id, d.success, d.chat_id) for d in direct] == [
        ("user:123456789012", True, "chat:C401b13206b00"), ("210987654321", False, None)]
    target = reply(core().upload_target_flow("FILE"), {
        "url": "https://fu.mycdn.me/api/upload.do?sig=lS8ThopDldI&expires=1531849335513&clientType=3&id=22125556&userId=123",
        "token": "tokenString", "file_id": "1519bf4"})
    assert (target.token, target.file_id) == ("tokenString", "1519bf4")


def test_webhook_examples() -> None:
    for body in (HOOK_TEXT, HOOK_V2):
        event = parse_webhook(json.dumps(body).encode())
        assert isinstance(event, MessageCreated)
        assert (event.chat_id, event.text, event.message.mid) == ("chat:C3ecb9d02a600", "text",
                                                                  "mid:C3ecb9d02a600.15cea67d78d2059")
        assert event_key(event) == "m:mid:C3ecb9d02a600.15cea67d78d2059"
    share = parse_webhook(json.dumps(HOOK_SHARE))
    assert isinstance(share, MessageCreated) and share.message.attachments[0].type == "SHARE"
    press = parse_webhook(json.dumps(HOOK_CALLBACK).encode())
    assert isinstance(press, CallbackPressed)
    assert (press.callback_id, press.payload, press.chat_id, press.sender_id) == ("cb-1", "yes", "chat:C3ecb9d02a600",
                                                                                  "user:1")
    system = parse_webhook(b'{"webhookType":"CHAT_SYSTEM","recipient":{"chat_id":"chat:1"},"x":1}')
    assert isinstance(system, ChatSystemEvent) and system.chat_id == "chat:1" and system.raw["x"] == 1


def test_unknown_and_malformed_events_keep_raw_json() -> None:
    future = parse_webhook(b'{"webhookType":"MESSAGE_REACTION","reaction":"+1"}')
    assert isinstance(future, UnknownEvent) and future.type == "MESSAGE_REACTION" and future.raw["reaction"] == "+1"
    broken = parse_webhook(b'{"webhookType":"MESSAGE_CALLBACK","payload":"x"}')  # no callbackId
    assert isinstance(broken, UnknownEvent) and event_key(broken) is None


def test_non_objects_raise_webhook_error() -> None:
    for body in (b"", b"[]", b"null", b"\xff\xfe", b"{", "1"):
        try:
            parse_webhook(body)
        except WebhookError as exc:
            assert isinstance(exc, Error)
        else:
            raise AssertionError(f"{body!r} parsed")
    try:
        parse_webhook(b"{}", {"Content-Type": "text/html"})
    except WebhookError:
        pass
    else:
        raise AssertionError("an HTML body was accepted")


def test_dedup_window_is_bounded() -> None:
    window = DedupWindow(3)
    assert [window.seen(k) for k in ("a", "b", "a", "c", "d", "e", "a")] == [
        False, False, True, False, False, False, False]
    assert len(window) == 3
    assert not window.seen(None) and not window.seen(None)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=30,
)
hook_keys = st.sampled_from(["webhookType", "message", "sender", "recipient", "callbackId", "payload",
                             "timestamp", "attachments", "attachment", "mid", "text", "chat_id", "user_id"])
hook_like = st.recursive(
    json_values,
    lambda children: st.dictionaries(hook_keys, children | st.sampled_from(
        ["MESSAGE_CREATED", "MESSAGE_CALLBACK", "CHAT_SYSTEM"]), max_size=6),
    max_leaves=40,
)


@given(st.binary(max_size=300))
def test_parse_webhook_bytes_never_raise_foreign_errors(body: bytes) -> None:
    try:
        parse_webhook(body)
    except Error:
        pass


@given(hook_like)
def test_parse_webhook_json_never_raises_foreign_errors(value: object) -> None:
    try:
        event = parse_webhook(json.dumps(value).encode())
    except Error:
        assert not isinstance(value, dict)
        return
    assert isinstance(value, dict) and event.raw == value
    event_key(event)


@given(hook_like)
def test_every_event_field_reads_without_error(value: object) -> None:
    if not isinstance(value, dict):
        return
    event = parse_webhook(json.dumps(value))
    for name in ("type", "chat_id", "text", "sender_id", "timestamp", "payload", "sender_name", "callback_id"):
        getattr(event, name, None)
    if isinstance(event, MessageCreated):
        message = event.message
        assert message.raw is event.raw and all(isinstance(a, Attachment) for a in message.attachments)
    repr(event)


@given(st.integers(100, 599), st.binary(max_size=200) | hook_like.map(lambda v: json.dumps(v).encode()))
def test_graph_replies_never_raise_foreign_errors(status: int, body: bytes) -> None:
    from okru_proto.adapter import parse_graph_response

    try:
        parse_graph_response(Response(status, (), body), "me/info")
    except Error:
        pass
    flow = core().chats_page_flow()
    next(flow)
    try:
        flow.send(Response(status, (), body))
    except StopIteration:
        pass
    except Error:
        pass
