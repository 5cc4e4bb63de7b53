"""What every adapter's sessions do with the core's flows, written once: sync and async.

An adapter's session base mixes in :class:`SyncSessionBase` or :class:`AsyncSessionBase` and
provides five things: ``_send`` (its transport: ``Request -> Response``), ``_sleep`` (for retry
backoff), ``_lock`` (one refresh for all concurrent callers), ``_source_size`` (measures a photo
file) and ``_measure_source`` (okru_io's video source measure, which the video flow runs before
every chunk); sources are streamed, never read whole.
The methods here only drive core flows with them; nothing here does I/O itself, and the async
methods only await what the adapter gave, so they run under asyncio, trio or any other loop.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any

from .._errors import UsageError
from .._flow import Flow, T, is_async_callable, run_async, run_sync
from .._paging import DEFAULT_MAX_PAGES, Page, Pager
from .._photos import Photo, PhotoFile, PhotoSource, UploadedPhoto, upload_photos_flow
from .._values import Request, Response, Token
from .._video import (
    ResumeState,
    SourceFingerprint,
    SourceQuery,
    UploadedVideo,
    VideoSource,
    coerce_video_source,
    upload_video_flow,
    video_file_name,
)
from ._spec import SessionSpec

__all__ = [
    "AsyncSessionBase",
    "SyncSessionBase",
]


#: ``progress(sent, total)``; on async sessions it may be async (its awaitable is awaited).
Progress = Callable[[int, int], object]


def _video_flow(self: Any, source: VideoSource, kw: dict[str, Any]) -> Flow[UploadedVideo]:
    file_name = video_file_name(source, kw.pop("file_name"))
    return upload_video_flow(self._core, source, measure=self._measure_source, file_name=file_name,
                             boundary=secrets.token_hex(16), **kw)


def _is_path(item: PhotoSource) -> bool:
    return isinstance(item, (str, os.PathLike))


class SyncSessionBase(SessionSpec):
    """The blocking half: ``call``, ``authorize``, ``refresh``, ``upload_photos``, ``pages``,
    ``items``. The adapter sets ``_send``, ``_sleep``, ``_lock`` (a ``threading.Lock``),
    ``_source_size`` and ``_measure_source``."""

    _send: Callable[[Request], Response]
    _sleep: Callable[[float], object]
    _lock: AbstractContextManager[Any]
    _source_size: Callable[[Any], int]
    _measure_source: Callable[[SourceQuery], SourceFingerprint]
    # An async on_token is refused when the session is made (and an awaitable it returns, when
    # it runs): the blocking driver has no loop to await it on.
    _blocking = True

    def _run(self, flow: Flow[T]) -> T:
        return run_sync(flow, self._send, self._sleep, self._lock)

    def call(self, method: str, params: Mapping[str, object] | None = None) -> Any:
        """One REST call (what :class:`~okru_proto.adapter.API` runs): OK's JSON result, or a typed error."""
        return run_sync(self._core.call_flow(method, params), self._send, self._sleep, self._lock)

    def authorize(self) -> Token | None:
        """Run the session's grant (``with`` does it on enter); the new token, if any."""
        return self._run(self._core.authorize_flow())

    def refresh(self) -> Token:
        """Refresh the token now (it also happens by itself on error 102)."""
        return self._run(self._core.refresh_flow())

    def upload_photos(self, *files: PhotoSource, aid: str | int | None = None, gid: str | int | None = None,
                      commit: bool | None = None,
                      params: Mapping[str, object] | None = None) -> tuple[UploadedPhoto, ...]:
        """Upload photos (bytes, :class:`~okru_proto.Photo` or file paths) to the user's album,
        album ``aid`` or group ``gid``; one :class:`~okru_proto.UploadedPhoto` per file."""
        # A path is measured (a stat: a missing or unreadable file fails here, before any request)
        # and streamed by the adapter while the POST is sent; it is never read whole.
        photos = [PhotoFile(f, self._source_size(f)) if _is_path(f) else Photo.coerce(f)  # type: ignore[arg-type]
                  for f in files]
        return self._run(upload_photos_flow(self._core, photos, boundary=secrets.token_hex(16), aid=aid,
                                            gid=gid, commit=commit, params=params))

    def upload_video(self, source: VideoSource, *, title: str | None = None, description: str | None = None,
                     tags: str | Iterable[str] | None = None, privacy: str | None = None,
                     gid: str | int | None = None, progress: Progress | None = None,
                     resumable: bool | None = None, resume: ResumeState | None = None,
                     chunk_size: int | None = None, retry: Any = None, file_name: str | None = None,
                     params: Mapping[str, object] | None = None,
                     checkpoint: Callable[[ResumeState], object] | None = None,
                     publish: bool | None = None, cover_photo_id: str | None = None,
                     cover_photo_upload_token: str | None = None,
                     best_thumbnail_index: int | None = None) -> UploadedVideo:
        """Upload a video (a path, bytes or a seekable binary file), streamed in bounded blocks;
        resumable above 16 MiB. ``progress(sent, total)`` follows it. See docs/video.md."""
        if progress is not None and is_async_callable(progress):
            raise UsageError("progress is an async function; a blocking session cannot await it "
                             "(pass a plain function, or use an async adapter)")
        source = coerce_video_source(source)
        return self._run(_video_flow(self, source, dict(
            title=title, description=description, tags=tags, privacy=privacy, gid=gid, progress=progress,
            resumable=resumable, resume=resume, chunk_size=chunk_size, retry=retry, file_name=file_name,
            params=params, checkpoint=checkpoint, publish=publish, cover_photo_id=cover_photo_id,
            cover_photo_upload_token=cover_photo_upload_token, best_thumbnail_index=best_thumbnail_index)))

    def pages(self, method: str, params: Mapping[str, object] | None = None, *, count: int | None = None,
              direction: str | None = None, items: str | None = None,
              max_pages: int = DEFAULT_MAX_PAGES) -> Iterator[Page]:
        """``for page in session.pages("group.getMembers", {"uid": gid}, count=100)``: each
        :class:`~okru_proto.adapter.Page` of an anchor-paged method, fetched as you iterate."""
        return self._pages(Pager(method, params, count=count, direction=direction, items=items,
                                 max_pages=max_pages))

    def items(self, method: str, params: Mapping[str, object] | None = None, *, count: int | None = None,
              direction: str | None = None, items: str | None = None,
              max_pages: int = DEFAULT_MAX_PAGES) -> Iterator[Any]:
        """Like :meth:`pages`, one item at a time."""
        return self._items(Pager(method, params, count=count, direction=direction, items=items,
                                 max_pages=max_pages))

    def _pages(self, pager: Pager) -> Iterator[Page]:
        while not pager.done:
            yield self._run(pager.page_flow(self._core))

    def _items(self, pager: Pager) -> Iterator[Any]:
        for page in self._pages(pager):
            yield from page.items


class AsyncSessionBase(SessionSpec):
    """The async twin of :class:`SyncSessionBase` (same methods, awaited). The adapter sets
    ``_send`` and ``_sleep`` (async callables), ``_lock`` (an async lock of its loop),
    ``_source_size`` and ``_measure_source`` (async)."""

    _send: Callable[[Request], Awaitable[Response]]
    _sleep: Callable[[float], Awaitable[object]]
    _lock: AbstractAsyncContextManager[Any]
    _source_size: Callable[[Any], Awaitable[int]]
    _measure_source: Callable[[SourceQuery], Awaitable[SourceFingerprint]]

    async def _run(self, flow: Flow[T]) -> T:
        return await run_async(flow, self._send, self._sleep, self._lock)

    async def call(self, method: str, params: Mapping[str, object] | None = None) -> Any:
        """One REST call (what :class:`~okru_proto.adapter.API` runs): OK's JSON result, or a typed error."""
        return await run_async(self._core.call_flow(method, params), self._send, self._sleep, self._lock)

    async def authorize(self) -> Token | None:
        """Run the session's grant (``async with`` does it on enter); the new token, if any."""
        return await self._run(self._core.authorize_flow())

    async def refresh(self) -> Token:
        """Refresh the token now (it also happens by itself on error 102)."""
        return await self._run(self._core.refresh_flow())

    async def upload_photos(self, *files: PhotoSource, aid: str | int | None = None,
                            gid: str | int | None = None, commit: bool | None = None,
                            params: Mapping[str, object] | None = None) -> tuple[UploadedPhoto, ...]:
        """Upload photos (bytes, :class:`~okru_proto.Photo` or file paths) to the user's album,
        album ``aid`` or group ``gid``; one :class:`~okru_proto.UploadedPhoto` per file."""
        photos = [PhotoFile(f, await self._source_size(f)) if _is_path(f) else Photo.coerce(f)  # type: ignore[arg-type]
                  for f in files]
        return await self._run(upload_photos_flow(self._core, photos, boundary=secrets.token_hex(16), aid=aid,
                                                  gid=gid, commit=commit, params=params))

    async def upload_video(self, source: VideoSource, *, title: str | None = None,
                           description: str | None = None, tags: str | Iterable[str] | None = None,
                           privacy: str | None = None, gid: str | int | None = None,
                           progress: Progress | None = None,
                           resumable: bool | None = None, resume: ResumeState | None = None,
                           chunk_size: int | None = None, retry: Any = None, file_name: str | None = None,
                           params: Mapping[str, object] | None = None,
                           checkpoint: Callable[[ResumeState], object] | None = None,
                           publish: bool | None = None, cover_photo_id: str | None = None,
                           cover_photo_upload_token: str | None = None,
                           best_thumbnail_index: int | None = None) -> UploadedVideo:
        """Upload a video (a path, bytes or a seekable binary file), streamed in bounded blocks;
        resumable above 16 MiB. ``progress(sent, total)`` (awaited if async). See docs/video.md."""
        source = coerce_video_source(source)
        return await self._run(_video_flow(self, source, dict(
            title=title, description=description, tags=tags, privacy=privacy, gid=gid, progress=progress,
            resumable=resumable, resume=resume, chunk_size=chunk_size, retry=retry, file_name=file_name,
            params=params, checkpoint=checkpoint, publish=publish, cover_photo_id=cover_photo_id,
            cover_photo_upload_token=cover_photo_upload_token, best_thumbnail_index=best_thumbnail_index)))

    def pages(self, method: str, params: Mapping[str, object] | None = None, *, count: int | None = None,
              direction: str | None = None, items: str | None = None,
              max_pages: int = DEFAULT_MAX_PAGES) -> AsyncIterator[Page]:
        """``async for page in session.pages("group.getMembers", {"uid": gid}, count=100)``:
        each :class:`~okru_proto.adapter.Page` of an anchor-paged method, fetched as you iterate."""
        return self._pages(Pager(method, params, count=count, direction=direction, items=items,
                                 max_pages=max_pages))

    def items(self, method: str, params: Mapping[str, object] | None = None, *, count: int | None = None,
              direction: str | None = None, items: str | None = None,
              max_pages: int = DEFAULT_MAX_PAGES) -> AsyncIterator[Any]:
        """Like :meth:`pages`, one item at a time."""
        return self._items(Pager(method, params, count=count, direction=direction, items=items,
                                 max_pages=max_pages))

    async def _pages(self, pager: Pager) -> AsyncIterator[Page]:
        while not pager.done:
            yield await self._run(pager.page_flow(self._core))

    async def _items(self, pager: Pager) -> AsyncIterator[Any]:
        async for page in self._pages(pager):
            for item in page.items:
                yield item
