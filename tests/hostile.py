"""A hostile HTTP server on 127.0.0.1 for any adapter's tests (sync or async, httpx or trio).

    with HostileServer(drip(interval=0.05)) as server:
        session = module.ServerSession(..., endpoints=server.endpoints, timeout=1)
        ...

Each accepted connection runs a *script* in its own thread: the request head (and its
Content-Length body) is read first, then the script writes whatever it likes. The server is
bounded: every script stops when the server's ``lifetime`` (default 30 s) runs out or when the
``with`` block exits, whichever comes first; leaving the block closes the listener and every
connection and joins every thread. Scripts wait with ``Conn.wait`` (an Event wait, ended at once
by the stop), so a slow script never outlives its test.

Scripts here: a redirect with any Location, ``100 Continue`` forever, a reply dripped one byte
per interval (head or body), a huge Content-Length, a big JSON body (sized or chunked), a gzip
bomb, a broken gzip body, closing after reading the request, raw bytes.

Driving an adapter against it (tests/adapters.py's ``Adapter``): :func:`run_then_close` (a call,
then its session or bot closed whatever happened), :func:`outcome` (the same, the exception
returned for the test to inspect), :func:`call_at` (a ServerSession's one REST call, result or
exception), :func:`bot_at` (a BotSession at a server) and :func:`traced_peak` (the memory a
call took).
"""

from __future__ import annotations

import functools
import socket
import threading
import tracemalloc
import zlib
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from okru_proto import Endpoints
from tests.adapters import Adapter

__all__ = [
    "Conn",
    "HostileServer",
    "big_json",
    "bot_at",
    "broken_gzip",
    "call_at",
    "close_after_request",
    "continue_forever",
    "drip",
    "gzip_bomb",
    "gzip_of_zeros",
    "gzipped",
    "huge_length",
    "outcome",
    "raw",
    "redirect",
    "respond",
    "run_then_close",
    "traced_peak",
]


class Conn:
    """One accepted connection as a script sees it."""

    def __init__(self, sock: socket.socket, stop: threading.Event) -> None:
        self.sock = sock
        self._stop = stop
        #: The request head as received (bytes up to and including the blank line).
        self.head = b""
        #: The request body (its Content-Length bytes).
        self.body = b""

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def wait(self, seconds: float) -> bool:
        """Wait ``seconds``; False if the server is stopping (the script should return)."""
        return not self._stop.wait(seconds)

    def send(self, data: bytes) -> bool:
        """Send all of ``data``; False if the client has gone or the server is stopping."""
        if self._stop.is_set():
            return False
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True


Script = Callable[[Conn], None]


class HostileServer:
    """A bounded, self-stopping thread server running ``script`` for every connection."""

    def __init__(self, script: Script, *, lifetime: float = 30.0) -> None:
        self.script = script
        self.lifetime = lifetime
        self.heads: list[bytes] = []  # every request head received, in order
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._timer = threading.Timer(lifetime, self._halt)
        self._timer.daemon = True

    @property
    def endpoints(self) -> Endpoints:
        """REST and OAuth both at this server."""
        return Endpoints(api=self.url, connect=self.url)

    def __enter__(self) -> HostileServer:
        self._timer.start()
        accept = threading.Thread(target=self._accept, name=f"hostile:{self.port}", daemon=True)
        self._threads.append(accept)
        accept.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _halt(self) -> None:
        # Blocking sockets everywhere: shutting them down wakes every accept, recv and send.
        self._stop.set()
        with self._lock:
            socks = [self._listener, *self._socks]
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self) -> None:
        self._halt()
        self._timer.cancel()
        with self._lock:
            socks, threads = list(self._socks), list(self._threads)
        for thread in threads:
            thread.join(5.0)
        for sock in socks:
            sock.close()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            with self._lock:
                if self._stop.is_set():
                    sock.close()
                    return
                self._socks.append(sock)
                self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        conn = Conn(sock, self._stop)
        try:
            if not self._read_request(conn):
                return
            self.heads.append(conn.head)
            self.script(conn)
        finally:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _read_request(self, conn: Conn) -> bool:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self._recv(conn)
            if not chunk:
                return False
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        conn.head = head + b"\r\n\r\n"
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(rest) < length:
            chunk = self._recv(conn)
            if not chunk:
                return False
            rest += chunk
        conn.body = rest[:length]
        return True

    def _recv(self, conn: Conn) -> bytes:
        if self._stop.is_set():
            return b""
        try:
            return conn.sock.recv(65536)
        except OSError:
            return b""


# -- scripts -------------------------------------------------------------------------------------

JSON_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json;charset=utf-8\r\n"


def respond(reply: Callable[[Conn], bytes]) -> Script:
    """Send ``reply(conn)`` (it may read ``conn.head`` and ``conn.body``), then close."""
    def script(conn: Conn) -> None:
        conn.send(reply(conn))
    return script


def raw(data: bytes, *, then_close: bool = True) -> Script:
    """Send ``data`` as it is (anything, HTTP or not), then close (or hold until stopped)."""
    def script(conn: Conn) -> None:
        conn.send(data)
        while not then_close and conn.wait(0.05):
            pass
    return script


def redirect(location: str | bytes, status: int = 302) -> Script:
    """A ``status`` reply with this ``Location`` (bytes go out exactly as given)."""
    value = location.encode("latin-1") if isinstance(location, str) else location
    return raw(b"HTTP/1.1 %d Found\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n" % (status, value))


def continue_forever(interval: float = 0.02) -> Script:
    """``100 Continue`` every ``interval`` until the server stops: the head never comes."""
    def script(conn: Conn) -> None:
        while conn.send(b"HTTP/1.1 100 Continue\r\n\r\n") and conn.wait(interval):
            pass
    return script


def drip(interval: float = 0.02, *, phase: str = "body", seconds: float = 30.0,
         body: bytes = b'{"uid":"1"}') -> Script:
    """A valid JSON reply sent one byte per ``interval``; padded (a long header for
    ``phase="head"``, JSON whitespace for ``"body"``) so the whole drip takes ``seconds``."""
    pad = int(seconds / interval) + 1

    def script(conn: Conn) -> None:
        if phase == "head":
            reply = (JSON_HEAD + b"X-Pad: " + b"a" * pad + b"\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(body), body))
        else:
            padded = body + b" " * pad
            reply = JSON_HEAD + b"Content-Length: %d\r\n\r\n" % len(padded) + padded
        start = 0
        if phase != "head":  # the head at once, then the body byte by byte
            start = reply.index(b"\r\n\r\n") + 4
            if not conn.send(reply[:start]):
                return
        for i in range(start, len(reply)):
            if not conn.send(reply[i:i + 1]) or not conn.wait(interval):
                return
    return script


def huge_length(length: int = 2_000_000_000, *, send_at_most: int = 64 * 1024 * 1024) -> Script:
    """A head claiming ``length`` body bytes, then zeros while the client reads, ``send_at_most``
    of them (so a client that does not refuse early fails in bounded time and memory)."""
    def script(conn: Conn) -> None:
        zeros = bytes(65536)
        if conn.send(JSON_HEAD + b"Content-Length: %d\r\n\r\n" % length):
            sent = 0
            while sent < min(length, send_at_most) and conn.send(zeros):
                sent += len(zeros)
    return script


def big_json(size: int = 50 * 1024 * 1024, *, chunked: bool = False) -> Script:
    """A valid JSON object of ``size`` bytes, with Content-Length or chunked (no length)."""
    def script(conn: Conn) -> None:
        prefix, suffix = b'{"uid":"1","pad":"', b'"}'
        fill = size - len(prefix) - len(suffix)
        piece = b"x" * 65536
        if chunked:
            if not conn.send(JSON_HEAD + b"Transfer-Encoding: chunked\r\n\r\n"):
                return
            parts = [prefix]
            left = fill
            while left > 0:
                parts.append(piece[:min(left, len(piece))])
                left -= len(parts[-1])
            parts.append(suffix)
            for part in parts:
                if not conn.send(b"%x\r\n%s\r\n" % (len(part), part)):
                    return
            conn.send(b"0\r\n\r\n")
            return
        if not conn.send(JSON_HEAD + b"Content-Length: %d\r\n\r\n" % size + prefix):
            return
        left = fill
        while left > 0:
            n = min(left, len(piece))
            if not conn.send(piece[:n]):
                return
            left -= n
        conn.send(suffix)
    return script


@functools.cache
def gzip_of_zeros(decoded_size: int, wbits: int = 16 + zlib.MAX_WBITS) -> bytes:
    """gzip (or zlib/raw deflate with other ``wbits``) of ``decoded_size`` zero bytes."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, wbits)
    block = bytes(1 << 20)
    parts = []
    left = decoded_size
    while left > 0:
        parts.append(compressor.compress(block[:min(left, len(block))]))
        left -= min(left, len(block))
    parts.append(compressor.flush())
    return b"".join(parts)


def gzip_bomb(decoded_size: int = 64 * 1024 * 1024, *, coding: str = "gzip") -> Script:
    """A small compressed body that decodes to ``decoded_size`` zeros (``coding``: gzip or
    deflate)."""
    wbits = 16 + zlib.MAX_WBITS if coding == "gzip" else zlib.MAX_WBITS
    body = gzip_of_zeros(decoded_size, wbits)
    return raw(JSON_HEAD + b"Content-Encoding: %s\r\nContent-Length: %d\r\n\r\n%s"
               % (coding.encode(), len(body), body))


def gzipped(body: bytes, *, coding: str = "gzip") -> Script:
    """A well-formed compressed reply (``coding``: gzip, deflate or raw-deflate sent as deflate)."""
    wbits = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS, "raw-deflate": -zlib.MAX_WBITS}[coding]
    compressor = zlib.compressobj(6, zlib.DEFLATED, wbits)
    data = compressor.compress(body) + compressor.flush()
    name = b"gzip" if coding == "gzip" else b"deflate"
    return raw(JSON_HEAD + b"Content-Encoding: %s\r\nContent-Length: %d\r\n\r\n%s" % (name, len(data), data))


def broken_gzip(body: bytes = b"this is not gzip at all") -> Script:
    """``Content-Encoding: gzip`` on bytes that are not gzip."""
    return raw(JSON_HEAD + b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


def close_after_request() -> Script:
    """Read the request, then close without a byte of reply."""
    return raw(b"")


# -- driving an adapter against a server --------------------------------------------------------------

async def run_then_close(adapter: Adapter, owner: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` on ``adapter`` (awaited, or in a thread); ``owner`` (the session or
    bot ``fn`` belongs to) is closed afterwards whatever happened."""
    try:
        return await adapter.run(fn, *args, **kwargs)
    finally:
        await adapter.close(owner)


async def outcome(adapter: Adapter, owner: Any, fn: Callable[..., Any], *args: Any,
                  catch: type[BaseException] = BaseException, **kwargs: Any) -> Any:
    """:func:`run_then_close`, with the exception it raised (of ``catch``) returned instead: a
    test checks its type and text outside the ``with HostileServer`` block."""
    try:
        return await run_then_close(adapter, owner, fn, *args, **kwargs)
    except catch as exc:
        return exc


async def call_at(adapter: Adapter, endpoints: Endpoints, *credentials: str, **options: Any) -> Any:
    """One REST call (``users.getLoggedInUser``) of a ``ServerSession(*credentials)`` at
    ``endpoints``: its result, or the exception it raised."""
    session = adapter.module.ServerSession(*credentials, endpoints=endpoints, **options)
    return await outcome(adapter, session, session.call, "users.getLoggedInUser")


def bot_at(adapter: Adapter, server: HostileServer, token: str) -> Any:
    """A ``BotSession`` whose Graph API is ``server``."""
    return adapter.module.BotSession(token, endpoints=Endpoints(api=server.url))


async def traced_peak(run: Callable[[], Awaitable[Any]]) -> tuple[Any, int]:
    """``await run()`` with tracemalloc on: its result and the peak of Python memory allocated
    meanwhile, in bytes (what a reply cost, for a bound on memory)."""
    tracemalloc.start()
    try:
        result = await run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak
