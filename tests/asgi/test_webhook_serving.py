"""``webhook_app`` under real servers: uvicorn (asyncio), hypercorn on asyncio and on trio, on
127.0.0.1 port 0: the answer before the handler, source-address checks, forwarded addresses,
de-duplication, bad requests, and the emulator's webhook delivery with retries, end to end.
Also the app driven in-process without lifespan on both loops (the handler then runs in its
request's task, after the answer)."""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest
import sniffio

from okru_asgi import WebhookApp, webhook_app
from okru_proto import Endpoints
from okru_proto.bots import CallbackPressed, MessageCreated, UnknownEvent
from okru_proto.testing import FakeOK
from tests.servers import SERVERS, WAIT, deliver_due, loop_of, post, run_uvicorn

from ._webhook_servers import Direct

MESSAGE = json.dumps({"webhookType": "MESSAGE_CREATED", "sender": {"user_id": "user:1", "name": "Вася"},
                      "recipient": {"chat_id": "chat:C1"},
                      "message": {"text": "привет", "seq": 1, "mid": "mid:C1.1"}, "timestamp": 1}).encode()
CALLBACK = json.dumps({"webhookType": "MESSAGE_CALLBACK", "sender": {"user_id": "user:1"},
                       "recipient": {"chat_id": "chat:C1"}, "callbackId": "cb1", "payload": "yes"}).encode()


class Server:
    def __init__(self, name: str) -> None:
        self.name = name
        self.run, self.loop = SERVERS[name], loop_of(name)

    def handler(self, got: queue.Queue[Any], gate: threading.Event | None = None) -> Callable[[Any], Any]:
        async def handler(event: Any) -> None:
            assert sniffio.current_async_library() == self.loop  # proves it runs on the server's loop
            if gate is not None:
                await anyio.to_thread.run_sync(gate.wait, WAIT)
            got.put(event)
        return handler

    @contextlib.contextmanager
    def serving(self, make_app: Callable[[Callable[[Any], Any]], WebhookApp],
                gate: threading.Event | None = None) -> Iterator[tuple[int, WebhookApp, queue.Queue[Any]]]:
        got: queue.Queue[Any] = queue.Queue()
        app = make_app(self.handler(got, gate))
        with self.run(app) as port:
            yield port, app, got


@pytest.fixture(params=sorted(SERVERS))
def server(request: pytest.FixtureRequest) -> Server:
    return Server(request.param)


@pytest.mark.network
def test_answers_200_before_the_handler_finishes(server: Server) -> None:
    gate = threading.Event()
    with server.serving(lambda h: webhook_app(h, allowed_networks=["127.0.0.2/32"]), gate) as (port, app, got):
        assert post(port, MESSAGE, source="127.0.0.2") == 200
        assert got.empty()  # the handler is still waiting on the gate: the answer did not wait for it
        gate.set()
        event = got.get(timeout=WAIT)
        assert isinstance(event, MessageCreated) and event.text == "привет" and event.chat_id == "chat:C1"
        assert app.stats["dispatched"] == 1


@pytest.mark.network
def test_source_addresses(server: Server) -> None:
    with server.serving(lambda h: webhook_app(h, allowed_networks=["127.0.0.2/32"])) as (port, app, got):
        assert post(port, MESSAGE, source="127.0.0.3") == 403
        assert post(port, MESSAGE, source="127.0.0.2") == 200
        assert got.get(timeout=WAIT).text == "привет"
        assert app.stats["refused"] == 1 and got.empty()
    # By default only OK's published ranges are accepted: loopback is refused.
    with server.serving(lambda h: webhook_app(h)) as (port, app, got):
        assert post(port, MESSAGE) == 403
        assert app.stats["received"] == 0


@pytest.mark.network
def test_forwarded_address_only_from_trusted_proxies(server: Server) -> None:
    make = lambda h: webhook_app(h, trusted_proxies=["127.0.0.1/32"])  # noqa: E731
    with server.serving(make) as (port, app, got):
        ok_hop = {"x-forwarded-for": "217.20.145.193"}
        assert post(port, MESSAGE, source="127.0.0.1", headers=ok_hop) == 200
        assert post(port, CALLBACK, source="127.0.0.3", headers=ok_hop) == 403  # not a trusted proxy
        # A client may prepend anything; the hop the trusted proxy appended is what counts.
        assert post(port, CALLBACK, source="127.0.0.1", headers={"x-forwarded-for": "217.20.145.193, 10.1.1.1"}) == 403
        assert post(port, CALLBACK, source="127.0.0.1", headers={"x-forwarded-for": "10.1.1.1, 217.20.151.161"}) == 200
        assert {type(got.get(timeout=WAIT)) for _ in range(2)} == {MessageCreated, CallbackPressed}
        assert app.stats["refused"] == 2


@pytest.mark.network
def test_retries_are_delivered_once(server: Server) -> None:
    with server.serving(lambda h: webhook_app(h, allowed_networks=None)) as (port, app, got):
        assert [post(port, body) for body in (MESSAGE, MESSAGE, CALLBACK, CALLBACK)] == [200] * 4
        events = [got.get(timeout=WAIT) for _ in range(2)]
        assert {type(e) for e in events} == {MessageCreated, CallbackPressed}
        assert app.stats["duplicates"] == 2 and app.stats["dispatched"] == 2


@pytest.mark.network
def test_bad_requests_and_a_failing_handler(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    calls: list[Any] = []

    async def handler(event: Any) -> None:
        calls.append(event)
        raise RuntimeError("bot bug")

    app = webhook_app(handler, allowed_networks=None, max_body=2000)
    with caplog.at_level(logging.ERROR, "okru.webhook"), server.run(app) as port:
        assert post(port, b"", method="GET") == 405
        assert post(port, b"not json") == 400
        assert post(port, b"{" + b" " * 3000 + b"}") == 413
        assert post(port, MESSAGE) == 200
        assert post(port, CALLBACK) == 200  # still serving after the handler raised
    # Shutdown (lifespan) waited for running handlers, so both ran and were logged.
    assert len(calls) == 2 and app.stats["handler_errors"] == 2
    assert "bot bug" in caplog.text


@pytest.mark.network
def test_emulator_delivers_with_retries_to_an_echo_bot() -> None:
    """OK's side (the emulator's queue) -> uvicorn -> webhook_app -> an echo bot replying with
    okru_httpx's BotSession, in the same asyncio loop as the server."""
    from okru_httpx import BotSession
    from okru_httpx.sync import BotSession as SyncBot
    from okru_httpx.testing import FakeOKTransport

    fake = FakeOK()
    bots = fake.bots
    echoed: queue.Queue[str] = queue.Queue()
    endpoints = Endpoints(api="https://api.ok.ru")

    async def echo(event: Any) -> None:
        if isinstance(event, MessageCreated) and event.chat_id and event.text:
            async with BotSession(bots.access_token, endpoints=endpoints,
                                  client=httpx.AsyncClient(transport=FakeOKTransport(fake))) as bot:
                await bot.send(event.chat_id, event.text)
            echoed.put(event.text)

    app = webhook_app(echo, allowed_networks=["127.0.0.2/32"])
    with run_uvicorn(app) as port:
        url = f"http://127.0.0.1:{port}/hook"
        with httpx.Client(transport=FakeOKTransport(fake)) as client:
            assert SyncBot(bots.access_token, endpoints=endpoints, client=client).subscribe(url)
        bots.source_address = "127.0.0.3"  # not where the app accepts from: refused, retried later
        bots.user_writes(bots.chat_id, "user:571000000002", "эхо")
        assert [status for _, status in deliver_due(fake)] == [403]
        assert deliver_due(fake) == []  # not due yet: OK retries "after a while"
        app.allowed = ["127.0.0.2/32", "127.0.0.3/32"]  # the operator widens the list while serving
        fake.clock.advance(10)
        assert [(d.attempt, status) for d, status in deliver_due(fake)] == [(1, 200)]
        assert echoed.get(timeout=WAIT) == "эхо"
    assert [m["message"]["text"] for m in bots.sent(bots.chat_id)] == ["эхо"]
    assert app.stats["dispatched"] == 1 and app.stats["refused"] == 1


BODY = json.dumps({"message": {"text": "t", "mid": "mid:1"}, "recipient": {"chat_id": "chat:1"}}).encode()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_without_lifespan_each_handler_runs_in_its_request(backend: str) -> None:
    """No lifespan (a server that does not run it): no task outlives a request, so the handler
    runs in the request's own task, after the answer; OK's addresses as IPv4-mapped IPv6 count."""
    got: list[Any] = []

    async def handler(event: Any) -> None:
        assert sniffio.current_async_library() == backend
        got.append(event)

    app = webhook_app(handler)

    async def main() -> None:
        async with anyio.create_task_group() as tasks:
            server = Direct(app, tasks)
            assert await server.post(BODY) == 200
            assert await server.post(b'{"webhookType":"NEW_THING","a":1}', client="::ffff:217.20.153.49") == 200
            assert await server.post(BODY, client="10.0.0.1") == 403
            await server.settled()

    anyio.run(main, backend=backend)
    assert isinstance(got[0], MessageCreated) and got[0].text == "t"
    assert isinstance(got[1], UnknownEvent) and got[1].raw == {"webhookType": "NEW_THING", "a": 1}
    assert app.stats["dispatched"] == 2 and app.stats["refused"] == 1


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_without_lifespan_the_answer_is_sent_before_the_handler_starts(backend: str) -> None:
    order: list[str] = []

    async def handler(event: Any) -> None:
        order.append("handler")

    app = webhook_app(handler, allowed_networks=None)

    async def send(message: Any) -> None:
        order.append(message["type"])

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def main() -> None:
        await app({"type": "http", "method": "POST", "client": ("127.0.0.1", 1), "headers": []}, receive, send)

    anyio.run(main, backend=backend)
    assert order == ["http.response.start", "http.response.body", "handler"]
