"""The trio transport: ``okru_proto.Request`` bytes out, ``okru_proto.Response`` bytes in, over h11.

No OK.ru knowledge lives here. One :class:`H11Transport` owns a small connection pool per origin
(scheme, host, port); each connection is one ``h11.Connection`` over a trio stream (TCP, or TLS
through ``trio.SSLStream``), kept alive across calls with ``start_next_cycle``. This module owns
one call's path through them: the pool slot, the choice between a pooled connection and a new
one (the re-send rule below), and what becomes of the connection afterwards. The parts live in
``_request.py`` (URL -> pool and target, header framing), ``_pool.py`` (slots, idle connections,
the deadline watchdog), ``_conn.py`` (one socket: open, probe, close), ``_exchange.py`` (one
request/response, decoding) and ``_errors.py`` (how every failure reads).

Error mapping (the original exception is always ``__cause__``):

* a connect, read or whole-call deadline -> :class:`okru_proto.TransportTimeout` (the message
  names which one);
* OS/socket errors, a broken or closed stream, TLS failures (certificate verification failures
  say so) -> :class:`okru_proto.TransportError`;
* the connection closed before the response was complete (EOF mid-head or mid-body, i.e. a
  truncated body) -> :class:`okru_proto.TransportError`, exactly like a reset mid-body: the peer
  or the network died, and either way the call may be worth retrying by the caller's policy;
* bytes that are not HTTP/1.1 (``h11.RemoteProtocolError``: not retried, the same server
  would send them again; the message says the request may have run), a ``Content-Length`` or a
  body over ``max_response_bytes`` -> :class:`okru_proto.ProtocolError` (the same classes as
  okru_httpx);
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
undone as the body arrives by :class:`okru_proto.adapter.BodyDecoder` (okru_httpx's decoder
too), so ``max_response_bytes`` bounds both the bytes read and the decoded body while it is
decoded: ``identity`` is skipped; ``x-gzip`` is gzip; concatenated gzip members are joined;
``deflate`` is the zlib format or, from servers that send it, a raw deflate stream. Stacked
codings (``gzip, gzip``) are undone in order, last applied first, each layer streamed into the
next, at most three. Any other coding (``br``, ``zstd``, ``compress``) is refused, because okru
never asks for it. The response keeps its headers as received (``content-encoding`` included);
only the body is decoded.

Timeouts: the connect timeout uses a trio CancelScope (slow path only). The read and whole-call
deadlines of an exchange, and the whole-call deadline of a call waiting for a pool slot, are
watched by one trio system task per transport (``_pool.Watchdog``: started on first use in each
trio run, stopped by ``aclose``) that closes a stalled connection's stream or wakes the waiter
with a timeout, because entering a CancelScope on every call would cost more CPU than the rest
of the transport. Cancelling ``send`` from outside works at any point as usual in trio.
"""

from __future__ import annotations

import math
import ssl
from types import TracebackType

import h11
import trio

from okru_proto import ProtocolError, TransportError, UsageError
from okru_proto.adapter import Request, Response

from ._conn import Connection, StreamFactory, close_quietly, open_stream
from ._errors import MAY_HAVE_RUN, Timeouts, transport_error
from ._exchange import exchange
from ._pool import Origin, Watchdog, release
from ._request import BODY_METHODS, Router, prepare_headers

__all__ = ["H11Transport", "StreamFactory"]

_DONE = h11.DONE
_current_time = trio.current_time


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
        self._timeouts = Timeouts(connect_timeout, read_timeout, timeout)
        self._timeout = self._timeouts.total
        self._max_body = max_response_bytes
        self._stream_factory = stream_factory
        self._router = Router(max_connections_per_origin)
        self._route = self._router.route
        self._pools = self._router.pools
        # Every open connection, busy or idle: aclose() closes them all, the watchdog scans them.
        self._conns: set[Connection] = set()
        self._closed = False
        self._watch = Watchdog(self._pools, self._conns, f"okru H11Transport watchdog {id(self):#x}")

    # -- public API -------------------------------------------------------------------------

    async def send(self, request: Request) -> Response:
        """Send ``request`` exactly as given and read the whole response."""
        if self._closed:
            raise UsageError("this H11Transport is closed")
        origin, target = self._route(request.url)
        method = request.method.encode("ascii")
        body = request.body
        key: object = request.headers
        if body or method in BODY_METHODS:
            key = (key, len(body))
        headers = origin.header_cache.get(key)
        if headers is None:
            headers = prepare_headers(origin, key, request.headers, method, body)
        try:
            # ``headers`` is an h11 Headers value taken from an event h11 already validated, so
            # h11 uses it as is: only the method and the target are checked per call.
            event = h11.Request(method=method, target=target, headers=headers)
        except h11.LocalProtocolError as exc:
            raise UsageError(f"request to {origin.label} cannot be framed as HTTP/1.1: {exc}") from None

        now = _current_time()
        total_deadline = now + self._timeout
        conn: Connection | None = None
        try:
            # The fast path takes a free token without a scheduler round trip; the first socket
            # operation below is the call's checkpoint. A free token implies no waiter (release
            # hands tokens straight to waiters), so FIFO fairness is kept.
            if origin.free:
                origin.free -= 1
            else:
                if not await self._watch.wait_for_slot(origin, total_deadline):
                    raise self._timeouts.error("pool", origin.label) from trio.TooSlowError()
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
                response = await exchange(
                    conn, event, body, now, total_deadline, self._timeouts, self._max_body, self._watch
                )
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
                release(origin)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            # ``conn`` is set once the exchange began, i.e. once a request byte may have been written.
            raise transport_error(exc, origin.label, sent=conn is not None, closed=self._closed) from exc
        except h11.RemoteProtocolError as exc:
            # Never before a request byte was written: the request may have run.
            raise ProtocolError(
                f"{origin.label} sent a reply that is not valid HTTP/1.1 ({exc}); {MAY_HAVE_RUN}"
            ) from exc

    async def aclose(self) -> None:
        """Close every connection, idle or busy (busy calls then fail with TransportError)."""
        self._closed = True
        for origin in self._pools.values():
            origin.idle.clear()
        # The watchdog holds this very set: empty it in place.
        conns = list(self._conns)
        self._conns.clear()
        self._watch.stop()
        with trio.CancelScope(shield=True):
            for conn in conns:
                await close_quietly(conn.stream)

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

    async def _connect(self, origin: Origin, total_deadline: float) -> Connection:
        deadline = _current_time() + self._timeouts.connect
        kind = "connect"
        if deadline >= total_deadline:
            deadline, kind = total_deadline, "total"
        stream: trio.abc.Stream | None = None
        with trio.CancelScope(deadline=deadline) as scope:
            try:
                stream = await open_stream(
                    origin.host, origin.port, origin.tls, self._stream_factory, self._tls_context
                )
            except UsageError:
                raise
            except (ValueError, UnicodeError) as exc:
                # getaddrinfo's IDNA step and ssl's server_hostname check refuse some names
                # (an empty label, a leading dot, a label over 63 characters).
                raise TransportError(
                    f"could not connect to {origin.label}: the host name is not valid ({exc})"
                ) from exc
        if scope.cancelled_caught or stream is None:
            raise self._timeouts.error(kind, origin.label) from trio.TooSlowError()
        if self._closed:
            with trio.CancelScope(shield=True):
                await close_quietly(stream)
            raise trio.ClosedResourceError("the transport was closed while connecting")
        conn = Connection(stream, origin.label)
        self._conns.add(conn)
        return conn

    def _tls_context(self) -> ssl.SSLContext:
        context = self._ssl_context
        if context is None:
            context = self._ssl_context = ssl.create_default_context()
        return context

    async def _discard(self, conn: Connection) -> None:
        self._conns.discard(conn)
        conn.deadline = math.inf
        with trio.CancelScope(shield=True):
            await close_quietly(conn.stream)
