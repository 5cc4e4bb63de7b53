"""Driving an ASGI app in-process, as a server would: one request in, the messages it sends out.

Only for unit tests of the app's behaviour; the end-to-end tests run real servers
(tests/servers.py)."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import anyio

OK_ADDRESS = "217.20.145.193"
SECRET = "EXAMPLESECRET0123456789A"
APP_KEY = "CBAEXAMPLEABABABA"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def error_code(self) -> int | None:
        value = self.headers.get("invocation-error")
        return None if value is None else int(value)


def signed_query(transaction_id: str = "1234567890123", *, secret: str = SECRET, product_code: str = "gems_100",
                 amount: str = "10", **extra: str) -> str:
    params = {"application_key": APP_KEY, "call_id": "1718000000000", "method": "callbacks.payment",
              "uid": "571234567890", "transaction_id": transaction_id, "transaction_time": "2024-06-10 12:34:56",
              "product_code": product_code, "amount": amount, **extra}
    body = "".join(f"{k}={params[k]}" for k in sorted(params))
    params["sig"] = hashlib.md5((body + secret).encode()).hexdigest()
    return urlencode(params)


async def call(app: Any, query: str = "", *, method: str = "GET", client: tuple[str, int] | None = (OK_ADDRESS, 40000),
               headers: list[tuple[bytes, bytes]] | None = None) -> Answer:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": "/ok/payment", "raw_path": b"/ok/payment",
             "query_string": query.encode(), "headers": headers or [(b"host", b"game.example")],
             "client": client, "server": ("127.0.0.1", 8000)}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"], sent
    start, body = sent
    names = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start["headers"]}
    assert names["content-length"] == str(len(body["body"]))
    return Answer(start["status"], names, body["body"])


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """The ASGI lifespan around the block, as uvicorn and hypercorn run it: startup, then
    shutdown (the app's background work lives in between)."""
    to_app, app_reads = anyio.create_memory_object_stream[dict[str, Any]](2)
    app_writes, from_app = anyio.create_memory_object_stream[dict[str, Any]](2)

    async def receive() -> dict[str, Any]:
        return await app_reads.receive()

    async def send(message: dict[str, Any]) -> None:
        await app_writes.send(message)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(app, {"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
        await to_app.send({"type": "lifespan.startup"})
        assert (await from_app.receive())["type"] == "lifespan.startup.complete"
        try:
            yield
        finally:
            await to_app.send({"type": "lifespan.shutdown"})
            assert (await from_app.receive())["type"] == "lifespan.shutdown.complete"
