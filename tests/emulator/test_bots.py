"""The emulator's Bot API rules (pure, through ``FakeOK.handle``); the core's webhook parsing
loads no event loop. (``webhook_app`` itself: tests/asgi.)"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from okru_proto.adapter import Request
from okru_proto.testing import FakeOK

BASE = "https://api.ok.ru/graph"


def call(fake: FakeOK, method: str, path: str, body: object = None, token: str | None = None,
         query: str = "", ctype: str = "application/json;charset=utf-8") -> Any:
    token = fake.bots.access_token if token is None else token
    url = f"{BASE}/{path}?access_token={token}{'&' + query if query else ''}"
    data = b"" if body is None else json.dumps(body).encode()
    response = fake.handle(Request(method, url, (("content-type", ctype),) if method == "POST" else (), data))
    assert response.status == 200
    return json.loads(response.body)


def code(reply: Any) -> int | None:
    return reply.get("error_code") if isinstance(reply, dict) else None


def test_documented_rules() -> None:
    fake = FakeOK()
    chat = fake.bots.chat_id
    assert code(call(fake, "GET", "me/info", token="wrong")) == 103
    assert code(call(fake, "GET", "me/chats", query="count=101")) == 100
    assert code(call(fake, "GET", "me/chats", query="marker=garbage")) == 100
    assert code(call(fake, "GET", "chat:Cnone/url")) == 705
    text = {"recipient": {"chat_id": chat}, "message": {"text": "x"}}
    assert code(call(fake, "POST", f"{chat}/messages", text, ctype="application/x-www-form-urlencoded")) == 100
    six = {"message": {"attachments": [{"type": "IMAGE", "payload": {"url": f"https://x/{n}"}} for n in range(6)]}}
    assert code(call(fake, "POST", f"{chat}/messages", six)) == 100
    assert code(call(fake, "POST", f"{chat}/messages", {"message": {}})) == 100
    assert code(call(fake, "POST", f"{chat}/answer", {"message": {"text": "x"}}, query="callbackId=nope")) == 100
    assert code(call(fake, "POST", "me/subscribe", {"url": "ftp://x"})) == 100
    assert code(call(fake, "GET", "me/nothing")) == 3
    assert call(fake, "POST", f"{chat}/messages", text)["success"] is True
    # Chats: most recent activity first, a marker while more remain, none on the last page.
    for n in range(3):
        fake.clock.advance(1)
        fake.bots.add_chat(f"c{n}")
    first = call(fake, "GET", "me/chats", query="count=3")
    assert [c["title"] for c in first["chats"]] == ["c2", "c1", "c0"] and "marker" in first
    last = call(fake, "GET", "me/chats", query=f"count=3&marker={first['marker']}")
    assert [c["title"] for c in last["chats"]] == ["Demo chat"] and "marker" not in last


def test_upload_host_rules() -> None:
    fake = FakeOK()
    target = call(fake, "GET", "me/fileUploadUrl", query="type=AUDIO")
    url = target["url"]
    reply = fake.handle(Request("POST", url, (("content-type", "application/octet-stream"),), b"ID3"))
    assert json.loads(reply.body)["error_code"] == 100  # AUDIO needs an audio/* type (OK's rule)
    forged = fake.handle(Request("POST", url.replace("sig=", "sig=x"), (("content-type", "audio/mpeg"),), b"ID3"))
    assert json.loads(forged.body)["error_code"] == 100
    good = fake.handle(Request("POST", url, (("content-type", "audio/mpeg"),), b"ID3"))
    assert json.loads(good.body) == {"success": True}


def test_webhook_retries_stop_after_eight_hours() -> None:
    fake = FakeOK()
    bots = fake.bots
    bots.subscriptions["https://bot.example/hook"] = 0
    bots.user_writes(bots.chat_id, "user:571000000002", "hi")
    attempts = 0
    for _ in range(100):
        due = bots.due()
        for delivery in due:
            attempts += 1
            bots.delivered(delivery, 500)
        if not bots.subscriptions:
            break
        fake.clock.advance(600)
    assert bots.cancelled == ["https://bot.example/hook"] and bots.queue == []
    assert 8 <= attempts <= 20
    # A delivery answered 200 is done.
    bots.subscriptions["https://other/hook"] = 0
    bots.press(bots.chat_id, "user:571000000002", "p")
    (delivery,) = bots.due()
    assert delivery.event["webhookType"] == "MESSAGE_CALLBACK" and delivery.source == "217.20.145.193"
    bots.delivered(delivery, 200)
    fake.clock.advance(8 * 3600)
    assert bots.due() == []


def test_core_import_loads_no_event_loop() -> None:
    code = ("import sys, okru_proto; from okru_proto.bots import parse_webhook, DedupWindow; "
            "from okru_proto.adapter import BotCore; "
            "bad = {'asyncio', 'trio', 'anyio', 'httpx', 'socket'} & set(sys.modules); print(sorted(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
