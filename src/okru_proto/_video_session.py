"""``upload_video`` on every session, sync and async: the facade's half of video upload.

The session bases (``_facade.py``) mix these in. They coerce the source, ask the adapter for its
size (``_source_size``: a stat or a seek, the adapter's I/O) and drive
:func:`~okru_proto.adapter.upload_video_flow`; the adapter's ``_send`` streams each
:class:`~okru_proto.adapter.StreamedBody` from the source. Nothing here reads a file.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._errors import UsageError
from ._flow import Flow, T, is_async_callable
from ._video import ResumeState, UploadedVideo, VideoSource, upload_video_flow

__all__ = ["AsyncVideoMixin", "SyncVideoMixin", "coerce_video_source", "video_file_name"]

#: ``progress(sent, total)``; on async sessions it may be async (its awaitable is awaited).
Progress = Callable[[int, int], object]


def coerce_video_source(source: object) -> VideoSource:
    """The source as the flow takes it: bytes-like, a path, or a readable binary file object."""
    if isinstance(source, (bytes, bytearray, memoryview, str, os.PathLike)):
        return source
    if callable(getattr(source, "read", None)) and callable(getattr(source, "seek", None)):
        return source  # type: ignore[return-value]
    raise UsageError(f"a video source is a file path, bytes or a seekable binary file object, not "
                     f"{type(source).__name__}")


def video_file_name(source: VideoSource, file_name: str | None) -> str:
    """``file_name`` for ``video.getUploadUrl``: the given one, the path's or file object's base
    name, else ``video``."""
    if file_name:
        return file_name
    name: object = source if isinstance(source, (str, os.PathLike)) else getattr(source, "name", None)
    if isinstance(name, (str, os.PathLike)):
        base = os.path.basename(os.fspath(name))
        if base:
            return base
    return "video"


def _flow(self: Any, source: VideoSource, size: int, kw: dict[str, Any]) -> Flow[UploadedVideo]:
    file_name = video_file_name(source, kw.pop("file_name"))
    return upload_video_flow(self._core, source, size=size, file_name=file_name,
                             boundary=secrets.token_hex(16), **kw)


class SyncVideoMixin:
    """``upload_video`` for the blocking sessions (the adapter gives ``_source_size``)."""

    def _source_size(self, source: VideoSource) -> int:  # pragma: no cover - adapters
        raise NotImplementedError

    def _run(self, flow: Flow[T]) -> T:  # pragma: no cover - SyncSessionBase
        raise NotImplementedError

    def upload_video(self, source: VideoSource, *, title: str | None = None, description: str | None = None,
                     tags: str | Iterable[str] | None = None, privacy: str | None = None,
                     gid: str | int | None = None, progress: Progress | None = None,
                     resumable: bool | None = None, resume: ResumeState | None = None,
                     chunk_size: int | None = None, retry: Any = None, file_name: str | None = None,
                     params: Mapping[str, object] | None = None,
                     checkpoint: Callable[[ResumeState], object] | None = None) -> UploadedVideo:
        """Upload a video (a path, bytes or a seekable binary file), streamed in bounded blocks;
        resumable above 16 MiB. ``progress(sent, total)`` follows it. See docs/video.md."""
        if progress is not None and is_async_callable(progress):
            raise UsageError("progress is an async function; a blocking session cannot await it "
                             "(pass a plain function, or use an async adapter)")
        source = coerce_video_source(source)
        size = self._source_size(source)
        return self._run(_flow(self, source, size, dict(
            title=title, description=description, tags=tags, privacy=privacy, gid=gid, progress=progress,
            resumable=resumable, resume=resume, chunk_size=chunk_size, retry=retry, file_name=file_name,
            params=params, checkpoint=checkpoint)))


class AsyncVideoMixin:
    """``upload_video`` for the async sessions; an async ``progress`` is awaited."""

    async def _source_size(self, source: VideoSource) -> int:  # pragma: no cover - adapters
        raise NotImplementedError

    async def _run(self, flow: Flow[T]) -> T:  # pragma: no cover - AsyncSessionBase
        raise NotImplementedError

    async def upload_video(self, source: VideoSource, *, title: str | None = None,
                           description: str | None = None, tags: str | Iterable[str] | None = None,
                           privacy: str | None = None, gid: str | int | None = None,
                           progress: Progress | None = None,
                           resumable: bool | None = None, resume: ResumeState | None = None,
                           chunk_size: int | None = None, retry: Any = None, file_name: str | None = None,
                           params: Mapping[str, object] | None = None,
                           checkpoint: Callable[[ResumeState], object] | None = None) -> UploadedVideo:
        """Upload a video (a path, bytes or a seekable binary file), streamed in bounded blocks;
        resumable above 16 MiB. ``progress(sent, total)`` (awaited if async). See docs/video.md."""
        source = coerce_video_source(source)
        size = await self._source_size(source)
        return await self._run(_flow(self, source, size, dict(
            title=title, description=description, tags=tags, privacy=privacy, gid=gid, progress=progress,
            resumable=resumable, resume=resume, chunk_size=chunk_size, retry=retry, file_name=file_name,
            params=params, checkpoint=checkpoint)))
