"""Reading an upload's sources: everything about turning a user's video source or photo file into bytes lives here.

The core plans a streamed body (:mod:`._body`: preamble, byte ranges of the user's source,
epilogue); an adapter sends it. Between the two sits one blocking job both adapters share:
measuring a source (:func:`source_size`) and reading its planned ranges (:class:`SourceReader`),
with the same rules and the same :class:`~okru_proto.UsageError` text on every adapter. The core
never calls these itself (it stays free of I/O); an adapter calls them, from a worker thread when
it is async, so the event loop never waits on a disk.

A source is bytes-like (measured by its length), a path (opened once per request, so a resumed
chunk re-reads it) or a binary file object at position 0 (seeked to each range).
"""

from __future__ import annotations

import os
from typing import IO, Any

import anyio.to_thread

from okru_proto.adapter import SourceRange
from okru_proto.errors import UsageError

__all__ = ["SourceReader", "describe_source", "source_size", "source_size_async"]


def describe_source(source: object) -> str:
    """A source as error messages name it: a path's text, a file object's ``name``, or its type."""
    if isinstance(source, (str, os.PathLike)):
        return repr(os.fspath(source))
    name = getattr(source, "name", None)
    return repr(name) if isinstance(name, str) else f"the {type(source).__name__} source"


def _unreadable(source: object, exc: OSError | ValueError) -> UsageError:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return UsageError(f"cannot read upload source {describe_source(source)}: {reason}")


def source_size(source: Any) -> int:
    """Bytes in ``source``: a bytes-like value's length, a stat of a path (a regular file), or a
    seek to a file object's end (it must be at position 0: okru reads it from the start).
    Blocking: an async adapter runs it in a worker thread."""
    if isinstance(source, (bytes, bytearray)):
        return len(source)
    if isinstance(source, memoryview):
        return source.nbytes
    try:
        if isinstance(source, (str, os.PathLike)):
            size = os.stat(source).st_size  # first: a missing file says so, not "not a regular file"
            if not os.path.isfile(source):
                raise UsageError(f"upload source {describe_source(source)} is not a regular file")
            return size
        position = source.tell()
        end = source.seek(0, os.SEEK_END)
        source.seek(position)
        if position:
            raise UsageError("a file object to upload must be at position 0 (okru reads it from the start)")
        return int(end)
    except UsageError:
        raise  # already says what to fix (UsageError is a ValueError: not wrapped twice)
    except (OSError, ValueError) as exc:
        raise _unreadable(source, exc) from exc


class SourceReader:
    """Reads the planned ranges of one request's sources; :meth:`close` closes the files it opened.

    A path is opened once per request (so a re-sent chunk reads the file again, from the range's
    offset); a file object is seeked to each range. A range that comes back short means the
    source changed during the upload: a :class:`~okru_proto.UsageError`, never a short body.
    """

    def __init__(self) -> None:
        self._open: dict[int, IO[bytes]] = {}

    def read(self, part: SourceRange) -> bytes:
        source: Any = part.source
        try:
            if isinstance(source, (str, os.PathLike)):
                handle = self._open.get(id(source))
                if handle is None:
                    handle = self._open[id(source)] = open(source, "rb")  # noqa: SIM115 - closed in close()
            else:
                handle = source
            handle.seek(part.offset)
            data = handle.read(part.length)
        except (OSError, ValueError) as exc:
            raise _unreadable(source, exc) from exc
        if not isinstance(data, bytes) or len(data) != part.length:
            raise UsageError(f"upload source {describe_source(source)} ended early (it changed during the upload)")
        return data

    def close(self) -> None:
        handles, self._open = list(self._open.values()), {}
        for handle in handles:
            handle.close()


async def source_size_async(source: Any) -> int:
    """:func:`source_size` for async adapters: bytes are measured in place, a path or a file
    object in a worker thread (anyio's, on asyncio or trio), so the event loop never waits on a disk."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return source_size(source)
    return await anyio.to_thread.run_sync(source_size, source)
