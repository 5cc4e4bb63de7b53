"""Reading an httpx reply's body: everything that holds it to ``max_response_bytes`` and the deadline lives here.

:class:`BodyReader` collects a streamed body chunk by chunk, refusing a ``Content-Length`` or a
body (as received, or once decoded) over the cap and a chunk that arrives after the call's
deadline, and decodes gzip and deflate with the core's :class:`okru_proto.adapter.Inflater` as
the body arrives; :func:`reply_headers` gives the reply's headers the shape the core wants.
"""

from __future__ import annotations

import math
import time
import zlib

import httpx

from okru_proto import ProtocolError
from okru_proto.adapter import DECODED_CODINGS, Inflater, Request

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

    gzip and deflate are decoded here as the body arrives by the core's ``Inflater`` (the code
    okru_trio decodes with), the output of each step limited to what is left of the cap, so a
    decompression bomb never takes more than the cap (concatenated gzip members are joined;
    ``deflate`` is zlib-wrapped or raw; a truncated stream or bytes after its end do not decode). Other codings (br, zstd, stacked)
    go through httpx's decoders (``decoded`` true: iterate ``iter_bytes``), the cap checked
    after each decoded chunk.
    """

    __slots__ = ("at", "cap", "chunks", "coding", "decoded", "inflate", "request", "size")

    def __init__(self, headers: tuple[tuple[str, str], ...], cap: int, deadline: Deadline | None,
                 request: Request, in_memory: bool = False) -> None:
        self.cap = cap
        self.request = request  # for the host in a message (parsed only then)
        self.at = deadline.at if deadline is not None else math.inf
        self.size = 0
        self.chunks: list[bytes] = []
        self.inflate: Inflater | None = None
        self.decoded = False
        coding = None
        for name, value in headers:
            if name == "content-length":
                if value.strip().isdigit() and int(value) > cap:
                    raise self._too_big(f"Content-Length: {value.strip()}")
            elif name == "content-encoding":
                coding = value if coding is None else f"{coding}, {value}"
        self.coding = coding
        if in_memory:
            # A reply a transport built in memory (httpx.MockTransport, FakeOKTransport): httpx
            # has already read and decoded it; only iter_bytes gives it back.
            self.decoded = True
        elif coding is not None:
            key = coding.strip().lower()
            if key in DECODED_CODINGS:
                self.inflate = Inflater(key)
            elif key not in ("", "identity"):
                self.decoded = True

    def _too_big(self, what: str) -> ProtocolError:
        return ProtocolError(
            f"{self.request.host} sent a response body over max_response_bytes={self.cap} ({what}); pass a "
            "larger max_response_bytes= to the session if such replies are expected")

    def add(self, chunk: bytes) -> None:
        if _monotonic() > self.at:
            raise TimeoutError("whole-call deadline")
        if self.inflate is not None:
            chunk = self._decode(chunk, False)
        self.size += len(chunk)
        if self.size > self.cap:
            raise self._too_big("decoded" if self.inflate is not None else f"{self.size} bytes so far")
        self.chunks.append(chunk)

    def body(self) -> bytes:
        if self.inflate is not None:
            tail = self._decode(b"", True)
            self.size += len(tail)
            if self.size > self.cap:
                raise self._too_big("decoded")
            self.chunks.append(tail)
        return b"".join(self.chunks)

    def _decode(self, data: bytes, final: bool) -> bytes:
        assert self.inflate is not None
        room = self.cap - self.size + 1  # one byte more than fits: enough to know it is too big
        try:
            return self.inflate.finish(room) if final else self.inflate.feed(data, room)
        except zlib.error as exc:
            raise ProtocolError(
                f"{self.request.host} sent a body that does not decode as its Content-Encoding "
                f"{self.coding!r}: {exc}") from exc
