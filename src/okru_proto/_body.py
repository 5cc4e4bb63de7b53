"""The streamed request body: a pure description of bytes that an adapter sends in bounded blocks.

A :class:`StreamedBody` is a tuple of parts: literal ``bytes`` (a multipart preamble, an
epilogue) and :class:`SourceRange` values (``length`` bytes of a source from ``offset``). The
source is what the user gave: in-memory bytes, a file path or a binary file object. The core
never opens, seeks or reads a source; it only says which bytes go where. Adapters read file
sources themselves, one bounded block at a time (:func:`plan_blocks` gives them the plan), so a
4 GB video never sits in memory. ``Request.body`` is either ``bytes`` (every REST call: the
fast path, unchanged) or a :class:`StreamedBody`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Union

from ._errors import UsageError

__all__ = ["DEFAULT_BLOCK_SIZE", "BodySource", "SourceRange", "StreamedBody", "plan_blocks"]

#: The largest block an adapter reads from a source and writes to the socket at once (1 MiB:
#: large enough that per-block overhead is noise, small enough to bound memory).
DEFAULT_BLOCK_SIZE = 1 << 20

#: What a :class:`SourceRange` reads from: bytes-like data, a file path, or a binary file object
#: open for reading (seekable: a range may be read again after a dropped connection).
BodySource = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]", IO[bytes]]


def _is_memory(source: object) -> bool:
    return isinstance(source, (bytes, bytearray, memoryview))


@dataclass(frozen=True, slots=True)
class SourceRange:
    """``length`` bytes of ``source`` starting at ``offset`` (read by the adapter, never the core)."""

    source: BodySource
    offset: int
    length: int

    def __post_init__(self) -> None:
        if type(self.offset) is not int or type(self.length) is not int or self.offset < 0 or self.length < 0:
            raise UsageError(f"a source range needs int offset and length >= 0, got {self.offset!r}, {self.length!r}")
        if _is_memory(self.source) and self.offset + self.length > len(self.source):  # type: ignore[arg-type]
            raise UsageError(f"range {self.offset}+{self.length} is past the end of {len(self.source)} bytes"  # type: ignore[arg-type]
                             )

    def __repr__(self) -> str:
        kind = "bytes" if _is_memory(self.source) else (
            "path" if isinstance(self.source, (str, os.PathLike)) else type(self.source).__name__)
        return f"SourceRange(<{kind}>, offset={self.offset}, length={self.length})"


Part = bytes | SourceRange


@dataclass(frozen=True, slots=True)
class StreamedBody:
    """A request body made of parts, sent in order; ``len(body)`` is its exact size (the
    adapter sends it as ``Content-Length``, never chunked transfer encoding)."""

    parts: tuple[Part, ...]
    size: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        total = 0
        for part in self.parts:
            if type(part) is bytes:
                total += len(part)
            elif isinstance(part, SourceRange):
                total += part.length
            else:
                raise UsageError(f"a streamed body part is bytes or a SourceRange, not {type(part).__name__}")
        object.__setattr__(self, "size", total)

    def __len__(self) -> int:
        return self.size

    def __bool__(self) -> bool:
        return self.size > 0

    @property
    def in_memory(self) -> bool:
        """True when every source is bytes in memory (then :meth:`to_bytes` needs no I/O)."""
        return all(type(p) is bytes or _is_memory(p.source) for p in self.parts)  # type: ignore[union-attr]

    def to_bytes(self) -> bytes:
        """The whole body, for in-memory sources only (the emulator, tests). A file source is
        refused: reading it is an adapter's job."""
        out = bytearray()
        for part in self.parts:
            if type(part) is bytes:
                out += part
                continue
            assert isinstance(part, SourceRange)
            if not _is_memory(part.source):
                raise UsageError("this streamed body reads a file; only an adapter can send it")
            out += memoryview(part.source)[part.offset:part.offset + part.length]  # type: ignore[arg-type]
        return bytes(out)

    def __repr__(self) -> str:
        return f"StreamedBody(<{self.size} bytes in {len(self.parts)} parts>)"


def plan_blocks(body: StreamedBody, block_size: int = DEFAULT_BLOCK_SIZE) -> Iterator[bytes | SourceRange]:
    """What an adapter sends, in order, each at most ``block_size`` bytes: literal bytes (send
    them; in-memory sources come out as bytes too) or a :class:`SourceRange` of a file source
    (read exactly that, then send it). Pure: no source is touched."""
    if block_size < 1:
        raise UsageError("block_size must be >= 1")
    for part in body.parts:
        if type(part) is bytes:
            for start in range(0, len(part), block_size):
                yield part[start:start + block_size] if len(part) > block_size else part
            continue
        assert isinstance(part, SourceRange)
        memory = memoryview(part.source) if _is_memory(part.source) else None  # type: ignore[arg-type]
        end = part.offset + part.length
        for start in range(part.offset, end, block_size):
            stop = min(start + block_size, end)
            if memory is not None:
                yield bytes(memory[start:stop])
            else:
                yield SourceRange(part.source, start, stop - start)
