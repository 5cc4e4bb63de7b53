"""Streaming a :class:`~okru_proto.adapter.StreamedBody` over h11: okru_trio's file I/O for uploads.

The core describes a file upload's body (preamble, a byte range of the user's source,
epilogue); :func:`send_streamed` writes it as h11 ``Data`` events of at most
:data:`~okru_proto.adapter.DEFAULT_BLOCK_SIZE` bytes, reading each block from the source in a worker
thread just before it is sent, so memory holds one block, never the file. A source that became
shorter than the planned range is a :class:`~okru_proto.UsageError` naming it.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import IO, Any

import h11
import trio

from okru_proto import UsageError
from okru_proto.adapter import DEFAULT_BLOCK_SIZE, SourceRange, StreamedBody, plan_blocks

__all__ = ["send_streamed", "source_size", "source_size_async"]


def _describe(source: object) -> str:
    if isinstance(source, (str, os.PathLike)):
        return repr(os.fspath(source))
    name = getattr(source, "name", None)
    return repr(name) if isinstance(name, str) else f"the {type(source).__name__} source"


def _failure(source: object, exc: BaseException) -> UsageError:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return UsageError(f"cannot read video source {_describe(source)}: {reason}")


def source_size(source: Any) -> int:
    """Bytes in ``source``: its length, a stat of the path, or a seek to a file object's end."""
    if isinstance(source, (bytes, bytearray)):
        return len(source)
    if isinstance(source, memoryview):
        return source.nbytes
    try:
        if isinstance(source, (str, os.PathLike)):
            if not os.path.isfile(source):
                raise UsageError(f"video source {_describe(source)} is not a regular file")
            return os.stat(source).st_size
        if source.tell():
            raise UsageError("a video file object must be at position 0 (okru reads it from the start)")
        end = source.seek(0, os.SEEK_END)
        source.seek(0)
        return int(end)
    except (OSError, ValueError) as exc:
        raise _failure(source, exc) from exc


async def source_size_async(source: Any) -> int:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return source_size(source)
    return await trio.to_thread.run_sync(source_size, source)


def _read(handles: dict[int, IO[bytes]], part: SourceRange) -> bytes:
    source: Any = part.source
    try:
        if isinstance(source, (str, os.PathLike)):
            handle = handles.get(id(source))
            if handle is None:
                handle = handles[id(source)] = open(source, "rb")  # noqa: SIM115 - closed by send_streamed
        else:
            handle = source
        handle.seek(part.offset)
        data = handle.read(part.length)
    except (OSError, ValueError) as exc:
        raise _failure(source, exc) from exc
    if not isinstance(data, bytes) or len(data) != part.length:
        raise UsageError(f"video source {_describe(source)} ended early (it changed during the upload)")
    return data


async def send_streamed(h: h11.Connection, head: bytes, body: StreamedBody,
                        send_all: Callable[[bytes], Awaitable[None]], on_block: Callable[[], None]) -> None:
    """Write the request head, then ``body`` block by block, then the end of the message.

    ``on_block`` runs before each write (the transport re-arms its per-wait deadline there: a
    slow upload is alive as long as each block goes out within the read timeout).
    """
    handles: dict[int, IO[bytes]] = {}
    try:
        on_block()
        await send_all(head)
        for item in plan_blocks(body, DEFAULT_BLOCK_SIZE):
            if isinstance(item, SourceRange):
                data = await trio.to_thread.run_sync(_read, handles, item)
            else:
                data = item
            on_block()
            await send_all(h.send(h11.Data(data=data)) or b"")
        end = h.send(h11.EndOfMessage()) or b""
        on_block()
        await send_all(end)
    finally:
        for handle in handles.values():
            handle.close()
