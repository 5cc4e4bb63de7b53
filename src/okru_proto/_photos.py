"""Photo upload as one flow: ``photosV2.getUploadUrl`` -> multipart POST -> ``photosV2.commit``.

docs/protocol.md §7.2. The REST steps go through :meth:`SessionCore.call_flow`, so signing, refresh
on 102 and the retry policy apply to them; the upload POST itself is unsigned (the ``apiToken``
in ``upload_url`` authorizes it) and is sent once. What it sends is here too: the photos
(:class:`Photo` in memory, :class:`PhotoFile` on disk) and their form, written by the one
multipart writer (:mod:`._multipart`). Adapters only measure and stream photo files and pass a
random multipart boundary in (the core reads no file, no clock, no randomness).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from ._errors import APIError, Error, ProtocolError, UsageError
from ._flow import Flow, guarded
from ._multipart import FormFile, form_data_body
from ._values import Request, Response, SourceRange, StreamedBody, _is_loopback
from ._wire.rest import describe_body, parse_call_response

__all__ = [
    "PHOTO_IDS_PLACEHOLDER",
    "UPLOAD_STEPS",
    "Photo",
    "PhotoFile",
    "PhotoSource",
    "UploadError",
    "UploadedPhoto",
    "build_multipart",
    "commit_params",
    "fill_photo_ids",
    "multipart_body",
    "parse_commit",
    "parse_upload_reply",
    "parse_upload_url",
    "photo_media",
    "prepare_upload",
    "sniff_content_type",
    "upload_photos_flow",
]


if TYPE_CHECKING:
    from ._session import SessionCore


#: The three steps of an upload, as :attr:`UploadError.step` names them.
# Magic numbers of the formats OK accepts; a Photo's Content-Type is sniffed from its bytes (the
# mimetypes database would be I/O the core does not do). A PhotoFile, whose bytes the core never
# sees, goes by its extension in the table of these same formats below.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/bmp": "bmp",
               "image/webp": "webp"}


def sniff_content_type(data: bytes) -> str:
    """``image/jpeg``, ``image/png``, ``image/gif``, ``image/webp``, ``image/bmp`` from the first
    bytes, else ``application/octet-stream`` (OK then decides; it answers 503 for non-images)."""
    for magic, ctype in _MAGIC:
        if data.startswith(magic):
            return ctype
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Photo:
    """One file to upload: its bytes, an optional file name and content type.

    ``content_type`` defaults to what the bytes look like (JPEG, PNG, GIF, WebP, BMP).
    """

    data: bytes
    filename: str | None = None
    content_type: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.data, (bytearray, memoryview)):
            object.__setattr__(self, "data", bytes(self.data))
        if not isinstance(self.data, bytes):
            raise UsageError(f"Photo data must be bytes, not {type(self.data).__name__}")
        if not self.data:
            raise UsageError("Photo data is empty (OK.ru would answer 505 PHOTO_NO_IMAGE)")
        if self.filename is not None and not isinstance(self.filename, str):
            raise UsageError("Photo filename must be a str")
        if self.content_type is None:
            object.__setattr__(self, "content_type", sniff_content_type(self.data))
        elif not isinstance(self.content_type, str) or not re.fullmatch(r"[\w.+-]+/[\w.+-]+", self.content_type):
            raise UsageError(f"Photo content_type must look like 'image/jpeg', got {self.content_type!r}")

    @classmethod
    def coerce(cls, item: Photo | bytes | bytearray | memoryview) -> Photo:
        """A :class:`Photo` from a Photo or raw bytes (a path becomes a :class:`PhotoFile`, which an adapter measures)."""
        if isinstance(item, Photo):
            return item
        if isinstance(item, (bytes, bytearray, memoryview)):
            return cls(bytes(item))
        raise UsageError(f"a photo is bytes, a Photo or a file path, not {type(item).__name__}")

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], data: bytes) -> Photo:
        """A :class:`Photo` of ``data`` read by an adapter from ``path`` (its base name becomes
        the file name). Pure: the core never opens the file itself."""
        return cls(data, os.path.basename(os.fspath(path)) or None)

    def __repr__(self) -> str:
        return f"Photo(<{len(self.data)} bytes>, filename={self.filename!r}, content_type={self.content_type!r})"


@dataclass(frozen=True, slots=True)
class PhotoFile:
    """A photo file on disk, sent as a byte range of the file (the adapter reads it block by
    block while sending; okru never holds it whole). ``size`` is what the adapter measured
    (``_source_size``: a stat); a file that then shrinks fails as "ended early" while sending.

    ``filename`` defaults to the path's base name, ``content_type`` to what its extension names
    (``.jpg``, ``.png``...; else ``application/octet-stream``, for which OK decides from the
    bytes): sniffing the bytes as :class:`Photo` does would mean reading the file here.
    """

    path: str | os.PathLike[str]
    size: int
    filename: str | None = None
    content_type: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.path, (str, os.PathLike)):
            raise UsageError(f"PhotoFile path must be a str or os.PathLike, not {type(self.path).__name__}")
        if type(self.size) is not int or self.size < 0:
            raise UsageError(f"PhotoFile size must be an int >= 0, got {self.size!r}")
        if self.size == 0:
            raise UsageError(f"photo file {os.fspath(self.path)!r} is empty (OK.ru would answer 505 PHOTO_NO_IMAGE)")
        name = os.path.basename(os.fspath(self.path))
        if self.filename is None:
            object.__setattr__(self, "filename", name or None)
        if self.content_type is None:
            ext = os.path.splitext(name)[1].lower().lstrip(".")
            object.__setattr__(self, "content_type", _BY_EXTENSION.get(ext, "application/octet-stream"))

    def __repr__(self) -> str:
        return f"PhotoFile(<{self.size} bytes>, filename={self.filename!r}, content_type={self.content_type!r})"


_BY_EXTENSION = {ext: ctype for ctype, ext in _EXTENSIONS.items()} | {"jpeg": "image/jpeg", "jpe": "image/jpeg"}


def multipart_body(photos: Iterable[Photo | PhotoFile], boundary: str) -> tuple[str, StreamedBody]:
    """``(content_type, body)`` of a ``multipart/form-data`` body with one part per photo,
    named ``pic1``, ``pic2``... as OK's upload form does (docs/protocol.md §7.2 step 2).

    ``boundary`` comes from the caller (adapters use ``secrets.token_hex(16)``): the core takes no
    randomness. It must be 1-70 boundary characters and must not occur in an in-memory photo's
    bytes. A :class:`PhotoFile` is not searched (that would read it): a random 128-bit boundary
    occurring in it by chance is as likely as guessing a 128-bit key.
    """
    items = list(photos)
    if not items:
        raise UsageError("upload at least one photo")
    files = []
    for number, photo in enumerate(items, 1):
        if not isinstance(photo, (Photo, PhotoFile)):
            raise UsageError(f"a photo is a Photo or a PhotoFile here, not {type(photo).__name__}")
        ctype = photo.content_type or "application/octet-stream"
        filename = photo.filename or f"pic{number}.{_EXTENSIONS.get(ctype, 'bin')}"
        # The photo is its own part: bytes as given (no copy), or the file's range.
        content = photo.data if isinstance(photo, Photo) else SourceRange(photo.path, 0, photo.size)
        files.append(FormFile(f"pic{number}", filename, ctype, content))
    return form_data_body(files, boundary)


UPLOAD_STEPS = ("getUploadUrl", "upload", "commit")

class UploadError(Error):
    """One step of a photo upload failed in a way OK's error codes do not cover.

    ``step`` is ``"getUploadUrl"`` (e.g. fewer ``photo_ids`` than photos asked for, or an
    ``upload_url`` that is not https), ``"upload"`` (the upload host's reply is not JSON, or has
    no token for a photo) or ``"commit"`` (a photo's status is ``FAILED`` or missing).
    ``photos`` holds what is known so far (for ``commit``: every photo with its status, so the
    ones that did succeed are not lost). ``response`` is the raw reply when there is one.
    An error object from OK or the upload host raises its :class:`APIError` instead.
    ``resume_state`` is set by a video upload that can be continued (docs/video.md).
    """

    resume_state: Any = None

    def __init__(self, step: str, message: str, *, photos: tuple[UploadedPhoto, ...] = (),
                 response: Response | None = None) -> None:
        super().__init__(f"photo upload, {step}: {message}")
        self.step = step
        self.photos = photos
        self.response = response


#: What ``upload_photos(*files)`` takes in every adapter: raw bytes, a :class:`Photo`, or a file
#: path (``str`` or ``os.PathLike``) that the adapter measures and streams (a :class:`PhotoFile`).
PhotoSource = Photo | bytes | bytearray | memoryview | str | os.PathLike[str]


@dataclass(frozen=True, slots=True)
class UploadedPhoto:
    """One uploaded photo. ``token`` goes into a ``mediatopic.post`` photo block (see
    :func:`photo_media`); ``assigned_photo_id`` and ``status`` (``"SUCCESS"``) are set when the
    photo was committed, ``None`` when commit was skipped (docs/protocol.md §7.2 steps 3-4)."""

    photo_id: str
    token: str
    assigned_photo_id: str | None = None
    status: str | None = None

    def __repr__(self) -> str:
        # The token is a credential for this photo: keep it out of logs and tracebacks.
        return (f"UploadedPhoto(photo_id={self.photo_id!r}, token='***', "
                f"assigned_photo_id={self.assigned_photo_id!r}, status={self.status!r})")


def photo_media(photos: Iterable[UploadedPhoto]) -> dict[str, Any]:
    """The ``mediatopic.post`` media block for uploaded photos:
    ``{"type": "photo", "list": [{"id": token}, ...]}`` (docs/protocol.md §7.2 step 4)."""
    items = [{"id": p.token} for p in photos]
    if not items:
        raise UsageError("photo_media needs at least one uploaded photo")
    return {"type": "photo", "list": items}


def build_multipart(photos: Iterable[Photo | bytes], boundary: str) -> tuple[str, bytes]:
    """``(content_type, body)`` of the multipart body of in-memory photos, as bytes: what
    :func:`multipart_body` writes (one part per photo, ``pic1``, ``pic2``..., docs/protocol.md
    §7.2 step 2), joined. ``boundary`` must be 1-70 boundary characters not in any photo's bytes."""
    content_type, body = multipart_body([Photo.coerce(p) for p in photos], boundary)
    return content_type, body.to_bytes()


def check_upload_url(url: object, what: str, error: Callable[[str, str], Error] = UploadError) -> str:
    """``url`` if it is a usable upload URL from a ``getUploadUrl`` reply (photos and videos
    alike), else ``error("getUploadUrl", why)``: present, absolute http(s), no userinfo, and
    plain http only to loopback. ``what`` names what would be sent (for the message)."""
    if not isinstance(url, str) or not url:
        raise error("getUploadUrl", "the reply has no upload_url")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        raise error("getUploadUrl", "upload_url is not a valid URL") from None
    if "@" in parts.netloc:
        # Never echoed: the userinfo would be a password (has_userinfo's rule for every URL).
        raise error("getUploadUrl", "upload_url carries a user name or password (user:password@); "
                                    "refused, OK.ru's upload URLs have none")
    if parts.scheme not in ("http", "https") or not host:
        raise error("getUploadUrl", "upload_url is not an absolute http(s) URL")
    # Same rule as Endpoints (docs/protocol.md §1): plain http only to loopback. A 2014 reply had
    # http://up.odnoklassniki.ru; uploading over plain http to the internet is refused.
    if parts.scheme == "http" and not _is_loopback(host):
        raise error("getUploadUrl", f"upload_url uses plain http:// for {host}; refusing to send "
                                    f"{what} unencrypted (only loopback hosts may use http)")
    return url


def _check_upload_url(url: object) -> str:
    checked = check_upload_url(url, "photos")
    if "${" in checked:
        raise UploadError("getUploadUrl", "upload_url still has a ${...} placeholder; put the photo ids "
                                          "in it first (fill_photo_ids)")
    return checked


#: What ``getUploadUrl`` with ``placeholders=true`` leaves in the URL for the ids (DOC-PHOTO).
PHOTO_IDS_PLACEHOLDER = "${photoIds}"


def fill_photo_ids(upload_url: str, photo_ids: Iterable[str]) -> str:
    """``upload_url`` with its ``${photoIds}`` placeholder replaced by ``photo_ids``.

    With ``placeholders=true``, ``photosV2.getUploadUrl`` returns a URL in which the ids of the
    photos a POST carries go, comma-separated, in place of ``${photoIds}`` (DOC-PHOTO), so one
    URL serves several uploads of subsets. Ids are base64 (``+``, ``/``, ``=``): each is
    percent-encoded. A URL without the placeholder comes back unchanged.
    """
    ids = [photo_ids] if isinstance(photo_ids, str) else list(photo_ids)
    if not ids or not all(isinstance(i, str) and i for i in ids):
        raise UsageError("fill_photo_ids needs one or more non-empty photo id strings")
    return upload_url.replace(PHOTO_IDS_PLACEHOLDER, ",".join(quote(i, safe="") for i in ids))


def parse_upload_url(result: object, count: int) -> tuple[tuple[str, ...], str]:
    """``(photo_ids, upload_url)`` from a ``photosV2.getUploadUrl`` result; ``count`` ids expected."""
    if not isinstance(result, Mapping):
        raise UploadError("getUploadUrl", f"expected an object, got {type(result).__name__}")
    ids = result.get("photo_ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
        raise UploadError("getUploadUrl", "the reply has no photo_ids list")
    if len(ids) != count:
        raise UploadError("getUploadUrl", f"asked for {count} photo ids, got {len(ids)}")
    if len(set(ids)) != len(ids):
        raise UploadError("getUploadUrl", "photo_ids has duplicates")
    url = result.get("upload_url")
    if isinstance(url, str):
        # upload_photos sends every photo in one POST, so all the ids fill a placeholder URL.
        url = fill_photo_ids(url, ids)
    return tuple(ids), _check_upload_url(url)


def _coerce(item: Photo | PhotoFile | bytes) -> Photo | PhotoFile:
    return item if isinstance(item, PhotoFile) else Photo.coerce(item)


def prepare_upload(upload_url: str, photos: Iterable[Photo | PhotoFile | bytes], boundary: str) -> Request:
    """The multipart POST of the photos to ``upload_url`` (unsigned: the URL's apiToken is the
    credential; docs/protocol.md §7.2 step 2). The body is bytes when every photo is in memory,
    else a :class:`~okru_proto.adapter.StreamedBody` the adapter streams (its files unread)."""
    content_type, body = multipart_body([_coerce(p) for p in photos], boundary)
    return Request("POST", _check_upload_url(upload_url), (("content-type", content_type),),
                   body.to_bytes() if body.in_memory else body)


def parse_upload_reply(response: Response, photo_ids: Iterable[str]) -> tuple[UploadedPhoto, ...]:
    """The upload host's ``{"photos": {photo_id: {"token": ...}}}`` as one :class:`UploadedPhoto`
    per id, in ``photo_ids`` order. Error objects raise their :class:`APIError` (e.g. 503
    PHOTO_INVALID_FORMAT); anything else unusable raises :class:`UploadError` (step ``upload``)."""
    try:
        # The upload host "always replies in JSON" (DOC-PHOTO), with OK's error objects.
        value = parse_call_response(response, "uploadImage")
    except APIError:
        raise
    except ProtocolError as exc:
        raise UploadError("upload", str(exc).removeprefix("uploadImage: "), response=response) from exc
    photos = value.get("photos") if isinstance(value, dict) else None
    if not isinstance(photos, dict):
        raise UploadError("upload", f"the reply has no photos object ({describe_body(response)})",
                          response=response)
    out: list[UploadedPhoto] = []
    for pid in photo_ids:
        entry = photos.get(pid)
        token = entry.get("token") if isinstance(entry, dict) else None
        if not isinstance(token, str) or not token:
            raise UploadError("upload", f"no token for photo {len(out) + 1} in the reply",
                              photos=tuple(out), response=response)
        out.append(UploadedPhoto(pid, token))
    return tuple(out)


def commit_params(photos: Iterable[UploadedPhoto]) -> dict[str, object]:
    """``photosV2.commit`` parameters: ``photo_id`` + ``token`` for one photo, the ``photos`` JSON
    list for several (DOC-REPO, docs/protocol.md §7.2 step 3)."""
    items = list(photos)
    if len(items) == 1:
        return {"photo_id": items[0].photo_id, "token": items[0].token}
    return {"photos": json.dumps([{"photo_id": p.photo_id, "token": p.token} for p in items],
                                 separators=(",", ":"))}


def parse_commit(result: object, photos: Iterable[UploadedPhoto]) -> tuple[UploadedPhoto, ...]:
    """The photos with ``status``/``assigned_photo_id`` from a ``photosV2.commit`` result.

    Raises :class:`UploadError` (step ``commit``, with every photo's outcome in ``.photos``) when
    any photo is ``FAILED`` or missing from the reply.
    """
    items = tuple(photos)
    entries = result.get("photos") if isinstance(result, Mapping) else None
    if not isinstance(entries, list):
        raise UploadError("commit", "the reply has no photos list", photos=items)
    by_id: dict[str, Mapping[str, Any]] = {}
    for entry in entries:
        if isinstance(entry, Mapping) and isinstance(entry.get("photo_id"), str):
            by_id.setdefault(entry["photo_id"], entry)
    out: list[UploadedPhoto] = []
    failed = 0
    for photo in items:
        entry = by_id.get(photo.photo_id)
        status = entry.get("status") if entry is not None else None
        assigned = entry.get("assigned_photo_id") if entry is not None else None
        status_text = status if isinstance(status, str) else None
        assigned_id = str(assigned) if isinstance(assigned, (str, int)) and assigned != "" else None
        if status_text != "SUCCESS":
            failed += 1
        out.append(UploadedPhoto(photo.photo_id, photo.token, assigned_id, status_text))
    if failed:
        raise UploadError("commit", f"{failed} of {len(items)} photos not committed (status FAILED or "
                                    "missing); .photos has each photo's status", photos=tuple(out))
    return tuple(out)


def upload_photos_flow(
    core: SessionCore,
    photos: Iterable[Photo | PhotoFile | bytes],
    *,
    boundary: str,
    aid: str | int | None = None,
    gid: str | int | None = None,
    commit: bool | None = None,
    params: Mapping[str, object] | None = None,
) -> Flow[tuple[UploadedPhoto, ...]]:
    """Upload ``photos`` with ``core`` (a :class:`~okru_proto.adapter.SessionCore`): the whole of
    docs/protocol.md §7.2 as one flow. Returns one :class:`UploadedPhoto` per photo, in order.

    ``aid`` picks an album (default: the user's personal album), ``gid`` a group. ``commit``
    defaults to True except for a group upload without an album (``gid`` and no ``aid``): those
    photos are meant for a group mediatopic, which DOC-REPO says must not be committed. Extra
    ``params`` go to ``photosV2.getUploadUrl`` (e.g. ``{"uid": ...}`` for a session-less call).
    Errors are scrubbed of the session's secrets and the upload URL's ``apiToken``.
    """
    return guarded(_upload_photos_flow(core, photos, boundary=boundary, aid=aid, gid=gid, commit=commit,
                                       params=params), core.secret_values)


def _upload_photos_flow(
    core: SessionCore,
    photos: Iterable[Photo | PhotoFile | bytes],
    *,
    boundary: str,
    aid: str | int | None,
    gid: str | int | None,
    commit: bool | None,
    params: Mapping[str, object] | None,
) -> Flow[tuple[UploadedPhoto, ...]]:
    items = tuple(_coerce(p) for p in photos)
    if not items:
        raise UsageError("upload_photos needs at least one photo")
    multipart_body(items, boundary)  # refuse a bad boundary before any request is made
    if commit is None:
        commit = not (gid is not None and aid is None)
    call: dict[str, object] = dict(params or {})
    call["count"] = len(items)
    if aid is not None:
        call["aid"] = aid
    if gid is not None:
        call["gid"] = gid
    reply = yield from core.call_flow("photosV2.getUploadUrl", call, pass_error=False)
    photo_ids, upload_url = parse_upload_url(reply, len(items))
    response = yield prepare_upload(upload_url, items, boundary)
    uploaded = parse_upload_reply(response, photo_ids)
    if not commit:
        return uploaded
    result = yield from core.call_flow("photosV2.commit", commit_params(uploaded), pass_error=False)
    return parse_commit(result, uploaded)


