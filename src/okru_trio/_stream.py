"""Streaming a :class:`~okru_proto.adapter.StreamedBody` over h11: okru_trio's file I/O for uploads.

The core describes a file upload's body (preamble, a byte range of the user's source,
epilogue); :func:`send_streamed` writes it as h11 ``Data`` events of at most
:data:`~okru_proto.adapter.DEFAULT_BLOCK_SIZE` bytes, reading each block from the source in a worker
thread just before it is sent, so memory holds one block, never the file. Measuring and reading
the sources is :class:`okru_io.SourceReader` and :func:`okru_io.source_size`, shared with
okru_httpx.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import h11
import trio

from okru_io import SourceReader
from okru_proto.adapter import DEFAULT_BLOCK_SIZE, SourceRange, StreamedBody, plan_blocks

__all__ = ["send_streamed"]


async def send_streamed(h: h11.Connection, head: bytes, body: StreamedBody,
                        send_all: Callable[[bytes], Awaitable[None]], on_block: Callable[[], None]) -> None:
    """Write the request head, then ``body`` block by block, then the end of the message.

    ``on_block`` runs before each write (the transport re-arms its per-wait deadline there: a
    slow upload is alive as long as each block goes out within the read timeout).
    """
    reader = SourceReader()
    try:
        on_block()
        await send_all(head)
        for item in plan_blocks(body, DEFAULT_BLOCK_SIZE):
            if isinstance(item, SourceRange):
                data = await trio.to_thread.run_sync(reader.read, item)
            else:
                data = item
            on_block()
            await send_all(h.send(h11.Data(data=data)) or b"")
        end = h.send(h11.EndOfMessage()) or b""
        on_block()
        await send_all(end)
    finally:
        reader.close()
