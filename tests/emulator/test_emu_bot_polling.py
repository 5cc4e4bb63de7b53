"""The emulator's long polling, subscriptions with types, chat actions, me/messages, multipart
file uploads, the /fake/bots controls, and how long a server may hold a poll (FakeOK.hold_for)."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

import pytest

from okru_proto.adapter import Request
from okru_proto.testing import FakeOK
from okru_proto.testing._bots import POLL_LOG_SIZE

MEMBER = "user:571000000002"
JSON = (("content-type", "application/json;charset=utf-8"),)


def graph(fake: FakeOK, method: str, path: str, body: Any = None, **query: str) -> Any:
    query.setdefault("access_token", fake.bots.access_token)
    url = f"https://api.ok.ru/graph/{path}?{urlencode(query)}"
    data = json.dumps(body).encode() if body is not None else b""
    request = Request(method, url, JSON if method == "POST" else (), data)
    return json.loads(fake.handle(request).body)


def poll(fake: FakeOK, **query: str) -> Any:
    return graph(fake, "GET", "me/updates", **query)


def hold(fake: FakeOK, **query: str) -> float:
    query.setdefault("access_token", fake.bots.access_token)
    return fake.hold_for(Request("GET", f"https://api.ok.ru/graph/me/updates?{urlencode(query)}"))


def test_updates_need_a_long_polling_subscription_then_come_in_order() -> None:
    fake = FakeOK()
    chat = fake.bots.chat_id
    assert poll(fake)["error_code"] == 5000
    fake.bots.user_writes(chat, MEMBER, "before")  # before subscribing: never delivered by polling
    assert graph(fake, "POST", "me/subscribe", {"types": ["MESSAGE_CREATED", "CHAT_SYSTEM"], "longPolling": True}) \
        == {"success": True}
    assert poll(fake)["updates"] == []
    fake.bots.user_writes(chat, MEMBER, "one")
    fake.bots.press(chat, MEMBER, "yes")  # not a subscribed type
    fake.bots.system_event(chat, type="CHAT_STARTED")
    reply = poll(fake)
    assert [u["webhookType"] for u in reply["updates"]] == ["MESSAGE_CREATED", "CHAT_SYSTEM"]
    assert reply["updates"][0]["message"]["text"] == "one"
    assert base64.b64decode(reply["marker"]) == b"updates:2"
    assert poll(fake)["updates"] == []  # without a marker: from where the last poll stopped
    again = poll(fake, marker=base64.b64encode(b"updates:0").decode())  # a lost reply: ask again
    assert [u["webhookType"] for u in again["updates"]] == ["MESSAGE_CREATED", "CHAT_SYSTEM"]
    for n in range(3):
        fake.bots.user_writes(chat, MEMBER, f"m{n}")
    page = poll(fake, marker=reply["marker"], count="2")
    assert [u["message"]["text"] for u in page["updates"]] == ["m0", "m1"]
    assert [u["message"]["text"] for u in poll(fake, marker=page["marker"])["updates"]] == ["m2"]
    for bad in ({"marker": "garbage"}, {"count": "0"}, {"timeout": "91"}, {"timeout": "x"}):
        assert poll(fake, **bad)["error_code"] == 100
    assert graph(fake, "POST", "me/unsubscribe", {"longPolling": True}) == {"success": True}
    assert poll(fake)["error_code"] == 5000


def test_the_poll_log_is_bounded() -> None:
    fake = FakeOK()
    graph(fake, "POST", "me/subscribe", {"longPolling": True})
    for n in range(POLL_LOG_SIZE + 5):
        fake.bots.system_event(fake.bots.chat_id, n=n)
    assert len(fake.bots.polled) == POLL_LOG_SIZE and fake.bots.poll_base == 5
    first = poll(fake, marker=base64.b64encode(b"updates:0").decode(), count="1")
    assert first["updates"][0]["n"] == 5  # a marker before the oldest kept reads from the oldest


def test_hold_for_says_when_a_server_may_hold_a_poll() -> None:
    fake = FakeOK()
    assert hold(fake) == 0  # no subscription: answered at once (5000)
    graph(fake, "POST", "me/subscribe", {"longPolling": True})
    assert hold(fake) == 30 and hold(fake, timeout="5") == 5 and hold(fake, timeout="0") == 0
    assert hold(fake, access_token="wrong") == 0 and hold(fake, timeout="nope") == 0
    fake.bots.user_writes(fake.bots.chat_id, MEMBER, "news")
    assert hold(fake) == 0  # something to return
    marker = poll(fake)["marker"]
    assert hold(fake) == 30  # the poll took it: nothing new
    assert hold(fake, marker=marker) == 30
    assert fake.hold_for(Request("GET", "https://api.ok.ru/graph/me/info")) == 0
    woken: list[int] = []
    stop = fake.bots.listen(lambda: woken.append(1))
    assert fake.bots.listeners == 1
    fake.bots.user_writes(fake.bots.chat_id, MEMBER, "wake")
    stop()
    fake.bots.user_writes(fake.bots.chat_id, MEMBER, "no one listens")
    assert woken == [1] and fake.bots.listeners == 0


def test_webhook_subscriptions_filter_by_type_and_list_both_kinds() -> None:
    fake = FakeOK()
    graph(fake, "POST", "me/subscribe", {"url": "https://a.example/", "types": ["MESSAGE_CALLBACK"]})
    graph(fake, "POST", "me/subscribe", {"url": "https://b.example/"})
    graph(fake, "POST", "me/subscribe", {"types": ["CHAT_SYSTEM"], "longPolling": True})
    listed = graph(fake, "GET", "me/subscriptions")["subscriptions"]
    assert listed == [{"time": fake.bots.now_ms, "url": "https://a.example/", "types": ["MESSAGE_CALLBACK"]},
                      {"time": fake.bots.now_ms, "url": "https://b.example/"},
                      {"time": fake.bots.now_ms, "types": ["CHAT_SYSTEM"], "longPolling": True}]
    fake.bots.user_writes(fake.bots.chat_id, MEMBER, "hi")
    fake.bots.press(fake.bots.chat_id, MEMBER, "yes")
    assert [(d.url, d.event["webhookType"]) for d in fake.bots.due()] == [
        ("https://b.example/", "MESSAGE_CREATED"), ("https://a.example/", "MESSAGE_CALLBACK"),
        ("https://b.example/", "MESSAGE_CALLBACK")]
    for bad in ({"url": "https://c/", "types": []}, {"url": "https://c/", "types": ["NOPE"]},
                {"longPolling": True, "types": "MESSAGE_CREATED"}):
        assert graph(fake, "POST", "me/subscribe", bad)["error_code"] == 100


def test_actions_and_me_messages() -> None:
    fake = FakeOK()
    chat = fake.bots.chat_id
    assert graph(fake, "POST", f"{chat}/action", {"action": "TYPING_ON"}) == {"success": True}
    assert graph(fake, "POST", f"{chat}/action", {"action": "typing_on"})["error_code"] == 100
    assert graph(fake, "POST", f"{chat}/action", {"sender_action": "TYPING_ON"})["error_code"] == 100
    assert fake.bots.actions == [(chat, "TYPING_ON")]
    fake.bots.user_writes(chat, MEMBER, "hi")
    assert [m["message"]["text"] for m in graph(fake, "GET", f"me/messages/{chat}")["messages"]] == ["hi"]
    assert graph(fake, "GET", "me/messages", chat_id=chat)["messages"][0]["message"]["text"] == "hi"
    assert graph(fake, "GET", f"me/messages/{chat}", include_deleted="maybe")["error_code"] == 100
    assert graph(fake, "GET", "me/messages/chat:Cnothere")["error_code"] == 705


@pytest.mark.parametrize(("body", "ctype", "ok"), [
    (b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n"
     b"PNGDATA\r\n--B--\r\n", "multipart/form-data; boundary=B", True),
    (b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\n"
     b"PNGDATA\r\n--B--\r\n", "multipart/form-data; boundary=B", False),
    (b"--B\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nv\r\n--B--\r\n", "multipart/form-data; boundary=B",
     False),
    (b"PNGDATA", "image/png", True),
])
def test_image_uploads_raw_or_one_multipart_part(body: bytes, ctype: str, ok: bool) -> None:
    fake = FakeOK()
    target = graph(fake, "GET", "me/fileUploadUrl", type="IMAGE")
    reply = json.loads(fake.handle(Request("POST", target["url"], (("content-type", ctype),), body)).body)
    if ok:
        upload = next(iter(fake.bots.uploads.values()))
        assert upload.data == b"PNGDATA" and reply["photos"][target["file_id"]]["token"] == upload.token
    else:
        assert reply["error_code"] == 100


def test_fake_controls_script_a_running_emulator() -> None:
    fake = FakeOK()
    chat = fake.bots.chat_id

    def control(what: str, body: Any, token: str | None = None) -> Any:
        query = urlencode({"access_token": token or fake.bots.access_token})
        request = Request("POST", f"https://api.ok.ru/fake/bots/{what}?{query}", JSON, json.dumps(body).encode())
        return json.loads(fake.handle(request).body)

    written = control("write", {"chat_id": chat, "text": "привет"})
    assert fake.bots.chats[chat].messages[-1]["message"] == {"text": "привет", "seq": 98211023614189660,
                                                             "mid": written["mid"]}
    assert fake.bots.chats[chat].messages[-1]["sender"]["user_id"] == MEMBER  # the first member by default
    pressed = control("press", {"chat_id": chat, "payload": "yes", "user_id": "user:571000000003"})
    assert fake.bots.callbacks[pressed["callback_id"]] == (chat, "user:571000000003")
    assert control("write", {"chat_id": chat, "text": "x"}, token="forged")["error_code"] == 103
    assert control("write", {"chat_id": "chat:Cnothere", "text": "x"})["error_code"] == 705
    assert control("write", {"chat_id": chat, "text": "x", "user_id": "user:1"})["error_code"] == 100
    assert control("write", {"chat_id": chat})["error_code"] == 100
    assert control("nothing", {"chat_id": chat})["error_code"] == 3
