"""``webhook_app`` under real servers: uvicorn (asyncio handlers) and hypercorn (trio handlers),
on 127.0.0.1 port 0; source-address checks, forwarded addresses, de-duplication, and the
emulator's webhook delivery with retries, end to end."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import trio

from okru_asgi import WebhookApp, webhook_app
from okru_proto import Endpoints
from okru_proto.bots import CallbackPressed, MessageCreated
from okru_proto.testing import FakeOK

from ._servers import WAIT, deliver_due, post, run_hypercorn_trio, run_uvicorn

pytestmark = pytest.mark.network

MESSAGE = json.dumps({"webhookType": "MESSAGE_CREATED", "sender": {"user_id": "user:1", "name": "Вася"},
                      "recipient": {"chat_id": "chat:C1"},
                      "message": {"text": "привет", "seq": 1, "mid": "mid:C1.1"}, "timestamp": 1}).encode()
CALLBACK = json.dumps({"webhookType": "MESSAGE_CALLBACK", "sender": {"user_id": "user:1"},
                       "recipient": {"chat_id": "chat:C1"}, "callbackId": "cb1", "payload": "yes"}).encode()


def asyncio_handler(got: queue.Queue[Any], gate: threading.Event | None = None) -> Callable[[Any], Any]:
    async def handler(event: Any) -> None:
        asyncio.get_running_loop()  # proves it runs on asyncio
        if gate is not None:
            await asyncio.to_thread(gate.wait, WAIT)
        got.put(event)
    return handler


def trio_handler(got: queue.Queue[Any], gate: threading.Event | None = None) -> Callable[[Any], Any]:
    async def handler(event: Any) -> None:
        trio.lowlevel.current_task()  # proves it runs on trio
        if gate is not None:
            await trio.to_thread.run_sync(gate.wait, WAIT)
        got.put(event)
    return handler


SERVERS = {"uvicorn-asyncio": (run_uvicorn, asyncio_handler), "hypercorn-trio": (run_hypercorn_trio, trio_handler)}


@pytest.fixture(params=sorted(SERVERS))
def server(request: pytest.FixtureRequest) -> Any:
    return SERVERS[request.param]


@contextlib.contextmanager
def serving(server: Any, make_app: Callable[[Callable[[Any], Any]], WebhookApp],
            gate: threading.Event | None = None) -> Iterator[tuple[int, WebhookApp, queue.Queue[Any]]]:
    run, handler_for = server
    got: queue.Queue[Any] = queue.Queue()
    app = make_app(handler_for(got, gate))
    with run(app) as port:
        yield port, app, got


def test_answers_200_before_the_handler_finishes(server: Any) -> None:
    gate = threading.Event()
    with serving(server, lambda h: webhook_app(h, allowed_networks=["127.0.0.2/32"]), gate) as (port, app, got):
        assert post(port, MESSAGE, source="127.0.0.2") == 200
        assert got.empty()  # the handler is still waiting on the gate: the answer did not wait for it
        gate.set()
        event = got.get(timeout=WAIT)
        assert isinstance(event, MessageCreated) and event.text == "привет" and event.chat_id == "chat:C1"
        assert app.stats["dispatched"] == 1


def test_source_addresses(server: Any) -> None:
    with serving(server, lambda h: webhook_app(h, allowed_networks=["127.0.0.2/32"])) as (port, app, got):
        assert post(port, MESSAGE, source="127.0.0.3") == 403
        assert post(port, MESSAGE, source="127.0.0.2") == 200
        assert got.get(timeout=WAIT).text == "привет"
        assert app.stats["refused"] == 1 and got.empty()
    # By default only OK's published ranges are accepted: loopback is refused.
    with serving(server, lambda h: webhook_app(h)) as (port, app, got):
        assert post(port, MESSAGE) == 403
        assert app.stats["received"] == 0


def test_forwarded_address_only_from_trusted_proxies(server: Any) -> None:
    make = lambda h: webhook_app(h, trusted_proxies=["127.0.0.1/32"])  # noqa: E731
    with serving(server, make) as (port, app, got):
        ok_hop = {"x-forwarded-for": "217.20.145.193"}
        assert post(port, MESSAGE, source="127.0.0.1", headers=ok_hop) == 200
        assert post(port, CALLBACK, source="127.0.0.3", headers=ok_hop) == 403  # not a trusted proxy
        # A client may prepend anything; the hop the trusted proxy appended is what counts.
        assert post(port, CALLBACK, source="127.0.0.1", headers={"x-forwarded-for": "217.20.145.193, 10.1.1.1"}) == 403
        assert post(port, CALLBACK, source="127.0.0.1", headers={"x-forwarded-for": "10.1.1.1, 217.20.151.161"}) == 200
        assert {type(got.get(timeout=WAIT)) for _ in range(2)} == {MessageCreated, CallbackPressed}
        assert app.stats["refused"] == 2


def test_retries_are_delivered_once(server: Any) -> None:
    with serving(server, lambda h: webhook_app(h, allowed_networks=None)) as (port, app, got):
        assert [post(port, body) for body in (MESSAGE, MESSAGE, CALLBACK, CALLBACK)] == [200] * 4
        events = [got.get(timeout=WAIT) for _ in range(2)]
        assert {type(e) for e in events} == {MessageCreated, CallbackPressed}
        assert app.stats["duplicates"] == 2 and app.stats["dispatched"] == 2


def test_bad_requests_and_a_failing_handler(server: Any, caplog: pytest.LogCaptureFixture) -> None:
    run, _ = server
    calls: list[Any] = []

    async def handler(event: Any) -> None:
        calls.append(event)
        raise RuntimeError("bot bug")

    app = webhook_app(handler, allowed_networks=None, max_body=2000)
    with caplog.at_level(logging.ERROR, "okru.webhook"), run(app) as port:
        assert post(port, b"", method="GET") == 405
        assert post(port, b"not json") == 400
        assert post(port, b"{" + b" " * 3000 + b"}") == 413
        assert post(port, MESSAGE) == 200
        assert post(port, CALLBACK) == 200  # still serving after the handler raised
    # Shutdown (lifespan) waited for running handlers, so both ran and were logged.
    assert len(calls) == 2 and app.stats["handler_errors"] == 2
    assert "bot bug" in caplog.text


def test_emulator_delivers_with_retries_to_an_echo_bot() -> None:
    """OK's side (the emulator's queue) -> uvicorn -> webhook_app -> an echo bot replying with
    okru_httpx's BotSession, in the same asyncio loop as the server."""
    from okru_httpx import BotSession
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
            from okru_httpx.sync import BotSession as SyncBot

            assert SyncBot(bots.access_token, endpoints=endpoints, client=client).subscribe(url)
        bots.source_address = "127.0.0.3"  # not where the app accepts from: refused, retried later
        bots.user_writes(bots.chat_id, "user:571000000002", "эхо")
        assert [status for _, status in deliver_due(fake)] == [403]
        assert deliver_due(fake) == []  # not due yet: OK retries "after a while"
        app.allowed = (ipaddress.ip_network("127.0.0.2/32"), ipaddress.ip_network("127.0.0.3/32"))
        fake.clock.advance(10)
        assert [(d.attempt, status) for d, status in deliver_due(fake)] == [(1, 200)]
        assert echoed.get(timeout=WAIT) == "эхо"
    assert [m["message"]["text"] for m in bots.sent(bots.chat_id)] == ["эхо"]
    assert app.stats["dispatched"] == 1 and app.stats["refused"] == 1
