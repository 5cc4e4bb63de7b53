"""Real ASGI servers on 127.0.0.1 for the payment tests, each in a background thread: uvicorn
(asyncio), hypercorn on asyncio and hypercorn on trio; and the emulator's ``send`` over
``http.client`` (what OK's side of a purchase uses to reach them).

No sleeps: each server gets a socket that already listens (connections wait in its backlog until
the server accepts them), so a test may send as soon as the context is entered.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import queue
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from okru_proto.adapter import Request, Response

WAIT = 30.0  # bound on every wait below (never reached when things work)


def listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


@contextlib.contextmanager
def run_uvicorn(app: Any) -> Iterator[str]:
    import uvicorn

    sock = listening_socket()
    # proxy_headers=False: the app reads X-Forwarded-For itself (trusted_proxies), not uvicorn.
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning", loop="asyncio",
                                           http="h11", access_log=False, proxy_headers=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/ok/payment"
    finally:
        server.should_exit = True
        thread.join(WAIT)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


@contextlib.contextmanager
def run_hypercorn(app: Any, loop: str) -> Iterator[str]:
    from hypercorn.config import Config

    sock = listening_socket()
    config = Config()
    config.bind = [f"fd://{os.dup(sock.fileno())}"]  # hypercorn closes the descriptor it is given
    config.accesslog = None
    config.loglevel = "WARNING"
    config.graceful_timeout = 5
    started: queue.Queue[Any] = queue.Queue()

    def thread_main() -> None:
        try:
            if loop == "trio":
                import trio
                from hypercorn.trio import serve as trio_serve

                async def trio_main() -> None:
                    stop = trio.Event()
                    started.put(lambda: trio.from_thread.run_sync(stop.set, trio_token=token))
                    await trio_serve(app, config, shutdown_trigger=stop.wait)

                token = None

                async def runner() -> None:
                    nonlocal token
                    token = trio.lowlevel.current_trio_token()
                    await trio_main()

                trio.run(runner)
            else:
                import asyncio

                from hypercorn.asyncio import serve as asyncio_serve

                async def asyncio_main() -> None:
                    stop = asyncio.Event()
                    running = asyncio.get_running_loop()
                    started.put(lambda: running.call_soon_threadsafe(stop.set))
                    await asyncio_serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]

                asyncio.run(asyncio_main())
        except BaseException as exc:  # surfaced to the test through the queue
            started.put(exc)

    thread = threading.Thread(target=thread_main, daemon=True)
    thread.start()
    item = started.get(timeout=WAIT)
    if isinstance(item, BaseException):
        raise item
    stop: Callable[[], None] = item
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/ok/payment"
    finally:
        stop()
        thread.join(WAIT)
        sock.close()
        assert not thread.is_alive(), "hypercorn did not stop"


SERVERS: dict[str, Callable[[Any], contextlib.AbstractContextManager[str]]] = {
    "uvicorn-asyncio": run_uvicorn,
    "hypercorn-asyncio": lambda app: run_hypercorn(app, "asyncio"),
    "hypercorn-trio": lambda app: run_hypercorn(app, "trio"),
}


def http_send(request: Request) -> Response:
    """Send one emulator request to a loopback server (the emulator's ``send``): its headers
    (OK's address in X-Forwarded-For), the answer as a core Response."""
    parts = urlsplit(request.url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=WAIT)
    try:
        conn.request(request.method, f"{parts.path}?{parts.query}", headers=dict(request.headers))
        answer = conn.getresponse()
        body = answer.read()
        return Response(answer.status, [(k.lower(), v) for k, v in answer.getheaders()], body)
    finally:
        conn.close()
