"""Decoding a reply's ``Content-Encoding`` under a size cap: everything that inflates a body lives here.

Both adapters ask for ``Accept-Encoding: gzip, deflate`` (:data:`ACCEPT_ENCODING`: only what the
standard library's ``zlib`` decodes, never ``br`` or ``zstd``) and undo every coding of every
reply with this module, never with their HTTP library's decoders, so a decompression bomb is
refused the same way everywhere:

* :class:`BodyDecoder` undoes a reply's whole ``Content-Encoding`` (stacked codings included,
  ``gzip, gzip``) as the body arrives. Each layer's output is made in pieces of at most
  :data:`STEP` bytes and handed straight to the next layer, so no intermediate layer is ever
  held; the final output is limited with ``zlib``'s ``max_length`` to one byte more than what
  is left of ``max_response_bytes``, so an over-long body is seen without ever being built; and
  every layer's total output is counted, so the work a small body can cause is bounded too.
* :func:`decode_body` is the same for a body already read whole.
* :class:`Inflater` is one gzip or deflate stream (one layer), chunk by chunk.

The rules: names are case-insensitive and may be listed in one header or several, with blank
list elements ignored (RFC 9110 §5.6.1 and RFC 9110 §8.4); ``x-gzip`` is gzip; ``identity`` is skipped;
at most :data:`MAX_CODINGS` other layers; any other coding (``br``, ``zstd``, ``compress``...)
is refused, since okru never asks for it; concatenated gzip members are joined (RFC 1952 §2.2);
``deflate`` is the zlib format (RFC 9110 §8.4.1.2) or, from servers that send it, a raw deflate
stream; a truncated stream, an inner layer that decodes to nothing, or bytes after a stream's
end do not decode. Every refusal is a :class:`~okru_proto.ProtocolError` naming the peer and
``Content-Encoding``. No I/O, and nothing here is OK.ru-specific.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable, Iterable
from typing import Any

from .._errors import ProtocolError

__all__ = ["ACCEPT_ENCODING", "DECODED_CODINGS", "MAX_CODINGS", "BodyDecoder", "Inflater", "decode_body"]

#: The ``Accept-Encoding`` an adapter sends: the codings :class:`Inflater` decodes.
ACCEPT_ENCODING = "gzip, deflate"
#: ``Content-Encoding`` names (lower case) that :class:`Inflater` decodes.
DECODED_CODINGS = frozenset({"gzip", "x-gzip", "deflate"})
#: Stacked codings ("gzip, gzip") beyond this many (``identity`` not counted) are refused. No
#: server okru talks to compresses twice; every layer may cost up to ``max_response_bytes`` of
#: inflating work, so the number of layers bounds the work a small body can cause.
MAX_CODINGS = 3
#: Concatenated gzip members (RFC 1952 §2.2) accepted in one stream: servers send one.
MAX_MEMBERS = 1000
#: The largest piece one layer hands the next: what an intermediate layer holds at a time.
STEP = 64 * 1024
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # gzip only, with its header and CRC checked


#: Where decoded pieces go: the next layer, the body, or a caller's list.
Sink = Callable[[bytes], object]


class _Full(Exception):
    """Raised by :meth:`Inflater.feed`'s sink once ``room`` bytes are out: decoding stops there."""


class Inflater:
    """One gzip or deflate stream, decoded chunk by chunk.

    :meth:`run` / :meth:`end` decode all they are given and hand ``sink`` pieces of at most
    ``step`` bytes (what :class:`BodyDecoder` chains: a sink may raise to stop); :meth:`feed` /
    :meth:`finish` return at most ``room`` bytes in one go (what follows past ``room`` is never
    built: the caller stops there). A stream that does not decode raises :class:`zlib.error`;
    the caller turns it into its :class:`~okru_proto.ProtocolError` (it knows the peer and the
    coding to name).
    """

    __slots__ = ("fed", "gzip", "members", "obj", "pending")

    def __init__(self, coding: str) -> None:
        self.gzip = coding != "deflate"
        self.members = 1
        self.obj: Any = zlib.decompressobj(_GZIP_WBITS) if self.gzip else None
        self.pending = b""
        self.fed = False

    def run(self, data: bytes, step: int, sink: Sink) -> None:
        """Decode all of ``data``; ``sink`` gets non-empty pieces of at most ``step`` (>= 1) bytes."""
        if not data:
            return
        self.fed = True
        if self.obj is None:
            # HTTP's "deflate" is the zlib format (RFC 9110 §8.4.1.2), but some servers send a
            # raw deflate stream: a valid zlib header (CMF/FLG, RFC 1950) tells the two apart.
            data = self.pending + data
            if len(data) < 2:
                self.pending = data
                return
            self.pending = b""
            wrapped = data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self.obj = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        self._run(data, step, sink)

    def _run(self, data: bytes, step: int, sink: Sink) -> None:
        obj = self.obj
        if obj.eof and not data:
            return
        while True:
            # max_length holds this piece to ``step``; the input zlib did not get to waits in
            # unconsumed_tail, and output it holds back comes with the next call.
            out = obj.decompress(data, step)
            if out:
                sink(out)
            elif data and len(obj.unconsumed_tail) == len(data):
                raise zlib.error("the compressed data makes no progress")  # never loop in place
            data = obj.unconsumed_tail
            if obj.eof:
                rest = obj.unused_data
                if not rest:
                    return
                if not self.gzip:
                    raise zlib.error(f"{len(rest)} bytes after the end of the compressed data")
                # A gzip body may be several members back to back (RFC 1952 §2.2); thousands of
                # empty ones would only cost time.
                self.members += 1
                if self.members > MAX_MEMBERS:
                    raise zlib.error(f"more than {MAX_MEMBERS} gzip members")
                obj = self.obj = zlib.decompressobj(_GZIP_WBITS)
                data = rest
            elif not data and len(out) < step:
                return  # all input taken and nothing held back

    def end(self, step: int, sink: Sink, *, inner: bool = False) -> None:
        """What is left once the whole stream was given (to ``sink``, as :meth:`run`);
        :class:`zlib.error` if the stream is not complete. A stream never fed is an empty body
        (HEAD, 204, 304), unless ``inner`` (a layer inside another, which cannot be empty)."""
        if not self.fed:
            if inner:
                # No stream encodes to zero bytes: the outer layer decoded to nothing.
                raise zlib.error("the compressed data ends early (truncated)")
            return
        if self.obj is None:
            # One byte of "deflate" in all: too short for a zlib header, so a raw stream; zlib
            # says what is wrong with it.
            self.obj = zlib.decompressobj(-zlib.MAX_WBITS)
            data, self.pending = self.pending, b""
            self._run(data, step, sink)
        self._run(b"", step, sink)
        if not self.obj.eof:
            raise zlib.error("the compressed data ends early (truncated)")

    def feed(self, data: bytes, room: int) -> bytes:
        """At most ``room`` (>= 1) bytes of ``data`` decoded."""
        return _upto(lambda sink: self.run(data, room, sink), room)

    def finish(self, room: int) -> bytes:
        """At most ``room`` (>= 1) bytes of what is left (see :meth:`end`)."""
        return _upto(lambda sink: self.end(room, sink), room)


def _upto(decode: Callable[[Sink], None], room: int) -> bytes:
    parts: list[bytes] = []
    left = room

    def sink(piece: bytes) -> None:
        nonlocal left
        parts.append(piece)
        left -= len(piece)
        if left <= 0:
            raise _Full

    try:
        decode(sink)
    except _Full:
        pass
    return b"".join(parts)


#: Header values seen on nearly every reply, already split (the general parse costs ~0.5 µs).
_PLAIN: dict[str, tuple[str, ...]] = {"gzip": ("gzip",), "deflate": ("deflate",), "x-gzip": ("x-gzip",),
                                      "identity": (), "": ()}


def coding_names(values: Iterable[str]) -> tuple[str, ...]:
    """The codings named by ``Content-Encoding`` header ``values``, lower case, in the order
    they were applied, ``identity`` and blank list elements left out."""
    names = [name.strip().lower() for value in values for name in value.split(",")]
    return tuple([name for name in names if name and name != "identity"])


class BodyDecoder:
    """A reply body's whole ``Content-Encoding`` undone as the body arrives, within ``cap``.

    ``codings`` are the reply's ``Content-Encoding`` header values; ``label`` names the peer
    (``host:port``) in errors. :meth:`feed` takes the body as received, chunk by chunk;
    :meth:`finish` returns the decoded body once it is complete. The decoded output is collected
    here and is never more than ``cap`` bytes plus one piece being checked (dropped once the body
    is refused): past that :meth:`feed` raises :class:`~okru_proto.ProtocolError` (as for a coding okru does not
    decode, more than :data:`MAX_CODINGS` layers, or bytes that do not decode), as soon as it
    is known. Check :attr:`identity` first: a reply without a coding is not decoded at all.
    """

    __slots__ = ("cap", "error", "label", "layers", "made", "names", "parts", "received", "size")

    def __init__(self, codings: Iterable[str], cap: int, label: str) -> None:
        self.cap = cap
        self.label = label
        self.parts: list[bytes] = []  # the decoded body so far
        self.size = 0  # its length
        self.received = 0  # body bytes as received
        # Refused at the first body byte, not here: an empty body (HEAD, 204, 304) carries a
        # Content-Encoding without anything to decode.
        self.error: ProtocolError | None = None
        plain = _PLAIN.get(codings[0]) if type(codings) is list and len(codings) == 1 else None
        if plain is not None:  # the usual reply: one coding or none, nothing to check
            self.names = plain
            self.layers = [Inflater(plain[0])] if plain else []
            return
        names = self.names = coding_names(codings)
        for name in names:
            if name not in DECODED_CODINGS:
                self.error = ProtocolError(
                    f"{label} sent a reply with Content-Encoding {name!r}, which okru cannot decode "
                    "(it asks for gzip and deflate only)")
                break
        else:
            if len(names) > MAX_CODINGS:
                self.error = ProtocolError(
                    f"{label} sent a reply with {len(names)} stacked Content-Encodings; okru decodes "
                    f"at most {MAX_CODINGS}")
        # The header lists codings in the order they were applied: the last one is undone first.
        self.layers = [Inflater(name) for name in reversed(names)] if self.error is None else []
        # What each intermediate layer put out (the work done), held to _limit(cap).
        self.made = [0] * len(self.layers)

    @property
    def identity(self) -> bool:
        """True when there is nothing to decode (no coding, or only ``identity``)."""
        return not self.names

    @property
    def coding(self) -> str:
        return ", ".join(self.names)

    def feed(self, data: bytes) -> None:
        if not data:
            return
        self.received += len(data)
        if self.error is not None:
            raise self.error
        layers = self.layers
        try:
            if len(layers) == 1:
                layers[0].run(data, min(STEP, self.cap - self.size + 1), self._body)
            else:
                layers[0].run(data, STEP, self._sink(0))
        except zlib.error as exc:
            self.parts = []
            raise self._undecodable(exc) from exc
        except BaseException:
            # Refused: drop the body at once (the error's traceback would keep this decoder).
            self.parts = []
            raise

    def finish(self) -> bytes:
        """The decoded body (:class:`~okru_proto.ProtocolError` if it is not complete)."""
        if self.received and self.layers:  # an empty body has nothing to decode
            last = len(self.layers) - 1
            try:
                for i, layer in enumerate(self.layers):
                    if i == last:
                        layer.end(min(STEP, self.cap - self.size + 1), self._body, inner=i > 0)
                    else:
                        layer.end(STEP, self._sink(i), inner=i > 0)
            except zlib.error as exc:
                self.parts = []
                raise self._undecodable(exc) from exc
            except BaseException:
                self.parts = []
                raise
        out = b"".join(self.parts)
        self.parts = []
        return out

    def _sink(self, i: int) -> Sink:
        """Where layer ``i`` hands its pieces: the next layer (made per call, never kept: a
        decoder holding its own bound methods would be a cycle, freed only by the garbage
        collector, and a refused body with it)."""
        return functools.partial(self._next, i + 1)

    def _next(self, i: int, piece: bytes) -> None:
        """Layer ``i - 1`` made ``piece``: count it, and decode it with layer ``i``."""
        made = self.made[i - 1] = self.made[i - 1] + len(piece)
        if made > _limit(self.cap):
            raise self._too_big()
        if i == len(self.layers) - 1:
            # The body's pieces: at most one byte past the cap when they are made.
            self.layers[i].run(piece, min(STEP, self.cap - self.size + 1), self._body)
        else:
            self.layers[i].run(piece, STEP, self._sink(i))

    def _body(self, piece: bytes) -> None:
        self.parts.append(piece)
        self.size += len(piece)
        if self.size > self.cap:
            raise self._too_big()

    def _too_big(self) -> ProtocolError:
        # The adapters' wording for a body over the cap on the wire, naming the coding instead.
        return ProtocolError(
            f"{self.label} sent a response body over max_response_bytes={self.cap} (once decoded from "
            f"Content-Encoding {self.coding!r}); pass a larger max_response_bytes= to the session if "
            "such replies are expected")

    def _undecodable(self, exc: zlib.error) -> ProtocolError:
        return ProtocolError(
            f"{self.label} sent a body that does not decode as its Content-Encoding {self.coding!r}: {exc}")


def _limit(cap: int) -> int:
    # An intermediate layer is the compressed form of the next one: at most the next layer's
    # size plus deflate's framing (a stored block adds 5 bytes per 64 KiB; gzip's header and
    # trailer 18), so a little over the cap is the most a real body needs.
    return cap + cap // 1024 + 1024


def decode_body(body: bytes, codings: list[str], cap: int, label: str) -> bytes:
    """Undo a whole reply's ``Content-Encoding`` header values ``codings``, last applied first
    (:class:`BodyDecoder` on the body in one piece)."""
    decoder = BodyDecoder(codings, cap, label)
    if not body or decoder.identity:
        return body  # HEAD, 204, 304, an empty body, or nothing to decode
    decoder.feed(body)
    return decoder.finish()
