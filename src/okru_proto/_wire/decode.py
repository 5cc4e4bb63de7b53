"""Decoding a reply's ``Content-Encoding`` under a size cap: everything that inflates a body lives here.

Both adapters ask for ``Accept-Encoding: gzip, deflate`` (:data:`ACCEPT_ENCODING`: only what the
standard library's ``zlib`` decodes, never ``br`` or ``zstd``) and undo those codings with this
module, so a decompression bomb is refused the same way everywhere: every step's output is
limited with ``zlib``'s ``max_length`` to one byte more than what is left of
``max_response_bytes``, so an over-long body is seen without ever being built.

* :class:`Inflater` decodes one gzip or deflate stream chunk by chunk (okru_httpx feeds it as
  the body arrives);
* :func:`decode_body` undoes a whole body's codings, stacked ones last applied first (okru_trio
  decodes once the body is read).

The rules: ``x-gzip`` is gzip; concatenated gzip members are joined (RFC 1952 §2.2);
``deflate`` is the zlib format (RFC 9110 §8.4.1.2) or, from servers that send it, a raw deflate
stream; ``identity`` is skipped; a truncated stream or bytes after its end do not decode. No
I/O, and nothing here is OK.ru-specific.
"""

from __future__ import annotations

import zlib
from typing import Any

from .._errors import ProtocolError

__all__ = ["ACCEPT_ENCODING", "DECODED_CODINGS", "MAX_CODINGS", "Inflater", "decode_body"]

#: The ``Accept-Encoding`` an adapter sends: the codings :class:`Inflater` decodes.
ACCEPT_ENCODING = "gzip, deflate"
#: ``Content-Encoding`` names (lower case) that :class:`Inflater` decodes.
DECODED_CODINGS = frozenset({"gzip", "x-gzip", "deflate"})
#: Stacked codings ("gzip, gzip") beyond this many are refused: every layer may expand to the
#: cap, so the work must stay bounded.
MAX_CODINGS = 5
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # gzip only, with its header and CRC checked


class Inflater:
    """One gzip or deflate stream, decoded chunk by chunk; no call returns more than ``room``.

    A stream that does not decode raises :class:`zlib.error`; the caller turns it into its
    :class:`~okru_proto.ProtocolError` (it knows the host and the coding to name).
    """

    __slots__ = ("fed", "gzip", "obj", "pending")

    def __init__(self, coding: str) -> None:
        self.gzip = coding != "deflate"
        self.obj: Any = zlib.decompressobj(_GZIP_WBITS) if self.gzip else None
        self.pending = b""
        self.fed = False

    def feed(self, data: bytes, room: int) -> bytes:
        if not data:
            return b""
        self.fed = True
        if self.obj is None:
            # HTTP's "deflate" is the zlib format (RFC 9110 §8.4.1.2), but some servers send a
            # raw deflate stream: a valid zlib header (CMF/FLG, RFC 1950) tells the two apart.
            data = self.pending + data
            if len(data) < 2:
                self.pending = data
                return b""
            self.pending = b""
            wrapped = data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self.obj = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        out = self.obj.decompress(data, room)
        if len(out) >= room or not (self.obj.eof and self.obj.unused_data):
            return bytes(out)
        parts, left = [out], room - len(out)
        while self.obj.eof and self.obj.unused_data and left > 0:
            rest = self.obj.unused_data
            if not self.gzip:
                raise zlib.error(f"{len(rest)} bytes after the end of the compressed data")
            # A gzip body may be several members back to back (RFC 1952 §2.2).
            self.obj = zlib.decompressobj(_GZIP_WBITS)
            more = self.obj.decompress(rest, left)
            parts.append(more)
            left -= len(more)
        return b"".join(parts)

    def finish(self, room: int) -> bytes:
        if not self.fed:
            return b""  # an empty body (HEAD, 204, 304): nothing to decode
        out = b""
        if self.obj is None:
            # One byte of "deflate" in all: too short for a zlib header, so a raw stream; zlib
            # says what is wrong with it.
            self.obj = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self.obj.decompress(self.pending, room)
            self.pending = b""
        if len(out) < room:
            out += self.obj.flush(room - len(out))
        if not self.obj.eof:
            raise zlib.error("the compressed data ends early (truncated)")
        return out


def decode_body(body: bytes, codings: list[str], cap: int, label: str) -> bytes:
    """Undo a whole reply's ``Content-Encoding`` header values ``codings``, last applied first.

    Every layer's output is held to ``cap`` (max_response_bytes) while it is decoded, so a small
    body that inflates past the cap costs at most ``cap`` bytes of memory. ``label`` names the
    peer (``host:port``) in the :class:`~okru_proto.ProtocolError` raised for a coding okru did
    not ask for, more than :data:`MAX_CODINGS` layers, a layer over the cap, or bytes that do
    not decode.
    """
    names = [name.strip().lower() for value in codings for name in value.split(",")]
    names = [name for name in names if name and name != "identity"]
    if not body or not names:
        return body  # HEAD, 204, 304, or an empty body: nothing to decode
    for name in names:
        if name not in DECODED_CODINGS:
            raise ProtocolError(
                f"{label} sent a reply with Content-Encoding {name!r}, which okru cannot decode "
                "(it asks for gzip and deflate only)"
            )
    if len(names) > MAX_CODINGS:
        raise ProtocolError(
            f"{label} sent a reply with {len(names)} stacked Content-Encodings; okru decodes at most "
            f"{MAX_CODINGS}"
        )
    # The header lists codings in the order they were applied: undo the last one first.
    for name in reversed(names):
        body = _decode_one(body, name, cap, label)
    return body


def _decode_one(data: bytes, name: str, cap: int, label: str) -> bytes:
    inflater = Inflater(name)
    try:
        if not data:
            # An inner layer that decoded to nothing: no stream can encode to zero bytes.
            raise zlib.error("the compressed data ends early (truncated)")
        # One byte more than fits: enough to know the layer is too big, never more.
        out = inflater.feed(data, cap + 1)
        if len(out) <= cap:
            out += inflater.finish(cap + 1 - len(out))
    except zlib.error as exc:
        raise ProtocolError(
            f"{label} sent a body that does not decode as its Content-Encoding {name!r}: {exc}"
        ) from exc
    if len(out) > cap:
        raise ProtocolError(f"{label} sent a {name} body that decodes to more than max_response_bytes ({cap})")
    return out
