"""Videos and their upload (docs/protocol.md §12): the emulator's half.

``video.getUploadUrl`` issues a video id and an upload URL; the upload host ``/uploadVideo``
takes the bytes either as one ``multipart/form-data`` POST (one file) or *resumable*: any other
content type, chunks with ``Content-Range``, a GET answering the status; ``video.update`` sets
the metadata and finalises the video; ``mediatopic.post`` then accepts it in a ``movie`` block.

The upload host reads bodies as a stream (:class:`VideoSink`): the loopback server feeds it
each received block, so a 1 GiB upload never sits in memory; the bytes are kept only up to
``VideoStore.keep_bytes`` (a SHA-256 of everything is always kept, so tests and benchmarks can
check what arrived). Faults (:meth:`VideoStore.inject`): a dropped connection once the server
holds N bytes, a 500 on a chunk, a lost acknowledgement. Hostile hosts
(:attr:`VideoStore.behaviour`, issue 20): one that forgets what it got, one that keeps a byte
per chunk, one that claims the whole file; :attr:`VideoStore.posted` counts every body byte
that reached the host, kept or not.

What OK does not publish and the emulator had to choose (docs/video.md lists the same): the
upload URL's shape (``/uploadVideo?apiToken=...``), the chunk reply and the status body (by
default ``{"status", "total", "last_byte"}`` JSON; ``status_format`` switches to Content-Range
text, a ``Range`` header, or an unreadable page), ``video.update``'s ``null`` reply, and error
100 from ``video.update`` for an upload that is not complete.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from .._values import Request, Response
from ._api_errors import ApiFail
from ._call import CallContext
from ._faults import PLAIN, Action
from ._http import JSON_TYPE, api_error, html_page, html_response, json_body

if TYPE_CHECKING:
    from ._store import Store

__all__ = ["VideoSink", "VideoStore", "VideoUpload", "check_movie", "open_video_sink", "upload_video",
           "video_get_upload_url", "video_store", "video_update"]

#: "Поддерживаются файлы размером от 16 Кб" (video.getUploadUrl's file_size).
MIN_VIDEO_BYTES = 16 * 1024

VideoFault = Literal["drop", "http_500", "lost_ack"]
StatusFormat = Literal["json", "text", "range", "unreadable"]
#: How the upload host treats resumable chunks: ``"honest"``; ``"forgetful"`` (accepts chunk 1,
#: answers 416 to any later chunk and then holds nothing); ``"byte_a_chunk"`` (keeps and confirms
#: one byte per chunk); ``"overclaim"`` (once it holds a byte, says it holds the whole file).
Behaviour = Literal["honest", "forgetful", "byte_a_chunk", "overclaim"]

_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?')


@dataclass
class VideoUpload:
    """One video: its ticket (``token`` is in the upload URL), what arrived, its metadata."""

    video_id: str
    token: str
    uid: str
    gid: str | None
    file_name: str
    declared_size: int
    total: int | None = None
    received: int = 0
    data: bytearray | None = field(default_factory=bytearray)
    sha256: Any = field(default_factory=hashlib.sha256)
    mode: str | None = None
    complete: bool = False
    finalized: bool = False
    title: str | None = None
    description: str | None = None
    tags: str | None = None
    privacy: str | None = None

    def digest(self) -> str:
        return str(self.sha256.hexdigest())

    def forget(self) -> None:
        """Drop everything received (what a host that loses an upload's state does)."""
        self.received, self.data, self.sha256 = 0, bytearray(), hashlib.sha256()

    def append(self, data: bytes | memoryview, keep: int) -> None:
        self.sha256.update(data)
        self.received += len(data)
        if self.data is not None:
            if self.received > keep:
                self.data = None  # too big to keep: only the digest and the count remain
            else:
                self.data += data


@dataclass
class VideoStore:
    """The emulator's videos, by id and by upload token, and the scripted upload faults."""

    videos: dict[str, VideoUpload] = field(default_factory=dict)
    by_token: dict[str, str] = field(default_factory=dict)
    #: Keep at most this many bytes of a video (beyond: digest and count only).
    keep_bytes: int = 64 << 20
    #: What the status GET and chunk replies look like (none is OK's documented format).
    status_format: StatusFormat = "json"
    #: Largest ``file_size`` accepted; ``None``: no limit. The 2017 method page says 1 GB, the
    #: upload page 2 GB for multipart only; set ``1 << 30`` to emulate the method page.
    max_bytes: int | None = None
    faults: list[tuple[VideoFault, int]] = field(default_factory=list)
    #: An honest host, or one of the hostile ones (see :data:`Behaviour`).
    behaviour: Behaviour = "honest"
    #: Body bytes of every upload POST that reached the host, kept or discarded.
    posted: int = 0

    def inject(self, fault: VideoFault, *, at: int = 0) -> None:
        """Script one fault for the next upload request(s): ``"drop"`` resets the connection as
        soon as the server holds ``at`` bytes of the file; ``"http_500"`` answers the next upload
        POST with a 500 (its bytes discarded); ``"lost_ack"`` stores the next POST's bytes, then
        resets the connection instead of answering."""
        if fault not in ("drop", "http_500", "lost_ack"):
            raise ValueError(f"unknown video fault {fault!r}")
        self.faults.append((fault, at))

    def take(self, kind: VideoFault) -> tuple[VideoFault, int] | None:
        for item in self.faults:
            if item[0] == kind:
                self.faults.remove(item)
                return item
        return None


def video_store(fake: Store) -> VideoStore:
    store = fake.__dict__.get("_video_store")
    if store is None:
        store = fake.__dict__["_video_store"] = VideoStore()
    return store


# -- REST methods --------------------------------------------------------------------------

def video_get_upload_url(ctx: CallContext) -> object:
    user = ctx.target_user()
    store = video_store(ctx.fake)
    file_name = ctx.params.get("file_name", "")
    size_text = ctx.params.get("file_size", "0") or "0"
    if not size_text.isdigit():
        raise ApiFail(100, f"Invalid parameter file_size value : {size_text}")
    size = int(size_text)
    # "допустимо указать 0" when the size is not known yet; otherwise 16 KB at least.
    if 0 < size < MIN_VIDEO_BYTES:
        raise ApiFail(100, "FileToSmall")
    if store.max_bytes is not None and size > store.max_bytes:
        raise ApiFail(100, "FileToLarge")
    gid = ctx.params.get("gid") or None
    if gid is not None and gid not in ctx.fake.groups:
        raise ApiFail(160, f"Invalid group id {gid}")
    video_id = ctx.fake.next_id(5_900_000_000_000)
    token = ctx.fake.random_string(40)
    store.videos[video_id] = VideoUpload(video_id, token, user.uid, gid, file_name, size)
    store.by_token[token] = video_id
    url = f"{ctx.incoming.base_url}/uploadVideo?apiToken={quote(token, safe='')}"
    # video_id as a number: the form one Go client guards against (docs/protocol.md).
    return {"upload_url": url, "video_id": int(video_id)}


def video_update(ctx: CallContext) -> object:
    user = ctx.target_user()
    vid = ctx.require("vid")
    upload = video_store(ctx.fake).videos.get(vid)
    if upload is None or upload.uid != user.uid:
        raise ApiFail(100, f"Invalid parameter vid value : {vid}")
    if not upload.complete:
        raise ApiFail(100, f"Invalid parameter vid value : upload of {vid} is not complete")
    privacy = ctx.params.get("privacy")
    if privacy is not None and privacy not in ("PUBLIC", "FRIENDS"):
        raise ApiFail(100, f"Invalid parameter privacy value : {privacy}")
    for name, limit in (("title", 1000), ("description", 4000), ("tags", 1000)):
        value = ctx.params.get(name)
        if value is not None and len(value) > limit:
            raise ApiFail(100, f"Invalid parameter {name} value : longer than {limit}")
    upload.title = ctx.params.get("title", upload.title)
    upload.description = ctx.params.get("description", upload.description)
    upload.tags = ctx.params.get("tags", upload.tags)
    upload.privacy = privacy or upload.privacy
    upload.finalized = True
    return None  # "В случае успеха возвращает пустой ответ"


def check_movie(ctx: CallContext, block: dict[str, object]) -> None:
    """A ``movie`` media block: ``list`` of ``{"id": video_id}`` of the user's finalised videos."""
    items = block.get("list")
    if not isinstance(items, list) or not items:
        raise ApiFail(100, "Invalid parameter attachment value : movie block without list")
    videos = video_store(ctx.fake).videos
    for item in items:
        vid = str(item.get("id")) if isinstance(item, dict) else None
        video = videos.get(vid or "")
        if video is None or not video.finalized:
            raise ApiFail(100, f"Invalid parameter attachment value : unknown video {vid}")


# -- the upload host ------------------------------------------------------------------------

def _status(upload: VideoUpload, store: VideoStore) -> Response:
    total = upload.total if upload.total is not None else upload.declared_size
    if store.behaviour == "overclaim" and upload.received and not upload.complete:
        return _status_of(total, total, "UPLOADING", store)
    return _status_of(upload.received, total, "COMPLETED" if upload.complete else "UPLOADING", store)


def _status_of(received: int, total: int, state: str, store: VideoStore) -> Response:
    fmt = store.status_format
    if fmt == "text":
        text = f"bytes 0-{received - 1}/{total}" if received else f"bytes */{total}"
        return Response(200, (("content-type", "text/plain"),), text.encode())
    if fmt == "range":
        headers: tuple[tuple[str, str], ...] = (("content-length", "0"),)
        if received:
            headers = (("range", f"bytes=0-{received - 1}"),)
        return Response(200, headers, b"")
    if fmt == "unreadable":
        return html_response(200, html_page("Upload", "<p>in progress</p>"))
    body = json_body({"status": state, "total": total, "last_byte": received - 1})
    return Response(200, (("content-type", JSON_TYPE),), body)


def _upload_of(fake: Store, request: Request) -> VideoUpload | None:
    query = request.url.partition("?")[2]
    for item in query.split("&"):
        key, _, value = item.partition("=")
        if key == "apiToken":
            vid = video_store(fake).by_token.get(value)
            return video_store(fake).videos.get(vid or "")
    return None


class VideoSink:
    """Receives one upload POST's body block by block (bounded memory); :meth:`finish` answers.

    ``write`` returns False when a scripted drop fires: the transport must then reset the
    connection without a reply (the bytes up to the drop point are kept, as a resumable host
    would keep them).
    """

    def __init__(self, fake: Store, request: Request) -> None:
        self.fake = fake
        self.store = video_store(fake)
        self.upload = _upload_of(fake, request)
        self.answer: Response | None = None  # set when the request is refused before its body
        self.skip = 0  # bytes of a re-sent range the server already holds
        self.allow: int | None = None  # at most this many new bytes kept ("byte_a_chunk")
        self.lost_ack = False
        self.multipart: bytes | None = None
        self.head = bytearray()
        self.tail = b""
        self.in_part = False
        upload = self.upload
        if upload is None:
            self.answer = api_error(100, "Invalid parameter apiToken")
            return
        if upload.complete:
            self.answer = _status(upload, self.store)
            return
        if self.store.take("http_500") is not None:
            self.answer = html_response(500, html_page("500", "<h1>HTTP Status 500</h1>"))
            return
        self.lost_ack = self.store.take("lost_ack") is not None
        ctype = (request.header("content-type") or "").lower()
        if ctype.startswith("multipart/form-data"):
            match = _BOUNDARY.search(request.header("content-type") or "")
            if match is None or upload.mode == "resumable" or upload.received:
                self.answer = api_error(100, "Not a multipart request")
                return
            upload.mode = "multipart"
            self.multipart = match.group(1).encode("latin-1")
            return
        # Resumable: any other content type; Content-Range says where this chunk goes.
        match = _RANGE.match(request.header("content-range") or "")
        if match is None:
            self.answer = Response(400, (("content-type", "text/plain"),), b"Content-Range required")
            return
        first, last, total = (int(g) for g in match.groups())
        expected = upload.total if upload.total is not None else (upload.declared_size or total)
        if self.store.behaviour == "forgetful" and first > 0:
            upload.forget()
            self.answer = Response(416, (("content-range", f"bytes */{expected}"),), b"")
            return
        if self.store.behaviour == "byte_a_chunk":
            self.allow = 1
        if last < first or last >= total or total != expected or first > upload.received:
            self.answer = Response(416, (("content-range", f"bytes */{expected}"),), b"")
            return
        upload.mode = "resumable"
        upload.total = total
        self.skip = upload.received - first

    def write(self, data: bytes | memoryview) -> bool:
        """Take the next block of the body; False: drop the connection now (scripted)."""
        with self.fake.lock:
            self.store.posted += len(data)
        if self.answer is not None or self.upload is None:
            return True
        with self.fake.lock:
            if self.multipart is not None:
                data = self._multipart_data(bytes(data))
            elif self.skip:
                cut = min(self.skip, len(data))
                self.skip -= cut
                data = data[cut:]
            if self.allow is not None:
                data, self.allow = data[:self.allow], self.allow - len(data[:self.allow])
            return self._store(data)

    def _store(self, data: bytes | memoryview) -> bool:
        upload = self.upload
        assert upload is not None
        if not data:
            return True
        for fault in self.store.faults:
            if fault[0] == "drop" and upload.received < fault[1] <= upload.received + len(data):
                self.store.faults.remove(fault)
                upload.append(data[: fault[1] - upload.received], self.store.keep_bytes)
                return False
        upload.append(data, self.store.keep_bytes)
        return True

    def _multipart_data(self, data: bytes) -> bytes:
        if not self.in_part:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                if len(self.head) > 65536:
                    self.answer = api_error(100, "Not a multipart request")
                return b""
            data, self.head, self.in_part = bytes(self.head[end + 4:]), bytearray(), True
        # Hold back what may be the closing delimiter until the body ends.
        keep = len(self.multipart or b"") + 16
        joined = self.tail + data
        self.tail = joined[-keep:]
        return joined[:-keep]

    def finish(self) -> tuple[Response, Action]:
        """The reply once the whole body arrived (and what the transport does with it)."""
        with self.fake.lock:
            if self.answer is not None:
                return self.answer, PLAIN
            upload = self.upload
            assert upload is not None
            if self.multipart is not None:
                closing = b"\r\n--" + self.multipart + b"--"
                at = self.tail.rfind(closing)
                if not self.in_part or at < 0:
                    return api_error(100, "Not a multipart request"), PLAIN
                if not self._store(self.tail[:at]):
                    return html_response(499, ""), Action(reset=True)
                upload.total = upload.received
                if upload.declared_size and upload.total != upload.declared_size:
                    return api_error(100, "file_size does not match the uploaded file"), PLAIN
            if upload.total is not None and upload.received >= upload.total:
                upload.complete = True
            response = _status(upload, self.store)
            if self.lost_ack:
                return response, Action(reset=True)
            return response, PLAIN


def open_video_sink(fake: Store, request: Request) -> VideoSink | None:
    """A sink for a POST to the upload host (the transport streams the body into it)."""
    if request.method != "POST":
        return None
    return VideoSink(fake, request)


def upload_video(fake: Store, incoming: object) -> Response:
    """The upload host for a request whose body is already whole (``FakeOK.handle``); the
    streaming transports use :func:`open_video_sink` instead."""
    from ._http import Incoming

    assert isinstance(incoming, Incoming)
    request = incoming.request
    if request.method == "GET":
        upload = _upload_of(fake, request)
        if upload is None:
            return api_error(100, "Invalid parameter apiToken")
        return _status(upload, video_store(fake))
    response, _ = run_sink(fake, request)
    return response


def run_sink(fake: Store, request: Request) -> tuple[Response, Action]:
    """Feed a whole body through a :class:`VideoSink` (the in-process path)."""
    sink = VideoSink(fake, request)
    body = request.body if isinstance(request.body, bytes) else request.body.to_bytes()
    if not sink.write(body):
        return html_response(499, ""), Action(reset=True)
    return sink.finish()
