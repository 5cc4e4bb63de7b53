"""Real ASGI servers on 127.0.0.1 (port 0) for the webhook tests, each in a background thread,
plus a small webhook-delivery driver for the emulator's queue (stdlib ``http.client``).

No sleeps: uvicorn gets a socket that already listens (connections wait in its backlog until
it accepts), hypercorn reports its bound port through trio's ``task_status``.
"""

from __future__ import annotations

import contextlib
import http.client
import queue
import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from okru_proto.testing import Delivery, FakeOK

WAIT = 20.0  # bound on every wait below (never reached when things work)


@contextlib.contextmanager
def run_uvicorn(app: Any) -> Iterator[int]:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning", loop="asyncio",
                                           http="h11", access_log=False, proxy_headers=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(WAIT)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


@contextlib.contextmanager
def run_hypercorn_trio(app: Any) -> Iterator[int]:
    import trio
    from hypercorn.config import Config
    from hypercorn.trio import serve

    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    started: queue.Queue[Any] = queue.Queue()

    async def main() -> None:
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(lambda task_status: serve(app, config, shutdown_trigger=stop.wait,
                                                                   task_status=task_status))
            started.put((binds, trio.lowlevel.current_trio_token(), stop))

    def thread_main() -> None:
        try:
            trio.run(main)
        except BaseException as exc:  # surfaced to the test through the queue
            started.put(exc)

    thread = threading.Thread(target=thread_main, daemon=True)
    thread.start()
    item = started.get(timeout=WAIT)
    if isinstance(item, BaseException):
        raise item
    binds, token, stop = item
    try:
        yield int(binds[0].rsplit(":", 1)[1])
    finally:
        trio.from_thread.run_sync(stop.set, trio_token=token)
        thread.join(WAIT)
        assert not thread.is_alive(), "hypercorn did not stop"


def post(port: int, body: bytes, *, source: str = "127.0.0.1", path: str = "/hook",
         headers: dict[str, str] | None = None, method: str = "POST") -> int:
    """One request from ``source`` (any 127.0.0.0/8 address: Linux binds them all); the status."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT, source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers={"content-type": "application/json", **(headers or {})})
        response = conn.getresponse()
        response.read()
        return response.status
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
