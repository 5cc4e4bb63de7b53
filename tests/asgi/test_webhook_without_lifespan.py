"""``webhook_app`` driven directly as an ASGI callable (no lifespan: the fallback background paths
on asyncio and trio)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import trio

from okru_asgi import webhook_app
from okru_proto.bots import MessageCreated, UnknownEvent


async def _drive(app: Any, body: bytes, client: str = "217.20.145.193",
                 sent: list[Any] | None = None) -> list[Any]:
    """Run one POST through ``app``; what it sent is appended to ``sent`` as it happens."""
    sent = [] if sent is None else sent
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
        order: list[Any] = []

        async def handler(event: Any) -> None:
            order.append("handler")
            got.append(event)
            done.set()

        app = webhook_app(handler)
        sent = await _drive(app, BODY, sent=order)
        # Without lifespan no task outlives the request: the whole 200 goes out first, then the
        # handler runs in the same request task.
        assert [m if m == "handler" else m["type"] for m in sent] == [
            "http.response.start", "http.response.body", "handler"]
        assert sent[0]["status"] == 200
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
