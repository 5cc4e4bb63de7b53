"""One HTTP/1.1 connection: everything about a single socket lives here.

How a connection is opened (TCP, TLS through ``trio.SSLStream`` with the host name verified, or
a test's ``stream_factory``), the state a call leaves on it (its ``h11.Connection``, the
deadline the watchdog enforces and which limit that is), the probe that says whether an idle
pooled socket may carry a request, and closing it without letting a broken stream's error
replace the one the caller is getting. No pooling and no request framing: see ``_pool.py`` and
``_exchange.py``.
"""

from __future__ import annotations

import math
import select
import ssl
from collections.abc import Awaitable, Callable

import h11
import trio

__all__ = ["Connection", "StreamFactory", "close_quietly", "open_stream", "readable_probe"]

#: ``(host, port, use_tls) -> stream``: the seam for socket-less tests. When ``use_tls`` is true
#: the factory must return an already-encrypted stream (the transport does no TLS of its own then).
StreamFactory = Callable[[str, int, bool], Awaitable[trio.abc.Stream]]


def readable_probe(stream: trio.abc.Stream) -> Callable[[int], object] | None:
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


class Connection:
    __slots__ = ("deadline", "expired", "h11", "kind", "label", "probe", "stream")

    def __init__(self, stream: trio.abc.Stream, label: str) -> None:
        self.stream = stream
        self.label = label
        self.h11 = h11.Connection(h11.CLIENT)
        # Asked before a pooled connection carries a request (see readable_probe).
        self.probe = readable_probe(stream)
        # While a call uses the connection: when the watchdog must close it, and which limit
        # ("read" or "total") that is. ``inf`` while idle.
        self.deadline = math.inf
        self.kind = "read"
        # Set by the watchdog when it closed the stream because ``deadline`` passed.
        self.expired: str | None = None


async def open_stream(
    host: str, port: int, tls: bool, factory: StreamFactory | None, context: Callable[[], ssl.SSLContext]
) -> trio.abc.Stream:
    """A connected stream to ``host:port``: the factory's, plain TCP, or TLS over TCP.

    ``context()`` is asked only for a TLS connection this module makes itself, so a transport
    that only talks plain http to loopback never builds (loads the CA bundle for) one.
    """
    if factory is not None:
        return await factory(host, port, tls)
    tcp = await trio.open_tcp_stream(host, port)
    if not tls:
        return tcp
    stream = trio.SSLStream(tcp, context(), server_hostname=host, https_compatible=True)
    try:
        await stream.do_handshake()
    except BaseException:
        with trio.CancelScope(shield=True):
            await close_quietly(stream)
        raise
    return stream


async def close_quietly(stream: trio.abc.Stream) -> None:
    # Closing is best effort: a stream already broken (reset, failed TLS) may fail to close
    # cleanly, and that must not replace the error the caller is getting, nor escape aclose.
    try:
        await trio.aclose_forcefully(stream)
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        pass
