"""The emulator's Bot API rules (pure, through ``FakeOK.handle``) and ``webhook_app`` driven
directly as an ASGI callable (no lifespan: the fallback background paths on asyncio and trio)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import trio

from okru_asgi import webhook_app
from okru_proto.adapter import Request
from okru_proto.bots import MessageCreated, UnknownEvent
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


async def _drive(app: Any, body: bytes, client: str = "217.20.145.193") -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": body[:5], "more_body": True},
                {"type": "http.request", "body": body[5:], "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "client": (client, 5000),
             "headers": [(b"content-type", b"application/json")]}
    await app(scope, receive, send)
    return sent


BODY = json.dumps({"message": {"text": "t", "mid": "mid:1"}, "recipient": {"chat_id": "chat:1"}}).encode()


def test_app_without_lifespan_on_asyncio() -> None:
    async def main() -> list[Any]:
        got: list[Any] = []
        done = asyncio.Event()

        async def handler(event: Any) -> None:
            got.append(event)
            done.set()

        app = webhook_app(handler)
        sent = await _drive(app, BODY)
        assert sent[0]["status"] == 200 and not got  # answered before the handler ran
        await asyncio.wait_for(done.wait(), 10)
        assert (await _drive(app, BODY, client="10.0.0.1"))[0]["status"] == 403
        return got

    (event,) = asyncio.run(main())
    assert isinstance(event, MessageCreated) and event.text == "t"


def test_app_without_lifespan_on_trio() -> None:
    got: list[Any] = []

    async def main() -> None:
        done = trio.Event()

        async def handler(event: Any) -> None:
            got.append(event)
            done.set()

        app = webhook_app(handler)
        sent = await _drive(app, b'{"webhookType":"NEW_THING","a":1}', client="::ffff:217.20.153.49")
        assert sent[0]["status"] == 200
        with trio.fail_after(10):
            await done.wait()

    trio.run(main)
    assert isinstance(got[0], UnknownEvent) and got[0].raw == {"webhookType": "NEW_THING", "a": 1}


def test_core_import_loads_no_event_loop() -> None:
    code = ("import sys, okru_proto; from okru_proto.bots import parse_webhook, DedupWindow; "
            "from okru_proto.adapter import BotCore; "
            "bad = {'asyncio', 'trio', 'anyio', 'httpx', 'socket'} & set(sys.modules); print(sorted(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
