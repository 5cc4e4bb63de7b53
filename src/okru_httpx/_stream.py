"""Streaming a :class:`~okru_proto.adapter.StreamedBody` through httpx: the adapter's file I/O.

The core describes a file upload's body (preamble, a byte range of the user's source,
epilogue); here it becomes httpx request content, read in blocks of at most
:data:`~okru_proto.adapter.DEFAULT_BLOCK_SIZE` (the blocking client gets an iterator, the async one an
async iterator whose file reads run in a worker thread). Measuring and reading the sources is
the core's :class:`~okru_proto.adapter.SourceReader` and
:func:`~okru_proto.adapter.source_size`, shared with okru_trio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import anyio.to_thread

from okru_proto.adapter import DEFAULT_BLOCK_SIZE, SourceReader, StreamedBody, plan_blocks, source_size

__all__ = ["aiter_body", "iter_body", "source_size", "source_size_async"]


async def source_size_async(source: Any) -> int:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return source_size(source)
    return await anyio.to_thread.run_sync(source_size, source)


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
