"""Real servers on 127.0.0.1 for the suites that serve an ASGI app (tests/asgi, tests/cli,
tests/plugin), and the clients that reach them:

- in a thread: uvicorn (asyncio, h11), hypercorn on asyncio and on trio (``SERVERS``, each
  yielding its port; :func:`served` yields a URL on it);
- over ``http.client``: a request from any 127.0.0.0/8 address (:func:`post`, :func:`request`),
  the emulator's webhook deliveries (:func:`deliver_due`) and payment requests (:func:`http_send`);
- in processes of their own: a worker script that prints ``READY <address>`` (:class:`Worker`)
  and the control port its handlers report to and take orders from (:class:`Control`).

No sleeps: each server gets a socket that already listens (connections wait in its backlog until
it accepts), so a test may send as soon as the context is entered; every other wait is for an
event (a line from a process, a connection, a thread's end), bounded by ``WAIT``.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import os
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from okru_proto.adapter import Request, Response
from okru_proto.testing import Delivery, FakeOK

WAIT = 30.0  # bound on every wait (never reached when things work)


# -- servers in a thread -----------------------------------------------------------------------------

def listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


@contextlib.contextmanager
def run_uvicorn(app: Any, *, proxy_headers: bool = False) -> Iterator[int]:
    """``app`` under uvicorn (asyncio, h11, lifespan on); its port. ``proxy_headers=False`` as the
    docs say to run it (the apps read X-Forwarded-For themselves); True is uvicorn's own default."""
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
    """``app`` under hypercorn's asyncio or trio worker (lifespan on), its loop in the thread of
    an anyio portal; its port."""
    import anyio
    import anyio.from_thread
    from hypercorn.config import Config

    if backend == "trio":
        from hypercorn.trio import serve
    else:
        from hypercorn.asyncio import serve  # type: ignore[assignment]
    sock = listening_socket()
    config = Config()
    config.bind = [f"fd://{os.dup(sock.fileno())}"]  # hypercorn closes the descriptor it is given
    config.accesslog = None
    config.loglevel = "WARNING"
    with anyio.from_thread.start_blocking_portal(backend) as portal:
        stop = portal.call(anyio.Event)
        served = portal.start_task_soon(functools.partial(serve, app, config, shutdown_trigger=stop.wait))
        try:
            yield sock.getsockname()[1]
        finally:
            portal.call(stop.set)
            served.result(WAIT)
            sock.close()


#: Every real server an app is proven on, by ``<server>-<event loop>``; each yields its port.
SERVERS: dict[str, Callable[[Any], contextlib.AbstractContextManager[int]]] = {
    "uvicorn-asyncio": run_uvicorn,
    "hypercorn-asyncio": functools.partial(run_hypercorn, backend="asyncio"),
    "hypercorn-trio": functools.partial(run_hypercorn, backend="trio"),
}


def loop_of(server: str) -> str:
    """The event loop a ``SERVERS`` name runs its app on (``asyncio`` or ``trio``)."""
    return server.rsplit("-", 1)[1]


@contextlib.contextmanager
def served(app: Any, server: str = "uvicorn-asyncio", path: str = "/ok/payment") -> Iterator[str]:
    """``app`` under ``server`` (a ``SERVERS`` name); the URL of ``path`` on it (by default where
    OK's payment callbacks go)."""
    with SERVERS[server](app) as port:
        yield f"http://127.0.0.1:{port}{path}"


# -- clients ---------------------------------------------------------------------------------------

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
    """POST every webhook delivery the emulator has due, from its source address; each status."""
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


def http_send(request: Request) -> Response:
    """Send one emulator payment request to a loopback server (the emulator's ``send``): its
    headers (OK's address in X-Forwarded-For), the answer as a core Response."""
    parts = urlsplit(request.url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=WAIT)
    try:
        conn.request(request.method, f"{parts.path}?{parts.query}", headers=dict(request.headers))
        answer = conn.getresponse()
        body = answer.read()
        return Response(answer.status, tuple((k.lower(), v) for k, v in answer.getheaders()), body)
    finally:
        conn.close()


# -- servers in processes of their own -------------------------------------------------------------

class Control:
    """The test's end of the handlers' reports: each ``started <pid> <id>`` line arrives in
    ``started`` with its connection, for :meth:`answer` (or to watch it close)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.started: queue.Queue[tuple[int, str, socket.socket]] = queue.Queue()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(WAIT)
            words = conn.makefile("rb").readline().decode().split()
            self.started.put((int(words[1]), words[2], conn))

    def next(self) -> tuple[int, str, socket.socket]:
        return self.started.get(timeout=WAIT)

    def none_pending(self) -> bool:
        return self.started.empty()

    @staticmethod
    def answer(conn: socket.socket, word: str) -> None:
        with conn:
            conn.sendall(f"{word}\n".encode())

    @staticmethod
    def closed(conn: socket.socket) -> bool:
        """True once the handler's end of ``conn`` closed (waits up to ``WAIT``)."""
        with conn:
            return conn.recv(1) == b""

    def close(self) -> None:
        self.sock.close()


class Worker:
    """``python <script> <args>`` in a process of its own, started once it prints
    ``READY <address>`` (``address``); its stdout and stderr are read to the end in threads
    (``stderr()`` once it exited)."""

    def __init__(self, script: Path, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, str(script), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines: queue.Queue[str] = queue.Queue()
        self._err: list[str] = []
        self._err_done = threading.Event()
        threading.Thread(target=self._drain_out, args=(lines,), daemon=True).start()
        threading.Thread(target=self._drain_err, daemon=True).start()
        line = lines.get(timeout=WAIT)
        if not line.startswith("READY "):
            self.kill()
            raise AssertionError(f"{script.name} did not start: {line!r} {self.stderr()}")
        self.address = line.split()[1]

    def _drain_out(self, lines: queue.Queue[str]) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            lines.put(line)
        lines.put("")  # its end: a worker that exits before READY is reported, not waited for

    def _drain_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._err.append(line)
        self._err_done.set()

    def stderr(self) -> str:
        self._err_done.wait(WAIT)
        return "".join(self._err)

    def stop(self) -> None:
        """SIGTERM (a graceful stop), then wait for its end."""
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(WAIT)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(WAIT)
