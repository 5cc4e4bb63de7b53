"""Reading an upload's sources: everything about turning a user's video source or photo file into bytes lives here.

The core plans a streamed body (:class:`~okru_proto.adapter.StreamedBody`: preamble, byte ranges of the user's source,
epilogue); an adapter sends it. Between the two sits one blocking job both adapters share:
measuring a source (:func:`source_size`; :func:`measure_source` for a video upload, which the
core's flow runs as a ``Measure`` effect before every chunk) and reading its planned ranges
(:class:`SourceReader`), with the same rules and the same :class:`~okru_proto.UsageError` text on
every adapter. The core never calls these itself (it stays free of I/O); an adapter calls them,
from a worker thread when it is async, so the event loop never waits on a disk.

A source is bytes-like (measured by its length), a path (opened once per request, so a resumed
chunk re-reads it) or a binary file object at position 0 (seeked to each range).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import replace
from typing import IO, Any

import anyio.to_thread

from okru_proto.adapter import SourceFingerprint, SourceQuery, SourceRange
from okru_proto.errors import UsageError

__all__ = ["SourceReader", "describe_source", "measure_source", "measure_source_async", "source_size",
           "source_size_async"]


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
    return _fingerprint(source, first=True).size


def _fingerprint(source: Any, *, first: bool) -> SourceFingerprint:
    """What can be known about ``source`` now without reading it (see SourceFingerprint)."""
    if isinstance(source, (bytes, bytearray)):
        return SourceFingerprint(len(source), name="the bytes")
    if isinstance(source, memoryview):
        return SourceFingerprint(source.nbytes, name="the bytes")
    name = describe_source(source)
    try:
        if isinstance(source, (str, os.PathLike)):
            found = os.stat(source)  # first: a missing file says so, not "not a regular file"
            if not stat.S_ISREG(found.st_mode):
                raise UsageError(f"upload source {name} is not a regular file")
            return _of_stat(found, found.st_size, name)
        position = source.tell()
        end = int(source.seek(0, os.SEEK_END))
        source.seek(position)
        if first and position:
            raise UsageError("a file object to upload must be at position 0 (okru reads it from the start)")
        try:
            found = os.fstat(source.fileno())
        except (OSError, ValueError, AttributeError):
            return SourceFingerprint(end, name=name)  # in memory (BytesIO...): its size is what can be known
        return _of_stat(found, end, name) if stat.S_ISREG(found.st_mode) else SourceFingerprint(end, name=name)
    except UsageError:
        raise  # already says what to fix (UsageError is a ValueError: not wrapped twice)
    except (OSError, ValueError) as exc:
        raise _unreadable(source, exc) from exc


def _of_stat(found: os.stat_result, size: int, name: str) -> SourceFingerprint:
    return SourceFingerprint(size, found.st_mtime_ns, found.st_ctime_ns, found.st_ino, found.st_dev, name=name)


def measure_source(query: SourceQuery) -> SourceFingerprint:
    """The source's :class:`~okru_proto.adapter.SourceFingerprint` now, with the SHA-256 of the
    ranges ``query.sample`` names (read in order, one range at a time: at most 64 KiB held).
    Measured after the sample is read, so a change while reading it shows. Blocking: an async
    adapter runs :func:`measure_source_async`."""
    digest = ""
    if query.sample:
        hasher = hashlib.sha256()
        reader = SourceReader()
        try:
            for part in query.sample:
                hasher.update(reader.read(part))
        finally:
            reader.close()
        digest = hasher.hexdigest()
    fingerprint = _fingerprint(query.source, first=query.first)
    return replace(fingerprint, sample=digest) if digest else fingerprint


async def measure_source_async(query: SourceQuery) -> SourceFingerprint:
    """:func:`measure_source` from an event loop: bytes in place, a path or a file object in a
    worker thread (anyio's, on asyncio or trio)."""
    if isinstance(query.source, (bytes, bytearray, memoryview)):
        return measure_source(query)
    return await anyio.to_thread.run_sync(measure_source, query)


class SourceReader:
    """Reads the planned ranges of one request's sources; :meth:`close` closes the files it opened.

    A path is opened once per request (so a re-sent chunk reads the file again, from the range's
    offset); a file object is seeked to each range; bytes-like data is sliced. A range that comes back short means the
    source changed during the upload: a :class:`~okru_proto.UsageError`, never a short body.
    """

    def __init__(self) -> None:
        self._open: dict[int, IO[bytes]] = {}

    def read(self, part: SourceRange) -> bytes:
        source: Any = part.source
        try:
            if isinstance(source, (bytes, bytearray, memoryview)):
                data = bytes(memoryview(source)[part.offset:part.offset + part.length])
            else:
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
