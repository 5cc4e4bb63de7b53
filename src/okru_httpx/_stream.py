"""Streaming a :class:`~okru_proto.adapter.StreamedBody` through httpx: the adapter's file I/O.

The core describes a file upload's body (preamble, a byte range of the user's source,
epilogue); here it becomes httpx request content, read in blocks of at most
:data:`~okru_proto.adapter.DEFAULT_BLOCK_SIZE` (the blocking client gets an iterator, the async one an
async iterator whose file reads run in a worker thread). A path is opened per request, a file
object is seeked to the range (so a chunk can be re-sent). A source that became shorter than
the planned range is a :class:`~okru_proto.UsageError` naming the path, never a short body.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import IO, Any

import anyio
import anyio.to_thread

from okru_proto import UsageError
from okru_proto.adapter import DEFAULT_BLOCK_SIZE, SourceRange, StreamedBody, plan_blocks

__all__ = ["aiter_body", "iter_body", "source_size", "source_size_async"]


def _describe(source: object) -> str:
    if isinstance(source, (str, os.PathLike)):
        return repr(os.fspath(source))
    name = getattr(source, "name", None)
    return repr(name) if isinstance(name, str) else f"the {type(source).__name__} source"


def source_size(source: Any) -> int:
    """Bytes in ``source`` (bytes-like: its length; path: a stat; file object: from its current
    position to its end, read by seeking)."""
    if isinstance(source, (bytes, bytearray)):
        return len(source)
    if isinstance(source, memoryview):
        return source.nbytes
    try:
        if isinstance(source, (str, os.PathLike)):
            size = os.stat(source).st_size
            if not os.path.isfile(source):
                raise UsageError(f"video source {_describe(source)} is not a regular file")
            return size
        position = source.tell()
        end = source.seek(0, os.SEEK_END)
        source.seek(position)
        if position:
            raise UsageError("a video file object must be at position 0 (okru reads it from the start)")
        return int(end)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"cannot read video source {_describe(source)}: {reason}") from exc


async def source_size_async(source: Any) -> int:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return source_size(source)
    return await anyio.to_thread.run_sync(source_size, source)


class _Reader:
    """Reads ranges of one body's file sources, each opened once per request."""

    def __init__(self) -> None:
        self._open: dict[int, IO[bytes]] = {}
        self._owned: list[IO[bytes]] = []

    def read(self, part: SourceRange) -> bytes:
        source: Any = part.source
        try:
            if isinstance(source, (str, os.PathLike)):
                handle = self._open.get(id(source))
                if handle is None:
                    handle = self._open[id(source)] = open(source, "rb")  # noqa: SIM115 - closed in close()
                    self._owned.append(handle)
            else:
                handle = source
            handle.seek(part.offset)
            data = handle.read(part.length)
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise UsageError(f"cannot read video source {_describe(source)}: {reason}") from exc
        if not isinstance(data, bytes) or len(data) != part.length:
            raise UsageError(f"video source {_describe(source)} ended early (it changed during the upload)")
        return data

    def close(self) -> None:
        for handle in self._owned:
            handle.close()
        self._owned.clear()
        self._open.clear()


def iter_body(body: StreamedBody, block_size: int = DEFAULT_BLOCK_SIZE) -> Iterator[bytes]:
    """The body as blocks of at most ``block_size`` bytes (blocking reads)."""
    reader = _Reader()
    try:
        for item in plan_blocks(body, block_size):
            yield item if type(item) is bytes else reader.read(item)  # type: ignore[arg-type]
    finally:
        reader.close()


async def aiter_body(body: StreamedBody, block_size: int = DEFAULT_BLOCK_SIZE) -> AsyncIterator[bytes]:
    """The body as blocks of at most ``block_size`` bytes; file reads run in a worker thread."""
    reader = _Reader()
    try:
        for item in plan_blocks(body, block_size):
            if type(item) is bytes:
                yield item
            else:
                yield await anyio.to_thread.run_sync(reader.read, item)  # type: ignore[arg-type]
    finally:
        reader.close()


def stream_headers(headers: tuple[tuple[str, str], ...], body: StreamedBody) -> tuple[tuple[str, str], ...]:
    """``headers`` plus the exact ``Content-Length`` (httpx would otherwise send chunked)."""
    return (*headers, ("content-length", str(len(body))))
