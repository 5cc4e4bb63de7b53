"""Reading an httpx reply's body: everything that holds it to ``max_response_bytes`` and the deadline lives here.

:class:`BodyReader` collects a streamed body chunk by chunk, refusing a ``Content-Length`` or a
body (as received, or once decoded) over the cap and a chunk that arrives after the call's
deadline, and undoes the reply's whole ``Content-Encoding`` with the core's
:class:`okru_proto.adapter.BodyDecoder` as the body arrives; :func:`reply_headers` gives the
reply's headers the shape the core wants.
"""

from __future__ import annotations

import math
import time

import httpx

from okru_proto import ProtocolError
from okru_proto.adapter import BodyDecoder, Request

from ._deadline import Deadline

__all__ = ["BodyReader", "reply_headers"]

# The clock the deadline was set with (Deadline.at is on it).
_monotonic = time.monotonic


def reply_headers(hresp: httpx.Response) -> tuple[tuple[str, str], ...]:
    """The reply's headers as the core wants them: a tuple of (lower-case name, value)."""
    raw = hresp.headers
    encoding = raw.encoding  # what httpx itself decodes header text with
    # A tuple takes Response's validation fast path (a list is re-checked pair by pair: +1.2 µs).
    return tuple([(k.decode(encoding).lower(), v.decode(encoding)) for k, v in raw.raw])


class BodyReader:
    """Collects a streamed body within ``max_response_bytes`` and the call's deadline.

    The session reads the body with httpx's ``iter_raw`` (``decoded`` false): the bytes as they
    came off the wire, so httpx's own decoders, which have no size limit, never run on a reply
    okru reads. Every coding is undone here by the core's ``BodyDecoder`` (the code okru_trio
    decodes with): every layer of a stacked ``Content-Encoding`` streamed into the next, the
    output held to the cap as it is made, any coding okru did not ask for refused.
    """

    __slots__ = ("at", "cap", "chunks", "decoded", "decoder", "received", "request")

    def __init__(self, headers: tuple[tuple[str, str], ...], cap: int, deadline: Deadline | None,
                 request: Request, in_memory: bool = False) -> None:
        self.cap = cap
        self.request = request  # for the host in a message (parsed only then)
        self.at = deadline.at if deadline is not None else math.inf
        self.received = 0
        self.chunks: list[bytes] = []
        self.decoded = False
        codings = []
        for name, value in headers:
            if name == "content-length":
                if value.strip().isdigit() and int(value) > cap:
                    raise self._too_big(f"Content-Length: {value.strip()}")
            elif name == "content-encoding":
                codings.append(value)
        self.decoder: BodyDecoder | None = None
        if in_memory:
            # A reply a transport built in memory (httpx.MockTransport, FakeOKTransport): httpx
            # has already read it; only iter_bytes gives it back. No server sent it.
            self.decoded = True
        elif codings:
            decoder = BodyDecoder(codings, cap, request.host)
            if not decoder.identity:
                self.decoder = decoder

    def _too_big(self, what: str) -> ProtocolError:
        return ProtocolError(
            f"{self.request.host} sent a response body over max_response_bytes={self.cap} ({what}); pass a "
            "larger max_response_bytes= to the session if such replies are expected")

    def add(self, chunk: bytes) -> None:
        if _monotonic() > self.at:
            raise TimeoutError("whole-call deadline")
        self.received += len(chunk)
        if self.received > self.cap:
            raise self._too_big(f"{self.received} bytes so far")
        if self.decoder is not None:
            self.decoder.feed(chunk)  # it keeps the decoded body, held to the cap as it is made
        else:
            self.chunks.append(chunk)

    def body(self) -> bytes:
        if self.decoder is not None:
            return self.decoder.finish()
        return b"".join(self.chunks)
