"""Video upload as one flow: ``video.getUploadUrl`` -> the bytes -> ``video.update``.

docs/protocol.md §12 and docs/video.md. OK documents two ways to send the
bytes to ``upload_url``: one ``multipart/form-data`` POST (up to 2 GB, no resume) or a
*resumable* upload (any other content type, chunks carrying ``Content-Range``; a GET on the
upload URL reports the status, the total size and the last byte received; resume after 416 or
500). The request body is always a :class:`~okru_proto.adapter.StreamedBody` (preamble, a byte range of
the user's source, epilogue): the adapter reads the source in bounded blocks, the core never
touches it.

OK does not publish what the upload host answers to a chunk or to the status GET. Everything
okru reads from those replies goes through :func:`parse_upload_status`, the one place to correct
against the real server; what it accepts is listed there and in docs/video.md. What okru then
believes of it, and when a resumable upload stops (failed attempts in a row, bytes sent, claims
beyond what was sent), is decided in one place too: :class:`_Resumable`.

The source must stay the one the upload started with: the flow has the adapter measure it (a
:class:`~okru_proto.adapter.Measure` effect answered with a :class:`SourceFingerprint`) before
every chunk and at the end, and a :class:`ResumeState` carries a digest of a sample of the bytes
the host holds (:func:`sample_ranges`), which ``resume=`` checks. docs/protocol.md §12.2.
"""

from __future__ import annotations

import hmac
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from ._errors import APIError, Error, ProtocolError, TransportError, UsageError, api_error_from_payload
from ._flow import Callback, Flow, Measure, Sleep, guarded
from ._multipart import FormFile, form_data_body
from ._photos import UploadError, check_upload_url
from ._scrub import mask_upload_url, upload_url_secrets
from ._values import Request, Response, SourceRange, StreamedBody

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "MULTIPART_LIMIT",
    "RESUMABLE_THRESHOLD",
    "VIDEO_STEPS",
    "ResumeState",
    "SourceFingerprint",
    "SourceQuery",
    "UploadStatus",
    "UploadedVideo",
    "VideoSource",
    "VideoUploadError",
    "chunk_request",
    "content_range",
    "multipart_body",
    "parse_upload_status",
    "parse_video_upload_url",
    "sample_ranges",
    "upload_byte_budget",
    "upload_video_flow",
    "video_media",
]


if TYPE_CHECKING:
    from ._session import SessionCore


#: The steps of a video upload, as :attr:`VideoUploadError.step` names them.
VIDEO_STEPS = ("getUploadUrl", "upload", "status", "update")

#: Above this size ``resumable=None`` means resumable; at or below, one multipart POST.
RESUMABLE_THRESHOLD = 16 << 20

#: OK: "multipart ... Max. file size - 2 Gb" (docs/protocol.md §12).
MULTIPART_LIMIT = 2 << 30

#: What ``upload_video(source)`` takes: a path, bytes, or a binary file object (seekable).
VideoSource = bytes | bytearray | memoryview | str | os.PathLike[str] | IO[bytes]


@dataclass(frozen=True, slots=True)
class SourceQuery:
    """What a :class:`~okru_proto.adapter.Measure` effect asks the adapter: measure ``source``
    now, and digest the bytes of ``sample`` (ranges of it, in order). ``first``: the first
    measure of an upload (a file object must then be at position 0)."""

    source: VideoSource
    sample: tuple[SourceRange, ...] = ()
    first: bool = False


@dataclass(frozen=True, slots=True)
class SourceFingerprint:
    """What an adapter could tell about an upload's source when it measured it (okru_io does).

    ``size`` always. For a path, or a file object on an OS file: its modification and status-change
    times in ns (``st_mtime_ns``, ``st_ctime_ns``: a program can set the first back, not the
    second), ``inode`` and ``device`` (a file replaced by another has another inode). Bytes and
    in-memory file objects have a size only. ``sample``: the SHA-256 (hex) of the ranges the query
    named, "" when none; ``name``: how messages name the source. Two fingerprints are equal when
    everything but ``sample`` and ``name`` is.
    """

    size: int
    modified_ns: int | None = None
    changed_ns: int | None = None
    inode: int | None = None
    device: int | None = None
    sample: str = field(default="", compare=False)
    name: str = field(default="the source", compare=False)

    def change_from(self, before: SourceFingerprint) -> str | None:
        """What differs from ``before`` (the same source measured earlier), None if nothing."""
        if self.size != before.size:
            grew = "grew" if self.size > before.size else "shrank"
            return f"it {grew} from {before.size} to {self.size} bytes"
        if (self.inode, self.device) != (before.inode, before.device):
            return "another file now has its name"
        if self.modified_ns != before.modified_ns:
            return "it was written to: its modification time changed"
        if self.changed_ns != before.changed_ns:
            return "its status-change time changed: it was written to, or its metadata changed"
        return None


#: The sample of a resumable upload's confirmed bytes that :class:`ResumeState` records: the
#: first and last ``_SAMPLE_EDGE`` bytes and up to ``_SAMPLE_BLOCKS`` blocks of ``_SAMPLE_BLOCK``
#: between them (okru's choice, docs/protocol.md §12.2).
_SAMPLE_EDGE = 64 << 10
_SAMPLE_BLOCK = 4 << 10
_SAMPLE_BLOCKS = 64


def sample_ranges(source: VideoSource, confirmed: int) -> tuple[SourceRange, ...]:
    """The ranges of ``source``'s first ``confirmed`` bytes whose digest a :class:`ResumeState`
    records: all of them up to 384 KiB; beyond, the first and the last 64 KiB and 4 KiB blocks at
    the multiples of a power of two (at least 64 KiB) that leaves at most 64 of them. At most
    384 KiB are read, whatever the size, and the blocks stay where they were as ``confirmed``
    grows (the page cache holds them after the first checkpoint)."""
    if confirmed <= 2 * _SAMPLE_EDGE + _SAMPLE_BLOCKS * _SAMPLE_BLOCK:
        return (SourceRange(source, 0, confirmed),) if confirmed > 0 else ()
    spacing = _SAMPLE_EDGE
    while confirmed // spacing > _SAMPLE_BLOCKS:
        spacing *= 2
    tail = confirmed - _SAMPLE_EDGE
    ranges = [SourceRange(source, 0, _SAMPLE_EDGE)]
    ranges += [SourceRange(source, at, _SAMPLE_BLOCK)
               for at in range(spacing, tail - _SAMPLE_BLOCK + 1, spacing) if at >= _SAMPLE_EDGE]
    ranges.append(SourceRange(source, tail, _SAMPLE_EDGE))
    return tuple(ranges)

class VideoUploadError(UploadError):
    """One step of a video upload failed: ``step`` is one of :data:`VIDEO_STEPS`.

    ``offset`` is where the upload stood; ``resume_state`` (when the upload is resumable) lets
    ``upload_video(..., resume=state)`` continue it later. The message names the upload host
    only, never the upload URL.
    """

    def __init__(self, step: str, message: str, *, offset: int | None = None,
                 resume_state: ResumeState | None = None, response: Response | None = None) -> None:
        Error.__init__(self, f"video upload, {step}: {message}")
        self.step = step
        self.photos = ()
        self.response = response
        self.offset = offset
        self.resume_state = resume_state


@dataclass(frozen=True, slots=True)
class UploadedVideo:
    """A finished upload: ``video_id`` goes in a ``mediatopic.post`` movie block
    (:func:`video_media`); ``size`` bytes were sent; ``resumable`` says which way."""

    video_id: str
    size: int
    resumable: bool


def video_media(video_id: str | int | UploadedVideo | Iterable[str | int | UploadedVideo]) -> dict[str, Any]:
    """The ``mediatopic.post`` media block for videos: ``{"type": "movie", "list": [{"id": ...}]}``
    (the shape third-party posting tools use; docs/protocol.md §12)."""
    items = [video_id] if isinstance(video_id, (str, int, UploadedVideo)) else list(video_id)
    ids = [str(v.video_id if isinstance(v, UploadedVideo) else v) for v in items]
    if not ids or not all(ids):
        raise UsageError("video_media needs at least one video id")
    return {"type": "movie", "list": [{"id": i} for i in ids]}


def _check_url(url: object) -> str:
    return check_upload_url(url, "the video", VideoUploadError)


def parse_video_upload_url(result: object) -> tuple[str, str]:
    """``(video_id, upload_url)`` from a ``video.getUploadUrl`` result.

    ``video_id`` and ``upload_url`` are the names independent clients read (OK prints no
    schema); ``video_id`` may be a number or a string and becomes a str.
    """
    if not isinstance(result, Mapping):
        raise VideoUploadError("getUploadUrl", f"expected an object, got {type(result).__name__}")
    vid = result.get("video_id")
    if isinstance(vid, bool) or not isinstance(vid, (str, int)) or vid == "":
        raise VideoUploadError("getUploadUrl", "the reply has no video_id")
    return str(vid), _check_url(result.get("upload_url"))


def _api_error_in(response: Response) -> APIError | None:
    # Upload hosts answer OK's error objects as JSON (the photo host does; assumed here too).
    if not response.body.startswith(b"{") or b"error_code" not in response.body[:4096]:
        return None
    try:
        value = json.loads(response.body)
    except ValueError:
        return None
    if isinstance(value, dict) and "error_code" in value:
        return api_error_from_payload(value, "video upload")
    return None


def _call_progress(args: tuple[Callable[[int, int], object], int, int]) -> object:
    function, sent, total = args
    return function(sent, total)


def upload_video_flow(
    core: SessionCore,
    source: VideoSource,
    *,
    measure: Callable[[SourceQuery], object],
    file_name: str,
    boundary: str,
    title: str | None = None,
    description: str | None = None,
    tags: str | Iterable[str] | None = None,
    privacy: str | None = None,
    gid: str | int | None = None,
    progress: Callable[[int, int], object] | None = None,
    resumable: bool | None = None,
    resume: ResumeState | None = None,
    chunk_size: int | None = None,
    retry: Any = None,
    params: Mapping[str, object] | None = None,
    checkpoint: Callable[[ResumeState], object] | None = None,
    publish: bool | None = None,
    cover_photo_id: str | None = None,
    cover_photo_upload_token: str | None = None,
    best_thumbnail_index: int | None = None,
) -> Flow[UploadedVideo]:
    """Upload ``source`` as a video. Returns an :class:`UploadedVideo`.

    ``measure(query)`` is the adapter's source measure (``okru_io.measure_source``, or its async
    twin): the flow runs it as a :class:`~okru_proto.adapter.Measure` effect first (the size),
    before every chunk and at the end (the source must not change: a :class:`SourceFingerprint`),
    and for every :class:`ResumeState` it hands out (a digest of a sample of what was sent). The
    adapter reads the source only when it sends a body or runs a measure; the flow decides.

    ``resumable``: ``None`` picks resumable above :data:`RESUMABLE_THRESHOLD` (always above
    :data:`MULTIPART_LIMIT`), ``False`` forces one multipart POST. ``retry`` (a
    :class:`~okru_proto.RetryPolicy`) bounds failed attempts in a row; default: the session's
    policy, else 5 attempts with backoff (a chunk is idempotent: it names its byte range).
    A resumable upload sends at most :func:`upload_byte_budget` bytes.
    Every error carries ``resume_state`` once the upload URL is known and the upload is
    resumable. Errors are scrubbed of the session's secrets and of the upload URL.
    ``checkpoint(state)`` gets the :class:`ResumeState` after each confirmed chunk (what a CLI
    saves when the user interrupts it).
    """
    url_secrets: list[str] = []
    if resume is not None:
        url_secrets += upload_url_secrets(resume.upload_url)

    def secrets() -> list[object]:
        return [*core.secret_values(), *url_secrets]

    extra = {"publish": publish, "cover_photo_id": cover_photo_id,
             "cover_photo_upload_token": cover_photo_upload_token, "best_thumbnail_index": best_thumbnail_index}
    return guarded(_flow(core, source, measure, file_name, boundary, title, description, tags, privacy, gid,
                         progress, resumable, resume, chunk_size, retry, params, url_secrets, checkpoint, extra),
                   secrets)


def _default_retry() -> Any:
    from ._flow import RetryPolicy

    return RetryPolicy(attempts=5, base=1.0, cap=30.0)


def upload_byte_budget(remaining: int, chunk_size: int, attempts: int) -> int:
    """The most a resumable upload sends when the server still needs ``remaining`` bytes: twice
    them, plus one chunk for the first try and for each of the ``attempts`` retries the policy
    allows (**okru's choice**, docs/protocol.md §12.2). A failed attempt wastes at most the chunk
    in flight, so an honest host, even a flaky one, stays below it; a host that forgets what it
    got or confirms a byte at a time reaches it, and the upload stops instead of sending forever."""
    return 2 * remaining + (attempts + 1) * min(chunk_size, remaining)


class _Source:
    """The source as the flow knows it: its fingerprint when first measured, and the measures."""

    def __init__(self, source: VideoSource, measure: Callable[[SourceQuery], object]) -> None:
        self.source = source
        self.measure = measure
        self.first: SourceFingerprint | None = None

    def measured(self, sample_to: int = 0, *, first: bool = False) -> Flow[SourceFingerprint]:
        """Measure now (and digest the sample of bytes ``[0, sample_to)``); a source that is no
        longer the one first measured is a UsageError: okru never sends a mixed or short file."""
        query = SourceQuery(self.source, sample_ranges(self.source, sample_to) if sample_to else (), first)
        got = yield Measure(self.measure, query)
        if not isinstance(got, SourceFingerprint):
            raise UsageError(f"the adapter's source measure returned {type(got).__name__}, not a SourceFingerprint")
        if self.first is None:
            self.first = got
        change = got.change_from(self.first)
        if change is not None:
            raise UsageError(f"upload source {got.name} changed during the upload ({change}); okru sends a "
                             "file only as it was when the upload started: upload it again once it is final")
        return got


def _flow(core: SessionCore, source: VideoSource, measure: Callable[[SourceQuery], object], file_name: str,
          boundary: str, title: str | None, description: str | None, tags: str | Iterable[str] | None,
          privacy: str | None, gid: str | int | None, progress: Callable[[int, int], object] | None,
          resumable: bool | None, resume: ResumeState | None, chunk_size: int | None, retry: Any,
          params: Mapping[str, object] | None, url_secrets: list[str],
          checkpoint: Callable[[ResumeState], object] | None,
          extra: Mapping[str, object] | None = None) -> Flow[UploadedVideo]:
    if chunk_size is None:
        chunk_size = resume.chunk_size if resume is not None else DEFAULT_CHUNK_SIZE
    if type(chunk_size) is not int or chunk_size < 1:
        raise UsageError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
    if privacy is not None and privacy not in ("PUBLIC", "FRIENDS"):
        raise UsageError(f"privacy is 'PUBLIC' or 'FRIENDS' (video.update's MoviePrivacy), got {privacy!r}")
    src = _Source(source, measure)
    size = (yield from src.measured(first=True)).size
    if size == 0:
        raise UsageError("the video is empty (0 bytes): OK accepts video files from 16 KB")
    if resumable is False and size > MULTIPART_LIMIT:
        raise UsageError(f"resumable=False sends one multipart request, which OK limits to 2 GB; "
                         f"this video is {size} bytes")
    policy = retry if retry is not None else (core.retry if core.retry is not None else _default_retry())
    update: dict[str, object] = {}
    if title is not None:
        update["title"] = title
    if description is not None:
        update["description"] = description
    if tags is not None:
        update["tags"] = tags if isinstance(tags, str) else ",".join(tags)
    if privacy is not None:
        update["privacy"] = privacy
    # video.update's other documented fields (docs/protocol.md §12): publish (Boolean), the cover
    # (cover_photo_id, with cover_photo_upload_token for a just-uploaded photo) and
    # best_thumbnail_index (Integer); sent only when given.
    for name, value in (extra or {}).items():
        if value is None:
            continue
        if name == "publish" and type(value) is not bool:
            raise UsageError(f"publish is True or False, got {value!r}")
        if name == "best_thumbnail_index" and (type(value) is not int or value < 0):
            raise UsageError(f"best_thumbnail_index is an int >= 0, got {value!r}")
        if name.startswith("cover_") and (not isinstance(value, str) or not value):
            raise UsageError(f"{name} is a non-empty str, got {value!r}")
        update[name] = value
    if "cover_photo_upload_token" in update and "cover_photo_id" not in update:
        raise UsageError("cover_photo_upload_token goes with cover_photo_id (the photo it uploaded)")

    if resume is not None:
        if resume.size != size:
            raise UsageError(f"the source has {size} bytes but the interrupted upload was of {resume.size}; "
                             "resume it with the same file")
        yield from _check_resumed_source(src, resume)
        video_id, upload_url, confirmed, mode_resumable = resume.video_id, resume.upload_url, resume.confirmed, True
        _check_url(upload_url)
    else:
        call: dict[str, object] = dict(params or {})
        call["file_name"] = file_name
        call["file_size"] = size
        if gid is not None:
            call["gid"] = gid
        reply = yield from core.call_flow("video.getUploadUrl", call, pass_error=False)
        video_id, upload_url = parse_video_upload_url(reply)
        url_secrets += upload_url_secrets(upload_url)
        confirmed = 0
        mode_resumable = resumable is True or size > MULTIPART_LIMIT or (resumable is None and size > RESUMABLE_THRESHOLD)
    host = mask_upload_url(upload_url)

    def state(at: int) -> Flow[ResumeState | None]:
        if not mode_resumable:
            return None
        sampled = yield from src.measured(at)
        return ResumeState(upload_url, video_id, size, at, chunk_size, file_name, sampled.sample)

    if mode_resumable:
        upload = _Resumable(upload_url, host, src, size, chunk_size, policy, progress, state, checkpoint)
        if resume is not None:
            # The earlier process may have had the chunk after `confirmed` in flight when it
            # stopped: the server may hold that much, no more.
            upload.sent_to = min(size, confirmed + resume.chunk_size)
        yield from upload.run(confirmed, ask_first=resume is not None)
    else:
        yield from _multipart(upload_url, host, src, size, file_name or "video", boundary, progress)
    # The bytes were read from the source as it was when measured first, or an error said so.
    yield from src.measured()
    # video.update always runs: besides the metadata, it finalises the upload (OK's docs).
    try:
        yield from core.call_flow("video.update", {"vid": video_id, **update}, pass_error=False)
    except Error as exc:
        exc.resume_state = yield from state(size)  # type: ignore[attr-defined]
        add_note = getattr(exc, "add_note", None)  # Python 3.11+
        if add_note is not None:
            add_note(f"video upload, step update: the bytes of video {video_id} are uploaded; "
                     "resume_state re-runs only video.update")
        raise
    return UploadedVideo(video_id, size, mode_resumable)


def _check_resumed_source(src: _Source, resume: ResumeState) -> Flow[None]:
    """``resume=`` continues only the file whose first ``confirmed`` bytes the server holds: the
    sample of them must have the digest the interrupted upload recorded."""
    if not resume.confirmed:
        return
    if not resume.sample:
        raise UsageError("this resume state records no sample of the bytes already sent, so okru cannot tell "
                         "whether the source is the same file; start the upload again")
    got = yield from src.measured(resume.confirmed)
    if not hmac.compare_digest(got.sample, resume.sample):
        raise UsageError(f"upload source {got.name} is not the file whose first {resume.confirmed} bytes were "
                         "uploaded (a sample of them differs); resume with the same, unchanged file")


def _progress(progress: Callable[[int, int], object] | None, sent: int, total: int) -> Flow[None]:
    if progress is not None:
        yield Callback(_call_progress, (progress, sent, total))


def _multipart(upload_url: str, host: str, src: _Source, size: int, file_name: str, boundary: str,
               progress: Callable[[int, int], object] | None) -> Flow[None]:
    content_type, body = multipart_body(src.source, size, file_name, boundary)
    yield from _progress(progress, 0, size)
    request = Request("POST", upload_url, (("content-type", content_type),), body)
    try:
        response = yield request
    except TransportError as exc:
        raise VideoUploadError("upload", f"the multipart upload to {host} failed ({exc}); a multipart "
                                         "upload cannot resume: upload again, or use resumable=True",
                               offset=0) from exc
    _check_final(response, host, 0)
    yield from src.measured()  # before reporting the bytes as sent
    yield from _progress(progress, size, size)


def _check_final(response: Response, host: str, offset: int) -> None:
    error = _api_error_in(response)
    if error is not None:
        raise error
    if not 200 <= response.status < 300:
        raise VideoUploadError("upload", f"{host} answered HTTP {response.status} at offset {offset}",
                               offset=offset, response=response)


class _Resumable:
    """One resumable upload's loop, bounded three ways (docs/video.md "Resumable uploads").

    * ``failures``: failed attempts in a row (a drop, 416, 5xx, a status that goes backwards,
      stalls, or claims bytes okru never sent); only bytes the server never confirmed before
      (``best`` grows) reset it. More than ``policy.attempts`` ends the upload.
    * ``sent``: bytes of chunk bodies sent, at most :func:`upload_byte_budget` of what the
      server still needed when this call began.
    * ``sent_to``: the end of the furthest chunk okru sent; the server cannot hold more, so a
      claim beyond it is a failure, never a success.
    """

    def __init__(self, upload_url: str, host: str, src: _Source, size: int, chunk_size: int, policy: Any,
                 progress: Callable[[int, int], object] | None, state: Callable[[int], Flow[ResumeState | None]],
                 checkpoint: Callable[[ResumeState], object] | None) -> None:
        self.upload_url, self.host, self.src, self.size, self.chunk_size = upload_url, host, src, size, chunk_size
        self.policy, self.progress, self.state, self.checkpoint = policy, progress, state, checkpoint
        self.offset = self.best = self.sent_to = self.sent = self.failures = 0
        self.budget = 0
        self.last: Response | None = None

    def run(self, confirmed: int, *, ask_first: bool) -> Flow[None]:
        self.offset = self.best = confirmed
        self.sent_to = max(self.sent_to, confirmed)
        if ask_first:
            # Resuming in a new process: the server may hold more (or less) than we last saw.
            known = yield from self._ask_status()
            if known is not None:
                yield from self._judge(known, None, reply=False)
        self.budget = upload_byte_budget(self.size - self.offset, self.chunk_size, self.policy.attempts)
        yield from self._moved()
        while self.offset < self.size:
            yield from self.src.measured()  # the source is still the one measured first
            end = min(self.offset + self.chunk_size, self.size)
            if self.sent + end - self.offset > self.budget:
                raise VideoUploadError(
                    "upload", f"gave up at offset {self.offset} of {self.size}: {self.sent} bytes sent, and the "
                              f"next chunk would pass the {self.budget} allowed (twice what the server needed, plus "
                              f"a chunk per attempt): {self.host} is not keeping what it receives; resume later "
                              "with resume_state",
                    offset=self.offset, resume_state=(yield from self.state(self.offset)), response=self.last)
            self.sent += end - self.offset
            self.sent_to = max(self.sent_to, end)
            failure: Error | None = None
            response: Response | None = None
            try:
                response = yield chunk_request(self.upload_url, self.src.source, self.offset, end, self.size)
            except (TransportError, ProtocolError) as exc:
                failure = exc
            self.last = response
            if response is not None and (200 <= response.status < 300 or response.status == 308):
                error = _api_error_in(response)
                if error is not None:
                    error.resume_state = yield from self.state(self.offset)  # type: ignore[attr-defined]
                    raise error
                reported = self._read_status(response)
                # A reply that says where the server stands wins (it may hold less than we sent);
                # a bare 2xx confirms the chunk.
                if (yield from self._judge(end if reported is None else reported, failure, reply=True)):
                    continue
            elif response is not None and response.status != 416 and response.status < 500:
                error = _api_error_in(response)
                message = (f"{self.host} refused the chunk at offset {self.offset} with HTTP {response.status}"
                           + (f" ({error})" if error is not None else ""))
                raise VideoUploadError("upload", message, offset=self.offset,
                                       resume_state=(yield from self.state(self.offset)), response=response)
            else:
                yield from self._failed(f"HTTP {response.status}" if response is not None else str(failure), failure)
            yield Sleep(self.policy.delay(self.failures - 1))
            known = yield from self._ask_status()
            if known is not None:
                yield from self._judge(known, failure, reply=False)
            # else: unknown, re-send the chunk in flight from its start

    def _judge(self, reported: int, failure: Error | None, *, reply: bool) -> Flow[bool]:
        """Take the server's word that it holds ``reported`` bytes where okru can: True when the
        upload moved forward. ``reply``: the answer to a chunk, which must move it forward (a
        status GET after a failure may repeat where the server stands)."""
        if reported > self.sent_to:
            yield from self._failed(f"it claims {reported} bytes, okru sent only {self.sent_to}", failure)
            return False
        if reported < self.offset:
            self.offset = reported  # the server holds what it holds: continue from there
            yield from self._failed(f"its status went back to {reported} bytes", failure)
            yield from self._moved()
            return False
        if reported == self.offset:
            if reply:
                yield from self._failed(f"its reply did not advance past {reported} bytes", failure)
            return False
        self.offset = reported
        if reported > self.best:
            self.best, self.failures = reported, 0  # real progress: bytes never confirmed before
        yield from self._moved()
        return True

    def _failed(self, cause: str, failure: Error | None) -> Flow[None]:
        self.failures += 1
        if self.failures > self.policy.attempts:
            raise VideoUploadError(
                "upload", f"gave up at offset {self.offset} of {self.size} after {self.failures} failed attempts "
                          f"in a row (last: {cause}); {self.sent} bytes sent; resume later with resume_state",
                offset=self.offset, resume_state=(yield from self.state(self.offset)),
                response=self.last) from failure

    def _moved(self) -> Flow[None]:
        if self.checkpoint is not None:
            saved = yield from self.state(self.offset)
            yield Callback(self.checkpoint, saved)
        yield from _progress(self.progress, self.offset, self.size)

    def _read_status(self, response: Response) -> int | None:
        status = parse_upload_status(response, self.size)
        if status.total is not None and status.total != self.size:
            raise VideoUploadError("status", f"{self.host} reports an upload of {status.total} bytes, this file "
                                             f"has {self.size}: the upload URL belongs to another file",
                                   offset=self.offset, resume_state=None, response=response)
        return status.received

    def _ask_status(self) -> Flow[int | None]:
        """The status GET: how many bytes the host holds, or None when it cannot be read."""
        try:
            response = yield Request("GET", self.upload_url)
        except (TransportError, ProtocolError):
            return None
        if not 200 <= response.status < 300 and response.status != 308:
            return None
        self.last = response
        return self._read_status(response)


# -- What okru reads from and keeps about a video upload host: the one place to correct ----



#: Bytes per resumable chunk (okru's choice; OK publishes no recommended size). A chunk is one
#: request: a session's whole-call timeout bounds one chunk, not the whole upload.
DEFAULT_CHUNK_SIZE = 8 << 20


_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
#: Version 2 added ``sample`` (issue 20: a different file of the same size was resumed).
_RESUME_VERSION = 2


@dataclass(frozen=True, slots=True)
class ResumeState:
    """Where an interrupted resumable upload stands, enough to continue it in another process.

    ``upload_url`` is a credential (shown masked in the repr; :meth:`to_json` writes it in
    clear, so keep that file private). ``confirmed`` is how many bytes the server is known to
    hold; ``sample`` the SHA-256 (hex) of :func:`sample_ranges` of those bytes of the source.
    ``upload_video(source, resume=state)`` checks that the source has ``size`` bytes and the same
    sample, asks the server what it holds and continues from there.
    """

    upload_url: str
    video_id: str
    size: int
    confirmed: int = 0
    chunk_size: int = DEFAULT_CHUNK_SIZE
    file_name: str = ""
    sample: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.upload_url, str) or not isinstance(self.video_id, str) or not self.video_id:
            raise UsageError("ResumeState needs upload_url and video_id strings")
        for name in ("size", "confirmed", "chunk_size"):
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise UsageError(f"ResumeState.{name} must be an int >= 0, got {value!r}")
        if self.confirmed > self.size or self.chunk_size < 1:
            raise UsageError("ResumeState.confirmed must be <= size and chunk_size >= 1")
        if not isinstance(self.file_name, str):
            raise UsageError("ResumeState.file_name must be a string")
        if not isinstance(self.sample, str) or not (self.sample == "" or _HEX_DIGEST.fullmatch(self.sample)):
            raise UsageError("ResumeState.sample must be a SHA-256 hex digest (or empty)")

    def to_json(self) -> str:
        """A small JSON object (holds the upload URL: store it like a token)."""
        return json.dumps({"okru": "video-resume", "version": _RESUME_VERSION, "upload_url": self.upload_url,
                           "video_id": self.video_id, "size": self.size, "confirmed": self.confirmed,
                           "chunk_size": self.chunk_size, "file_name": self.file_name, "sample": self.sample})

    @classmethod
    def from_json(cls, text: str | bytes) -> ResumeState:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"not a video resume state (not JSON: {exc})") from None
        if not isinstance(data, dict) or data.get("okru") != "video-resume":
            raise UsageError(f"not a video resume state (written by okru's ResumeState.to_json, version "
                             f"{_RESUME_VERSION})")
        if data.get("version") != _RESUME_VERSION:
            raise UsageError(f"a video resume state of version {data.get('version')!r}, this okru reads version "
                             f"{_RESUME_VERSION} (version 1 recorded no sample of the bytes sent, so it cannot "
                             "prove the file is the same): start the upload again")
        try:
            return cls(data["upload_url"], str(data["video_id"]), data["size"], data["confirmed"],
                       data.get("chunk_size", DEFAULT_CHUNK_SIZE), data.get("file_name", ""), data["sample"])
        except KeyError as exc:
            raise UsageError(f"video resume state lacks {exc.args[0]!r}") from None

    def __repr__(self) -> str:
        return (f"ResumeState(upload_url={mask_upload_url(self.upload_url)!r}, video_id={self.video_id!r}, "
                f"size={self.size}, confirmed={self.confirmed}, chunk_size={self.chunk_size})")


def content_range(offset: int, end: int, total: int) -> str:
    """``bytes first-last/total`` for bytes ``[offset, end)`` of ``total`` (RFC 9110 §14.4;
    last is inclusive, so a 1-byte last chunk of a 10-byte file is ``bytes 9-9/10``)."""
    if not 0 <= offset < end <= total:
        raise UsageError(f"no Content-Range for bytes [{offset}, {end}) of {total}")
    return f"bytes {offset}-{end - 1}/{total}"


@dataclass(frozen=True, slots=True)
class UploadStatus:
    """What the upload host said it holds: ``received`` bytes (from offset 0), of ``total``;
    ``None`` when it did not say (then okru re-sends the chunk in flight)."""

    received: int | None
    total: int | None = None
    status: str | None = None


_RANGE_TEXT = re.compile(r"^\s*(?:bytes[ =])?\s*(\d+)-(\d+)(?:/(\d+|\*))?\s*$")
_EMPTY_RANGE = re.compile(r"^\s*(?:bytes[ =])?\s*\*/(\d+)\s*$")
_LAST_KEYS = ("last_byte", "lastByte", "last_known_byte", "lastKnownByte", "last_uploaded_byte")
_COUNT_KEYS = ("uploaded", "received", "bytes_uploaded", "uploaded_bytes", "offset")
_TOTAL_KEYS = ("total", "total_size", "totalSize", "file_size", "fileSize", "size")


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def parse_upload_status(response: Response, total: int) -> UploadStatus:
    """What the upload host holds, read tolerantly from a chunk reply or the status GET.

    OK says the status GET answers "current upload status, complete file size and last known
    uploaded byte" but not in what form. okru accepts, in this order (the first that parses
    wins; docs/video.md lists the same):

    1. a ``Range: bytes=0-LAST`` header (the resumable-upload convention of other hosts);
    2. a JSON object with a last-byte key (``last_byte``, ``lastByte``, ``last_known_byte``,
       ``lastKnownByte``, ``last_uploaded_byte``: LAST inclusive, -1 for none) or a count key
       (``uploaded``, ``received``, ``bytes_uploaded``, ``uploaded_bytes``, ``offset``), a total
       (``total``, ``total_size``, ``totalSize``, ``file_size``, ``fileSize``, ``size``) and a
       ``status`` string;
    3. text ``FIRST-LAST/TOTAL`` or ``bytes */TOTAL`` (Content-Range syntax) as the whole body.

    A reported count outside ``0..total``, or a total different from ``total``, is not
    trusted (``received=None``): okru then re-sends the chunk in flight rather than skip bytes.
    """
    received: int | None = None
    reported_total: int | None = None
    status: str | None = None
    header = response.header("range")
    if header:
        match = _RANGE_TEXT.match(header)
        if match and int(match.group(1)) == 0:
            received = int(match.group(2)) + 1
    if received is None and response.body:
        text = response.body[:4096].decode("utf-8", "replace").strip()
        value: object = None
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except ValueError:
                value = None
        if isinstance(value, dict):
            if isinstance(value.get("status"), str):
                status = value["status"]
            for key in _TOTAL_KEYS:
                if _int(value.get(key)) is not None:
                    reported_total = _int(value.get(key))
                    break
            for key in _LAST_KEYS:
                last = _int(value.get(key))
                if last is not None:
                    received = last + 1
                    break
            else:
                for key in _COUNT_KEYS:
                    count = _int(value.get(key))
                    if count is not None:
                        received = count
                        break
        else:
            match = _RANGE_TEXT.match(text)
            if match and int(match.group(1)) == 0:
                received = int(match.group(2)) + 1
                if match.group(3) and match.group(3) != "*":
                    reported_total = int(match.group(3))
            else:
                empty = _EMPTY_RANGE.match(text)
                if empty:
                    received, reported_total = 0, int(empty.group(1))
    if reported_total is not None and reported_total != total:
        return UploadStatus(None, reported_total, status)
    if received is not None and not 0 <= received <= total:
        return UploadStatus(None, reported_total, status)
    return UploadStatus(received, reported_total, status)


def multipart_body(source: Any, size: int, file_name: str, boundary: str) -> tuple[str, StreamedBody]:
    """``(content_type, body)``: one ``data`` file part (the field name of OK's curl example),
    the source streamed between the preamble and the epilogue."""
    return form_data_body([FormFile("data", file_name, "application/octet-stream", SourceRange(source, 0, size))],
                          boundary)


def chunk_request(upload_url: str, source: Any, offset: int, end: int, total: int) -> Request:
    """One resumable chunk: bytes ``[offset, end)`` with ``Content-Range`` and a non-multipart
    content type (what selects resumable mode; OK names no specific type)."""
    return Request("POST", upload_url, (("content-type", "application/octet-stream"),
                                        ("content-range", content_range(offset, end, total))),
                   StreamedBody((SourceRange(source, offset, end - offset),)))


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
