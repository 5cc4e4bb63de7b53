"""Streaming a :class:`~okru_proto.adapter.StreamedBody` through httpx: the adapter's file I/O.

The core describes a file upload's body (preamble, a byte range of the user's source,
epilogue); here it becomes httpx request content, read in blocks of at most
:data:`~okru_proto.adapter.DEFAULT_BLOCK_SIZE` (the blocking client gets an iterator, the async one an
async iterator whose file reads run in a worker thread). Measuring and reading the sources is
the core's :class:`okru_io.SourceReader` and
:func:`okru_io.source_size`, shared with okru_trio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anyio
import anyio.to_thread

from okru_io import SourceReader
from okru_proto.adapter import DEFAULT_BLOCK_SIZE, StreamedBody, plan_blocks

__all__ = ["aiter_body", "iter_body"]


def iter_body(body: StreamedBody, block_size: int = DEFAULT_BLOCK_SIZE) -> Iterator[bytes]:
    """The body as blocks of at most ``block_size`` bytes (blocking reads)."""
    reader = SourceReader()
    try:
        for item in plan_blocks(body, block_size):
            yield item if type(item) is bytes else reader.read(item)  # type: ignore[arg-type]
    finally:
        reader.close()


async def aiter_body(body: StreamedBody, block_size: int = DEFAULT_BLOCK_SIZE) -> AsyncIterator[bytes]:
    """The body as blocks of at most ``block_size`` bytes; file reads run in a worker thread."""
    reader = SourceReader()
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
