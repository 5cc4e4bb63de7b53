"""The trio transport: ``okru_proto.Request`` bytes out, ``okru_proto.Response`` bytes in, over h11.

No OK.ru knowledge lives here. One :class:`H11Transport` owns a small connection pool per origin
(scheme, host, port); each connection is one ``h11.Connection`` over a trio stream (TCP, or TLS
through ``trio.SSLStream``), kept alive across calls with ``start_next_cycle``.

Error mapping (the original exception is always ``__cause__``):

* a connect, read or whole-call deadline -> :class:`okru_proto.TransportTimeout` (the message
  names which one);
* OS/socket errors, a broken or closed stream, TLS failures (certificate verification failures
  say so) -> :class:`okru_proto.TransportError`;
* the connection closed before the response was complete (EOF mid-head or mid-body, i.e. a
  truncated body) -> :class:`okru_proto.TransportError`, exactly like a reset mid-body: the peer
  or the network died, and either way the call may be worth retrying by the caller's policy;
* bytes that are not HTTP/1.1 (``h11.RemoteProtocolError``) or a body over
  ``max_response_bytes`` -> :class:`okru_proto.ProtocolError`;
* a request h11 refuses to frame (bad target characters, a header the transport owns) or a
  plain-http URL for a non-loopback host -> :class:`okru_proto.UsageError`, before any I/O;
* a reply whose ``Content-Encoding`` is unknown, does not decode, or decodes past
  ``max_response_bytes`` -> :class:`okru_proto.ProtocolError`.

Messages name ``host:port`` only: never the URL's query or the body, where tokens travel.

Re-sending: okru never sends one request twice on its own. The server may run a call it read
even if the connection dies before the reply (a ``mediatopic.post`` would then be posted twice),
and nothing on the client side can tell. So the only case handled silently is a pooled
keep-alive connection whose socket is readable *before* anything is written on it: an idle
HTTP/1.1 connection has nothing to read, so readable means the server closed it (EOF, reset) or
broke it; it is dropped and the call takes another pooled connection or dials a new one (the
check httpcore makes too; one ``poll`` syscall per reused connection). Once a request byte is
written, every failure (reset, EOF before or during the reply, a read or whole-call timeout) is
a :class:`okru_proto.TransportError` whose message says the request may have reached the
server: check before repeating a call that changes something. Retrying it is the caller's
choice, through the session's opt-in :class:`okru_proto.RetryPolicy`. A server that closes
right after that check loses the race: an error, never a silent second send. Streams without a
socket (from ``stream_factory``) cannot be checked and are used as they are.

Compression: every request carries ``Accept-Encoding: gzip, deflate`` (the transport owns that
header: only what the standard library's ``zlib`` decodes). A reply's ``Content-Encoding`` is
decoded with ``zlib.decompressobj`` and ``max_length``, so ``max_response_bytes`` bounds both
the bytes read and the decoded body while it is decoded. ``identity`` is skipped; ``x-gzip`` is
gzip; concatenated gzip members are joined; ``deflate`` is the zlib format or, from servers that
send it, a raw deflate stream. Stacked codings (``gzip, gzip``) are undone in order, last applied
first, at most five. Any other coding (``br``, ``zstd``, ``compress``) is refused, because okru
never asks for it. The response keeps its headers as received (``content-encoding`` included);
only the body is decoded.

Timeouts: the connect timeout uses a trio CancelScope (slow path only). The read and whole-call
deadlines of an exchange, and the whole-call deadline of a call waiting for a pool slot, are
watched by one trio system task per transport (started on first use in each trio run, stopped
by ``aclose``) that closes a stalled connection's stream or wakes the waiter with a timeout,
because entering a CancelScope on every call would cost more CPU than the rest of the
transport. Cancelling ``send`` from outside works at any point as usual in trio.
"""

from __future__ import annotations

import math
import select
import ssl
import zlib
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import h11
import outcome
import trio

from okru_proto import ProtocolError, TransportError, TransportTimeout, UsageError
from okru_proto.adapter import Request, Response, StreamedBody, check_base_url, trusted_response

from ._stream import send_streamed

if TYPE_CHECKING:
    from h11._headers import Headers as _H11Headers

__all__ = ["H11Transport", "StreamFactory"]

#: ``(host, port, use_tls) -> stream``: the seam for socket-less tests. When ``use_tls`` is true
#: the factory must return an already-encrypted stream (the transport does no TLS of its own then).
StreamFactory = Callable[[str, int, bool], Awaitable[trio.abc.Stream]]

_USER_AGENT = (b"user-agent", b"okru/0.1")
# Only the codings the standard library decodes (zlib); never br or zstd, which it cannot.
_ACCEPT_ENCODING = (b"accept-encoding", b"gzip, deflate")
# Framing, routing and content codings belong to the transport: a request that sets them would
# make h11 send conflicting or duplicate headers, or ask for a coding this transport cannot
# decode, so it is refused rather than silently rewritten.
_OWNED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "accept-encoding"})
# A reply may stack codings ("gzip, gzip"); each is decoded in turn. More than this many is
# refused: every layer may expand to max_response_bytes, so the work must stay bounded.
_MAX_CODINGS = 5
# What every error after the first request byte was written adds: okru cannot tell whether the
# server ran the call, so it never repeats it on its own (only an opted-in RetryPolicy does).
_MAY_HAVE_RUN = (
    "the request may have reached the server and run there; check before repeating a call that "
    "changes something"
)
_BODY_METHODS = frozenset({b"POST", b"PUT", b"PATCH"})
_MAX_CACHED = 256

_NEED_DATA = h11.NEED_DATA
_DONE = h11.DONE
_H11Response = h11.Response
_H11Data = h11.Data
_EndOfMessage = h11.EndOfMessage
_END = h11.EndOfMessage()
_InformationalResponse = h11.InformationalResponse
_current_time = trio.current_time


# h11 has already validated what Response.__post_init__ re-checks (3-digit status, token header
# names, no CR/LF/NUL in values) and the names are lower-cased when read, so the core's trusted
# constructor skips the second pass (~2.5 µs, a quarter of this transport's per-call budget).
_response = trusted_response


def _readable_probe(stream: trio.abc.Stream) -> Callable[[int], object] | None:
    """``probe(0)`` is truthy when the socket under ``stream`` is readable (or broken), else None.

    An idle HTTP/1.1 connection has nothing to read: if its socket is readable, the server sent
    EOF, a reset or bytes nobody asked for, and the connection must not carry a request (the
    check httpcore makes before reusing a pooled connection). A TLS stream is probed through its
    transport stream: a close_notify or a FIN makes the raw socket readable too. A stream with
    no socket (a ``stream_factory`` test stream) cannot be probed: None.
    """
    layer: object = stream
    while layer is not None:
        sock = getattr(layer, "socket", None)
        if sock is not None:
            try:
                fd = sock.fileno()
            except (AttributeError, OSError, ValueError):
                return None
            if fd < 0:
                return None
            if hasattr(select, "poll"):
                # One poll object per connection, registered once: ``poll(0)`` is one syscall
                # (about 1 µs), the whole cost of the check per reused connection.
                poller = select.poll()
                poller.register(fd, select.POLLIN)
                return poller.poll
            return lambda timeout: select.select([fd], [], [], timeout)[0]  # pragma: no cover - Windows
        layer = getattr(layer, "transport_stream", None)
    return None


class _Connection:
    __slots__ = ("deadline", "expired", "h11", "kind", "label", "probe", "stream")

    def __init__(self, stream: trio.abc.Stream, label: str) -> None:
        self.stream = stream
        self.label = label
        self.h11 = h11.Connection(h11.CLIENT)
        # Asked before a pooled connection carries a request (see _readable_probe).
        self.probe = _readable_probe(stream)
        # While a call uses the connection: when the watchdog must close it, and which limit
        # ("read" or "total") that is. ``inf`` while idle.
        self.deadline = math.inf
        self.kind = "read"
        # Set by the watchdog when it closed the stream because ``deadline`` passed.
        self.expired: str | None = None


class _Waiter:
    """A call waiting for a pool slot: its task and its whole-call deadline."""

    __slots__ = ("deadline", "task")

    def __init__(self, task: trio.lowlevel.Task, deadline: float) -> None:
        self.task = task
        self.deadline = deadline


_Value = outcome.Value  # an outcome is unwrapped once: a fresh one per wake-up


class _Origin:
    __slots__ = ("free", "header_cache", "host", "host_header", "idle", "label", "port", "tls", "waiters")

    def __init__(self, host: str, port: int, tls: bool, host_header: bytes, max_connections: int) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        self.host_header = (b"host", host_header)
        self.label = f"{host}:{port}"
        # Request headers tuple -> the encoded h11 header list, Host first (the core sends a
        # handful of header shapes, so encoding them once per origin saves work on every call).
        self.header_cache: dict[object, _H11Headers] = {}
        # LIFO: the most recently used connection is the least likely to have been closed by the
        # server's keep-alive timer.
        self.idle: list[_Connection] = []
        # The pool's slots, a semaphore of our own: ``free`` tokens, and the calls waiting for one
        # (FIFO; ``_release`` hands a token straight to the first waiter, so ``free`` > 0 implies
        # nobody waits). It bounds busy + idle connections: a new connection is opened only when
        # ``idle`` is empty, so at most ``max_connections`` exist. Unlike trio.Semaphore plus a
        # CancelScope per wait (~7 µs, a tenth of this transport's per-call budget with 1000
        # calls in flight), a waiter's total deadline is enforced by the watchdog below.
        self.free = max_connections
        self.waiters: deque[_Waiter] = deque()


def _prepare_headers(
    origin: _Origin, key: object, headers: tuple[tuple[str, str], ...], method: bytes, body: bytes | StreamedBody
) -> _H11Headers:
    encoded = [origin.host_header]
    if not any(name == "user-agent" for name, _ in headers):
        encoded.append(_USER_AGENT)
    encoded.append(_ACCEPT_ENCODING)
    for name, value in headers:
        if name in _OWNED_HEADERS:
            raise UsageError(f"the {name!r} header is set by the transport; do not pass it")
        try:
            encoded.append((name.encode("ascii"), value.encode("latin-1")))
        except UnicodeEncodeError:
            raise UsageError(f"header {name!r} is not latin-1 text") from None
    if body or method in _BODY_METHODS:
        encoded.append((b"content-length", b"%d" % len(body)))
    try:
        validated = h11.Request(method=method, target=b"/", headers=encoded).headers
    except h11.LocalProtocolError as exc:
        raise UsageError(f"request headers for {origin.label} cannot be sent: {exc}") from None
    cache = origin.header_cache
    if len(cache) >= _MAX_CACHED:
        cache.clear()
    # Keyed by the request's header tuple (and body length, for Content-Length): the core sends
    # a handful of header shapes, so this is hit on nearly every call.
    cache[key] = validated
    return validated


def _decode(body: bytes, codings: list[str], cap: int, label: str) -> bytes:
    """Undo the reply's ``Content-Encoding`` (``gzip``, ``deflate``, ``identity``), last first.

    Every layer's output is held to ``cap`` (max_response_bytes) while it is decoded, so a small
    body that inflates past the cap (a decompression bomb) costs at most ``cap`` bytes of memory.
    """
    names = [name.strip().lower() for value in codings for name in value.split(",")]
    names = [name for name in names if name and name != "identity"]
    if not body or not names:
        return body  # HEAD, 204, 304, or an empty body: nothing to decode
    for name in names:
        if name not in ("gzip", "x-gzip", "deflate"):
            raise ProtocolError(
                f"{label} sent a reply with Content-Encoding {name!r}, which okru cannot decode "
                "(it asks for gzip and deflate only)"
            )
    if len(names) > _MAX_CODINGS:
        raise ProtocolError(
            f"{label} sent a reply with {len(names)} stacked Content-Encodings; okru decodes at most "
            f"{_MAX_CODINGS}"
        )
    # The header lists codings in the order they were applied: undo the last one first.
    for name in reversed(names):
        body = _decode_one(body, name, cap, label)
    return body


def _decode_one(data: bytes, name: str, cap: int, label: str) -> bytes:
    if name == "deflate":
        # HTTP's "deflate" is the zlib format (RFC 9110 §8.4.1.2), but some servers send a raw
        # deflate stream: a valid zlib header (CMF/FLG, RFC 1950) tells the two apart.
        zlib_wrapped = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
        wbits = zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS
    else:
        wbits = 16 + zlib.MAX_WBITS  # gzip only, with its header and CRC checked
    out: list[bytes] = []
    size = 0
    try:
        while True:
            decoder = zlib.decompressobj(wbits)
            # max_length stops inflating one byte past the cap: the bomb is seen, never built.
            chunk = decoder.decompress(data, cap - size + 1)
            size += len(chunk)
            if size > cap:
                raise ProtocolError(
                    f"{label} sent a {name} body that decodes to more than max_response_bytes ({cap})"
                )
            out.append(chunk)
            if not decoder.eof:
                raise zlib.error("the compressed data ends early (truncated)")
            data = decoder.unused_data
            # A gzip body may be several members back to back (RFC 1952 §2.2); anything else
            # after the end of the stream is garbage.
            if not data or wbits != 16 + zlib.MAX_WBITS:
                break
        if data:
            raise zlib.error(f"{len(data)} bytes after the end of the compressed data")
    except zlib.error as exc:
        raise ProtocolError(
            f"{label} sent a body that does not decode as its Content-Encoding {name!r}: {exc}"
        ) from exc
    return b"".join(out)


async def _close_quietly(stream: trio.abc.Stream) -> None:
    # Closing is best effort: a stream already broken (reset, failed TLS) may fail to close
    # cleanly, and that must not replace the error the caller is getting, nor escape aclose.
    try:
        await trio.aclose_forcefully(stream)
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        pass


def _release(origin: _Origin) -> None:
    """Give a pool slot back: to the first waiter if there is one, else to ``free``."""
    if origin.waiters:
        trio.lowlevel.reschedule(origin.waiters.popleft().task, _Value(True))
    else:
        origin.free += 1


def _limit(value: float | None, name: str) -> float:
    if value is None:
        return math.inf
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise UsageError(f"{name} must be a positive number of seconds or None, got {value!r}")
    return float(value)


class H11Transport:
    """``send(Request) -> Response`` over h11 and trio, with a bounded keep-alive pool per origin.

    * ``ssl_context``: used for ``https://`` (default: ``ssl.create_default_context()``, so the
      certificate and the host name are verified).
    * ``max_connections_per_origin``: concurrent calls beyond it wait (FIFO) for a connection.
    * ``connect_timeout`` (TCP connect + TLS handshake), ``read_timeout`` (each wait for the
      server, sending included), ``timeout`` (the whole call, waiting for the pool included);
      ``None`` disables one.
    * ``max_response_bytes``: a longer body, on the wire or once decoded, is a
      :class:`~okru_proto.ProtocolError`.
    * ``stream_factory``: ``async (host, port, use_tls) -> trio.abc.Stream`` replaces the
      TCP/TLS connect (tests use ``trio.testing.memory_stream_pair``).

    Plain ``http://`` is accepted only for loopback hosts (the core's rule). The transport adds
    ``Host``, ``Content-Length`` (when there is a body or the method carries one) and
    ``User-Agent`` and nothing else; it never follows redirects nor stores cookies.

    It asks for ``Accept-Encoding: gzip, deflate`` and decodes such replies (see the module
    docstring). Nothing is ever sent twice: a pooled connection is checked before it carries a
    request, and a failure after the first request byte is written is raised (see "Re-sending").
    A connection whose cycle did not end cleanly (error, cancellation, timeout,
    ``Connection: close``) is closed, never pooled.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_connections_per_origin: int = 10,
        connect_timeout: float | None = 10.0,
        read_timeout: float | None = 30.0,
        timeout: float | None = 60.0,
        max_response_bytes: int = 16 * 1024 * 1024,
        stream_factory: StreamFactory | None = None,
    ) -> None:
        if type(max_connections_per_origin) is not int or max_connections_per_origin < 1:
            raise UsageError(
                f"max_connections_per_origin must be an int >= 1, got {max_connections_per_origin!r}"
            )
        if type(max_response_bytes) is not int or max_response_bytes < 0:
            raise UsageError(f"max_response_bytes must be an int >= 0, got {max_response_bytes!r}")
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            raise UsageError("ssl_context must be an ssl.SSLContext")
        self._ssl_context = ssl_context
        self._max_connections = max_connections_per_origin
        self._connect_timeout = _limit(connect_timeout, "connect_timeout")
        self._read_timeout = _limit(read_timeout, "read_timeout")
        self._timeout = _limit(timeout, "timeout")
        self._max_body = max_response_bytes
        self._stream_factory = stream_factory
        # URL prefix ("https://api.ok.ru") -> origin, so the per-call path is one str.find and
        # one dict lookup; several spellings of one origin share one pool via ``_pools``.
        self._origins: dict[str, _Origin] = {}
        self._pools: dict[tuple[bool, str, int], _Origin] = {}
        # Every open connection, busy or idle: aclose() closes them all, the watchdog scans them.
        self._conns: set[_Connection] = set()
        self._closed = False
        # The deadline watchdog (see _rearm_watchdog): its task's scope, its sleep's scope, and
        # when it next looks.
        self._watchdog_scope: trio.CancelScope | None = None
        self._watchdog_sleep: trio.CancelScope | None = None
        self._watchdog_wake = math.inf

    # -- public API -------------------------------------------------------------------------

    async def send(self, request: Request) -> Response:
        """Send ``request`` exactly as given and read the whole response."""
        if self._closed:
            raise UsageError("this H11Transport is closed")
        origin, target = self._route(request.url)
        method = request.method.encode("ascii")
        body = request.body
        key: object = request.headers
        if body or method in _BODY_METHODS:
            key = (key, len(body))
        headers = origin.header_cache.get(key)
        if headers is None:
            headers = _prepare_headers(origin, key, request.headers, method, body)
        try:
            # ``headers`` is an h11 Headers value taken from an event h11 already validated, so
            # h11 uses it as is: only the method and the target are checked per call.
            event = h11.Request(method=method, target=target, headers=headers)
        except h11.LocalProtocolError as exc:
            raise UsageError(f"request to {origin.label} cannot be framed as HTTP/1.1: {exc}") from None

        now = _current_time()
        total_deadline = now + self._timeout
        conn: _Connection | None = None
        try:
            # The fast path takes a free token without a scheduler round trip; the first socket
            # operation below is the call's checkpoint. A free token implies no waiter (release
            # hands tokens straight to waiters), so FIFO fairness is kept.
            if origin.free:
                origin.free -= 1
            else:
                await self._wait_for_slot(origin, total_deadline)
                now = _current_time()
            try:
                idle = origin.idle
                # Most recently used first. A pooled connection whose socket is readable was
                # closed (or spoken to) by the server while idle: nothing has been written on it,
                # so dropping it and taking another is the one re-send that is provably safe.
                # Once a request byte is written, a failure is the caller's TransportError.
                while idle:
                    conn = idle.pop()
                    probe = conn.probe
                    if probe is None or not probe(0):
                        break
                    stale, conn = conn, None
                    await self._discard(stale)
                if conn is None:
                    conn = await self._connect(origin, total_deadline)
                    now = _current_time()
                response = await self._exchange(conn, event, body, now, total_deadline)
                h = conn.h11
                # Bytes after the end of the response are a server bug; on a pooled
                # connection they would be parsed as the next call's reply.
                if (
                    h.our_state is _DONE
                    and h.their_state is _DONE
                    and conn.expired is None
                    and not h.trailing_data[0]
                ):
                    h.start_next_cycle()
                    if not self._closed:
                        idle.append(conn)
                        conn = None
                return response
            finally:
                # Anything but a clean cycle (error, timeout, cancellation, server close)
                # leaves the connection in an unknown state: close it, never pool it.
                if conn is not None:
                    await self._discard(conn)
                _release(origin)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            raise self._transport_error(exc, origin, conn) from exc
        except h11.RemoteProtocolError as exc:
            raise ProtocolError(f"{origin.label} sent a reply that is not valid HTTP/1.1: {exc}") from exc

    async def aclose(self) -> None:
        """Close every connection, idle or busy (busy calls then fail with TransportError)."""
        self._closed = True
        for origin in self._pools.values():
            origin.idle.clear()
        conns, self._conns = self._conns, set()
        if self._watchdog_scope is not None:
            self._watchdog_scope.cancel()
            self._watchdog_scope = None
        with trio.CancelScope(shield=True):
            for conn in conns:
                await _close_quietly(conn.stream)

    async def __aenter__(self) -> H11Transport:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- internals --------------------------------------------------------------------------

    async def _exchange(
        self, conn: _Connection, event: h11.Request, body: bytes | StreamedBody, now: float, total_deadline: float
    ) -> Response:
        h = conn.h11
        stream = conn.stream
        out = h.send(event)
        assert out is not None
        streamed = type(body) is not bytes
        if not streamed:
            if body:
                out += h.send(_H11Data(data=body)) or b""  # type: ignore[arg-type]
            out += h.send(_END) or b""
        read_timeout = self._read_timeout
        deadline = now + read_timeout
        if deadline < total_deadline:
            conn.kind = "read"
        else:
            deadline = total_deadline
            conn.kind = "total"
        # Arm the watchdog: two attribute writes, no CancelScope (entering one per call costs
        # more than the rest of this function). It closes the stream if the deadline passes.
        conn.deadline = deadline
        if deadline < self._watchdog_wake:
            self._rearm_watchdog(deadline)
        got_bytes = False
        eof = False
        try:
            if streamed:
                await send_streamed(h, out, body, stream.send_all, lambda: self._keep_alive(conn, total_deadline))  # type: ignore[arg-type]
            else:
                await stream.send_all(out)
            next_event = h.next_event
            receive_data = h.receive_data
            receive_some = stream.receive_some
            status = 0
            headers: tuple[tuple[str, str], ...] = ()
            codings: list[str] | None = None
            chunks: list[bytes | bytearray] = []
            size = 0
            cap = self._max_body
            while True:
                ev = next_event()
                if ev is _NEED_DATA:
                    if got_bytes and read_timeout < math.inf:
                        # The read timeout bounds each wait, not the whole body.
                        deadline = _current_time() + read_timeout
                        if deadline < total_deadline:
                            conn.deadline = deadline
                            if deadline < self._watchdog_wake:
                                self._rearm_watchdog(deadline)
                        else:
                            conn.deadline = total_deadline
                            conn.kind = "total"
                    received = await receive_some(65536)
                    if not received:
                        eof = True
                    else:
                        got_bytes = True
                    receive_data(received)  # type: ignore[arg-type]  # h11 appends to a bytearray
                    continue
                t = type(ev)
                if t is _H11Data:
                    data = ev.data  # type: ignore[union-attr]
                    size += len(data)
                    if size > cap:
                        raise ProtocolError(
                            f"{conn.label} sent a response body over max_response_bytes ({cap})"
                        )
                    chunks.append(data)
                elif t is _H11Response:
                    status = ev.status_code  # type: ignore[union-attr]
                    headers = tuple(
                        [(n.decode("latin-1").lower(), v.decode("latin-1")) for n, v in ev.headers.raw_items()]  # type: ignore[union-attr]
                    )
                    for name, value in headers:
                        if name == "content-encoding":
                            if codings is None:
                                codings = []
                            codings.append(value)
                elif t is _EndOfMessage:
                    conn.deadline = math.inf
                    if codings is None:
                        return _response(status, headers, b"".join(chunks))
                    return _response(status, headers, _decode(b"".join(chunks), codings, cap, conn.label))
                elif t is not _InformationalResponse:
                    raise h11.RemoteProtocolError(f"unexpected {type(ev).__name__} before the end of the response")
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError, h11.RemoteProtocolError) as exc:
            if conn.expired is not None:
                # The watchdog closed the stream; the cause that matters is the deadline.
                raise self._timeout_error(conn.expired, conn.label, sent=True) from trio.TooSlowError()
            if isinstance(exc, h11.RemoteProtocolError):
                if eof and not got_bytes:
                    raise TransportError(
                        f"{conn.label} closed the connection without replying; {_MAY_HAVE_RUN}"
                    ) from exc
                if eof:
                    raise TransportError(
                        f"{conn.label} closed the connection before the response was complete "
                        f"(truncated: {exc}); {_MAY_HAVE_RUN}"
                    ) from exc
                raise
            raise

    def _keep_alive(self, conn: _Connection, total_deadline: float) -> None:
        # A streamed upload block is one wait: the read timeout bounds each, the total the call.
        deadline = _current_time() + self._read_timeout
        if deadline < total_deadline:
            conn.deadline, conn.kind = deadline, "read"
        else:
            conn.deadline, conn.kind = total_deadline, "total"
        if conn.deadline < self._watchdog_wake:
            self._rearm_watchdog(conn.deadline)

    def _timeout_error(self, kind: str, label: str, *, sent: bool = False) -> TransportTimeout:
        if kind == "read":
            message = f"read timeout ({self._read_timeout:g}s) expired waiting for {label}"
        elif kind == "connect":
            message = f"connect timeout ({self._connect_timeout:g}s) expired connecting to {label}"
        elif kind == "pool":
            message = f"total timeout ({self._timeout:g}s) expired waiting for a free connection to {label}"
        else:
            message = f"total timeout ({self._timeout:g}s) expired talking to {label}"
        if sent:
            message = f"{message}; {_MAY_HAVE_RUN}"
        return TransportTimeout(message)

    async def _wait_for_slot(self, origin: _Origin, total_deadline: float) -> None:
        # Park until ``_release`` hands this call a token (resumed with True) or the watchdog
        # finds ``total_deadline`` passed (resumed with False). Cancelling the call from outside
        # takes it off the queue (``abort``).
        waiter = _Waiter(trio.lowlevel.current_task(), total_deadline)
        waiters = origin.waiters
        waiters.append(waiter)
        if total_deadline < self._watchdog_wake:
            self._rearm_watchdog(total_deadline)

        def abort(raise_cancel: object) -> trio.lowlevel.Abort:
            waiters.remove(waiter)
            return trio.lowlevel.Abort.SUCCEEDED

        if not await trio.lowlevel.wait_task_rescheduled(abort):
            raise self._timeout_error("pool", origin.label) from trio.TooSlowError()

    def _route(self, url: str) -> tuple[_Origin, bytes]:
        # Fast path: "scheme://netloc" is cached; the rest of the URL is the request target.
        i = url.find("/", 8)
        if i > 0:
            origin = self._origins.get(url[:i])
            if origin is not None:
                target = url[i:]
                if "#" in target:
                    target = target.partition("#")[0]
                try:
                    return origin, target.encode("ascii")
                except UnicodeEncodeError:
                    raise UsageError(
                        f"request URL for {origin.label} is not ASCII; percent-encode it"
                    ) from None
        return self._route_slow(url)

    def _route_slow(self, url: str) -> tuple[_Origin, bytes]:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise UsageError(f"request URL has an invalid host or port: {exc}") from None
        if parts.username is not None or parts.password is not None:
            raise UsageError("request URLs must not carry user:password@ credentials")
        host = parts.hostname
        netloc = parts.netloc
        prefix = f"{parts.scheme}://{netloc}"
        # https anywhere, plain http only for loopback: the same rule the core applies to bases.
        check_base_url(prefix, "request URL")
        assert host is not None
        tls = parts.scheme == "https"
        if port is None:
            port = 443 if tls else 80
        key = (tls, host, port)
        origin = self._pools.get(key)
        if origin is None:
            try:
                host_header = netloc.encode("ascii")
            except UnicodeEncodeError:
                try:
                    host_header = netloc.encode("idna")
                except UnicodeError as exc:
                    raise UsageError(f"request URL has an invalid host name: {exc}") from None
            origin = _Origin(host, port, tls, host_header, self._max_connections)
            self._pools[key] = origin
        if url.startswith(prefix + "/"):
            if len(self._origins) >= _MAX_CACHED:
                self._origins.clear()
            self._origins[prefix] = origin
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        try:
            return origin, target.encode("ascii")
        except UnicodeEncodeError:
            raise UsageError(f"request URL for {origin.label} is not ASCII; percent-encode it") from None

    async def _connect(self, origin: _Origin, total_deadline: float) -> _Connection:
        deadline = _current_time() + self._connect_timeout
        kind = "connect"
        if deadline >= total_deadline:
            deadline, kind = total_deadline, "total"
        stream: trio.abc.Stream | None = None
        with trio.CancelScope(deadline=deadline) as scope:
            try:
                stream = await self._open_stream(origin)
            except UsageError:
                raise
            except (ValueError, UnicodeError) as exc:
                # getaddrinfo's IDNA step and ssl's server_hostname check refuse some names
                # (an empty label, a leading dot, a label over 63 characters).
                raise TransportError(
                    f"could not connect to {origin.label}: the host name is not valid ({exc})"
                ) from exc
        if scope.cancelled_caught or stream is None:
            raise self._timeout_error(kind, origin.label) from trio.TooSlowError()
        if self._closed:
            with trio.CancelScope(shield=True):
                await _close_quietly(stream)
            raise trio.ClosedResourceError("the transport was closed while connecting")
        conn = _Connection(stream, origin.label)
        self._conns.add(conn)
        return conn

    async def _open_stream(self, origin: _Origin) -> trio.abc.Stream:
        factory = self._stream_factory
        if factory is not None:
            return await factory(origin.host, origin.port, origin.tls)
        tcp = await trio.open_tcp_stream(origin.host, origin.port)
        if not origin.tls:
            return tcp
        context = self._ssl_context
        if context is None:
            context = self._ssl_context = ssl.create_default_context()
        tls = trio.SSLStream(tcp, context, server_hostname=origin.host, https_compatible=True)
        try:
            await tls.do_handshake()
        except BaseException:
            with trio.CancelScope(shield=True):
                await _close_quietly(tls)
            raise
        return tls

    async def _discard(self, conn: _Connection) -> None:
        self._conns.discard(conn)
        conn.deadline = math.inf
        with trio.CancelScope(shield=True):
            await _close_quietly(conn.stream)

    # -- the watchdog: read and whole-call deadlines without a CancelScope per call ------------
    #
    # Entering a trio CancelScope costs more than everything else this transport adds to a call,
    # so the exchange only writes ``conn.deadline``. One system task per transport and trio run
    # sleeps until the earliest deadline of a busy connection and closes the streams whose
    # deadline passed; the blocked call then fails and raises TransportTimeout. Deadlines are
    # "now + a fixed timeout", so a new call almost never needs the watchdog earlier than it
    # already plans to look: waking it is the rare path.
    #
    # ``_watchdog_wake`` is -inf while the watchdog is awake (its next scan sees every armed call),
    # the time it sleeps until while asleep, and +inf while there is no watchdog (the first armed
    # call, in this trio run, starts one).

    def _rearm_watchdog(self, deadline: float) -> None:
        sleeping = self._watchdog_sleep
        if sleeping is not None:
            self._watchdog_wake = deadline
            sleeping.deadline = deadline
            return
        # No watchdog yet, or the trio run that had one has ended.
        self._watchdog_wake = -math.inf
        trio.lowlevel.spawn_system_task(self._watchdog, name=f"okru H11Transport watchdog {id(self):#x}")

    async def _watchdog(self) -> None:
        try:
            with trio.CancelScope() as self._watchdog_scope:
                while not self._closed:
                    now = _current_time()
                    wake = math.inf
                    for origin in self._pools.values():
                        # Waiters queue in deadline order (now + one fixed timeout), so only the
                        # head of each queue needs looking at.
                        waiters = origin.waiters
                        while waiters and waiters[0].deadline <= now:
                            trio.lowlevel.reschedule(waiters.popleft().task, _Value(False))
                        if waiters and waiters[0].deadline < wake:
                            wake = waiters[0].deadline
                    expired = []
                    for conn in self._conns:
                        deadline = conn.deadline
                        if deadline <= now:
                            expired.append(conn)
                        elif deadline < wake:
                            wake = deadline
                    for conn in expired:
                        # The call blocked on this stream gets ClosedResourceError (or a broken
                        # TLS stream) and, seeing ``expired``, raises TransportTimeout.
                        conn.expired = conn.kind
                        conn.deadline = math.inf
                        self._conns.discard(conn)
                        await _close_quietly(conn.stream)
                    if expired:
                        continue
                    self._watchdog_wake = wake
                    with trio.CancelScope(deadline=wake) as self._watchdog_sleep:
                        await trio.sleep_forever()
                    self._watchdog_sleep = None
                    self._watchdog_wake = -math.inf
        finally:
            self._watchdog_scope = self._watchdog_sleep = None
            self._watchdog_wake = math.inf

    def _transport_error(self, exc: BaseException, origin: _Origin, conn: _Connection | None) -> TransportError:
        label = origin.label
        # ``conn`` is set once the exchange began, i.e. once a request byte may have been written.
        after = "" if conn is None else f"; {_MAY_HAVE_RUN}"
        if self._closed:
            return TransportError(f"the transport was closed during a call to {label}{after}")
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, ssl.SSLError):
            cause = cause.__cause__ or cause.__context__
        if isinstance(cause, ssl.SSLCertVerificationError):
            return TransportError(
                f"TLS certificate verification failed for {label}: {cause.verify_message or cause}"
            )
        if isinstance(cause, ssl.SSLError):
            return TransportError(f"TLS error with {label}: {cause}{after}")
        if conn is None:
            return TransportError(f"could not connect to {label}: {exc}")
        return TransportError(f"connection to {label} failed: {type(exc).__name__}: {exc}{after}")
