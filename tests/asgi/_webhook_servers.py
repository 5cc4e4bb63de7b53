"""What the webhook tests drive ``webhook_app`` with: real ASGI servers on 127.0.0.1 (port 0),
each in a background thread (uvicorn on asyncio, hypercorn on asyncio and on trio); a POST over
``http.client`` from any 127.0.0.0/8 address; the emulator's delivery queue; and, for unit
tests, an in-process driver that calls the app as a server does.

No sleeps: each server gets a socket that already listens (connections wait in its backlog until
it accepts), hypercorn on trio reports its bound port through trio's ``task_status``.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import os
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.abc
import anyio.from_thread

from okru_proto.testing import Delivery, FakeOK

WAIT = 20.0  # bound on every wait below (never reached when things work)
OK_ADDRESS = "217.20.145.193"  # in OK's published webhook networks
SECRET = "tkn1SECRETtoken"


def message(n: int, text: str | None = None, chat: str = "C1") -> bytes:
    """A MESSAGE_CREATED body whose message id is ``mid:<chat>.<n>``."""
    return json.dumps({"webhookType": "MESSAGE_CREATED", "sender": {"user_id": "user:1"},
                       "recipient": {"chat_id": f"chat:{chat}"},
                       "message": {"text": f"{SECRET} {n}" if text is None else text, "seq": n,
                                   "mid": f"mid:{chat}.{n}"},
                       "timestamp": n}).encode()


def listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


@contextlib.contextmanager
def run_uvicorn(app: Any, *, proxy_headers: bool = False) -> Iterator[int]:
    """``app`` under uvicorn (asyncio, h11, lifespan on); its port. ``proxy_headers=False`` as
    the docs say to run it; True is uvicorn's own default."""
    import uvicorn

    sock = listening_socket()
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning", loop="asyncio",
                                           http="h11", access_log=False, proxy_headers=proxy_headers))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(WAIT)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


@contextlib.contextmanager
def run_hypercorn(app: Any, backend: str) -> Iterator[int]:
    """``app`` under hypercorn's asyncio or trio worker (lifespan on), its loop in a thread of
    an anyio portal; its port."""
    from hypercorn.config import Config

    if backend == "trio":
        from hypercorn.trio import serve
    else:
        from hypercorn.asyncio import serve  # type: ignore[assignment]
    sock = listening_socket()
    config = Config()
    config.bind = [f"fd://{os.dup(sock.fileno())}"]  # hypercorn closes the descriptor it is given
    config.accesslog = None
    with anyio.from_thread.start_blocking_portal(backend) as portal:
        stop = portal.call(anyio.Event)
        served = portal.start_task_soon(functools.partial(serve, app, config, shutdown_trigger=stop.wait))
        try:
            yield sock.getsockname()[1]
        finally:
            portal.call(stop.set)
            served.result(WAIT)
            sock.close()


def post(port: int, body: bytes, *, source: str = "127.0.0.1", path: str = "/hook",
         headers: dict[str, str] | None = None, method: str = "POST") -> int:
    """One request from ``source`` (any 127.0.0.0/8 address: Linux binds them all); the status."""
    return request(port, body, source=source, path=path, headers=headers, method=method)[0]


def request(port: int, body: bytes, *, source: str = "127.0.0.1", path: str = "/hook",
            headers: dict[str, str] | None = None, method: str = "POST") -> tuple[int, bytes]:
    """Like :func:`post`, with the reply's body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT, source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers={"content-type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def deliver_due(fake: FakeOK) -> list[tuple[Delivery, int | None]]:
    """POST every delivery the emulator has due, from its source address; report each status."""
    done = []
    for delivery in fake.bots.due():
        parts = urlsplit(delivery.url)
        try:
            status: int | None = post(parts.port or 80, delivery.body, source=delivery.source,
                                      path=parts.path or "/")
        except OSError:
            status = None
        fake.bots.delivered(delivery, status)
        done.append((delivery, status))
    return done


class Direct:
    """An app called in-process as a server calls it: each request is a task of ``tasks`` (it
    may go on after its answer: the handler then runs in it when there is no lifespan);
    :meth:`post` returns the status once the whole answer was sent; :meth:`settled` waits until
    every call has returned."""

    def __init__(self, app: Any, tasks: anyio.abc.TaskGroup) -> None:
        self.app = app
        self.tasks = tasks
        self.calls = 0
        self._settled = anyio.Event()
        self.bodies: list[bytes] = []

    def scope(self, client: str = OK_ADDRESS, headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
        return {"type": "http", "method": "POST", "client": (client, 4000), "path": "/hook",
                "headers": [(b"content-type", b"application/json")] if headers is None else headers}

    async def post(self, body: bytes, *, client: str = OK_ADDRESS,
                   headers: list[tuple[bytes, bytes]] | None = None) -> int:
        answered = anyio.Event()
        status: list[int] = []
        reply: list[bytes] = []
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:  # a server answers a read after the body with a disconnect once the client goes
                await anyio.sleep_forever()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(msg: Any) -> None:
            assert not answered.is_set(), "the app sent after its answer was complete"
            if msg["type"] == "http.response.start":
                status.append(msg["status"])
            elif msg["type"] == "http.response.body":
                reply.append(msg.get("body", b""))
                if not msg.get("more_body", False):
                    answered.set()

        async def call() -> None:
            self.calls += 1
            try:
                await self.app(self.scope(client, headers), receive, send)
            finally:
                answered.set()
                self.calls -= 1
                if not self.calls:
                    self._settled.set()

        self._settled = anyio.Event()
        self.tasks.start_soon(call)
        await answered.wait()
        assert len(status) == 1, f"the app answered {status}"
        self.bodies.append(b"".join(reply))
        return status[0]

    async def settled(self, handlers: bool = True) -> None:
        """Every call returned, and (``handlers``) the handlers they started with lifespan ended
        too: only for handlers that wait on nothing but the test's events (not on a clock)."""
        with anyio.fail_after(WAIT):
            if self.calls:
                await self._settled.wait()
            while handlers and self.app.running:
                await anyio.wait_all_tasks_blocked()


@contextlib.asynccontextmanager
async def lifespan(app: Any, on: bool = True) -> AsyncIterator[None]:
    """Runs the app's lifespan (startup, then on exit shutdown, which waits for its handlers)
    when ``on``; without it the app runs each handler in its request's task."""
    if not on:
        yield
        return
    shutdown, started, stopped = anyio.Event(), anyio.Event(), anyio.Event()
    messages = [{"type": "lifespan.startup"}]

    async def receive() -> dict[str, str]:
        if messages:
            return messages.pop()
        await shutdown.wait()
        return {"type": "lifespan.shutdown"}

    async def send(msg: Any) -> None:
        {"lifespan.startup.complete": started, "lifespan.shutdown.complete": stopped}[msg["type"]].set()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(app, {"type": "lifespan"}, receive, send)
        with anyio.fail_after(WAIT):
            await started.wait()
        try:
            yield
        finally:
            shutdown.set()
            with anyio.CancelScope(shield=True), anyio.fail_after(WAIT):
                await stopped.wait()
