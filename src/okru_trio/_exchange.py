"""One request and its response on one connection: everything between the first byte written and the last byte read lives here.

:func:`exchange` writes the request (a streamed body block by block through ``_stream.py``),
reads the response with h11 (interim 1xx replies skipped), refuses a ``Content-Length`` over
``max_response_bytes`` before reading the body, holds the body to the cap as it arrives, undoes
its ``Content-Encoding`` as it arrives with the core's :class:`okru_proto.adapter.BodyDecoder`
(every layer, the decoded output held to the cap too), and keeps the connection's read and whole-call
deadlines current for the watchdog. A failure here is always after a request byte may have
been written, so its message says the call may have run (see "Re-sending" in ``_transport.py``):

* the watchdog closed the stream -> the :class:`okru_proto.TransportTimeout` of the limit that
  fired;
* the connection closed before the response was complete (EOF mid-head or mid-body, i.e. a
  truncated body) -> :class:`okru_proto.TransportError`, exactly like a reset mid-body;
* a ``Content-Length`` or a body over ``max_response_bytes`` (on the wire or once decoded), or
  a coding that does not decode -> :class:`okru_proto.ProtocolError`; other stream, OS and h11
  errors propagate to the transport, which maps them (bytes that are not HTTP/1.1:
  :class:`okru_proto.ProtocolError`).
"""

from __future__ import annotations

import math

import h11
import trio

from okru_proto import ProtocolError, TransportError
from okru_proto.adapter import BodyDecoder, Response, StreamedBody, trusted_response

from ._conn import Connection
from ._errors import MAY_HAVE_RUN, Timeouts
from ._pool import Watchdog
from ._stream import send_streamed

__all__ = ["exchange"]

_NEED_DATA = h11.NEED_DATA
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


async def exchange(
    conn: Connection,
    event: h11.Request,
    body: bytes | StreamedBody,
    now: float,
    total_deadline: float,
    timeouts: Timeouts,
    cap: int,
    watch: Watchdog,
) -> Response:
    """Send ``event`` (and ``body``) on ``conn`` and read the whole response."""
    h = conn.h11
    stream = conn.stream
    out = h.send(event)
    assert out is not None
    streamed = type(body) is not bytes
    if not streamed:
        if body:
            out += h.send(_H11Data(data=body)) or b""  # type: ignore[arg-type]
        out += h.send(_END) or b""
    read_timeout = timeouts.read
    deadline = now + read_timeout
    if deadline < total_deadline:
        conn.kind = "read"
    else:
        deadline = total_deadline
        conn.kind = "total"
    # Arm the watchdog: two attribute writes, no CancelScope (entering one per call costs
    # more than the rest of this function). It closes the stream if the deadline passes.
    conn.deadline = deadline
    if deadline < watch.wake:
        watch.arm(deadline)
    got_bytes = False
    eof = False
    try:
        if streamed:
            await send_streamed(h, out, body, stream.send_all, lambda: _keep_alive(conn, total_deadline, read_timeout, watch))  # type: ignore[arg-type]
        else:
            await stream.send_all(out)
        next_event = h.next_event
        receive_data = h.receive_data
        receive_some = stream.receive_some
        status = 0
        headers: tuple[tuple[str, str], ...] = ()
        decoder: BodyDecoder | None = None
        chunks: list[bytes | bytearray] = []
        size = 0
        while True:
            ev = next_event()
            if ev is _NEED_DATA:
                if got_bytes and read_timeout < math.inf:
                    # The read timeout bounds each wait, not the whole body.
                    deadline = _current_time() + read_timeout
                    if deadline < total_deadline:
                        conn.deadline = deadline
                        if deadline < watch.wake:
                            watch.arm(deadline)
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
                        f"{conn.label} sent a response body over max_response_bytes={cap} ({size} "
                        "bytes so far); pass a larger max_response_bytes= to the session if such "
                        "replies are expected"
                    )
                if decoder is not None:
                    decoder.feed(data)  # it keeps the decoded body, held to the cap as it is made
                else:
                    chunks.append(data)
            elif t is _H11Response:
                status = ev.status_code  # type: ignore[union-attr]
                headers = tuple(
                    [(n.decode("latin-1").lower(), v.decode("latin-1")) for n, v in ev.headers.raw_items()]  # type: ignore[union-attr]
                )
                codings = None
                for name, value in headers:
                    if name == "content-encoding":
                        if codings is None:
                            codings = []
                        codings.append(value)
                    elif name == "content-length" and int(value) > cap:
                        # Refused before a byte of the body is read (h11 checked it is digits).
                        raise ProtocolError(
                            f"{conn.label} sent a response body over max_response_bytes={cap} "
                            f"(Content-Length: {value}); pass a larger max_response_bytes= to the "
                            "session if such replies are expected"
                        )
                if codings is not None:
                    decoder = BodyDecoder(codings, cap, conn.label)
                    if decoder.identity:
                        decoder = None
            elif t is _EndOfMessage:
                conn.deadline = math.inf
                if decoder is not None:
                    return _response(status, headers, decoder.finish())
                return _response(status, headers, b"".join(chunks))
            elif t is not _InformationalResponse:
                raise h11.RemoteProtocolError(f"unexpected {type(ev).__name__} before the end of the response")
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError, h11.RemoteProtocolError) as exc:
        if conn.expired is not None:
            # The watchdog closed the stream; the cause that matters is the deadline.
            raise timeouts.error(conn.expired, conn.label, sent=True) from trio.TooSlowError()
        if isinstance(exc, h11.RemoteProtocolError):
            if eof and not got_bytes:
                raise TransportError(
                    f"{conn.label} closed the connection without replying; {MAY_HAVE_RUN}"
                ) from exc
            if eof:
                raise TransportError(
                    f"{conn.label} closed the connection before the response was complete "
                    f"(truncated: {exc}); {MAY_HAVE_RUN}"
                ) from exc
            raise
        raise


def _keep_alive(conn: Connection, total_deadline: float, read_timeout: float, watch: Watchdog) -> None:
    # A streamed upload block is one wait: the read timeout bounds each, the total the call.
    deadline = _current_time() + read_timeout
    if deadline < total_deadline:
        conn.deadline, conn.kind = deadline, "read"
    else:
        conn.deadline, conn.kind = total_deadline, "total"
    if conn.deadline < watch.wake:
        watch.arm(conn.deadline)
