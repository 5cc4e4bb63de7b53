"""What okru reads from and keeps about a video upload host: the one place to correct.

OK does not publish the upload host's chunk reply or status body (docs/protocol.md §12), so
everything read from them goes through :func:`parse_upload_status`; :class:`ResumeState` is what
is kept to continue an upload later, and :func:`mask_upload_url` how the URL (a credential) is
shown. The two request shapes (:func:`multipart_body`, :func:`chunk_request` with
:func:`content_range`) are here too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ._body import SourceRange, StreamedBody
from ._errors import UsageError
from ._types import Request, Response

__all__ = ["DEFAULT_CHUNK_SIZE", "ResumeState", "UploadStatus", "chunk_request", "content_range",
           "mask_upload_url", "multipart_body", "parse_upload_status", "url_secrets"]

_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=?]{1,70}")

#: Bytes per resumable chunk (okru's choice; OK publishes no recommended size). A chunk is one
#: request: a session's whole-call timeout bounds one chunk, not the whole upload.
DEFAULT_CHUNK_SIZE = 8 << 20


def mask_upload_url(url: str) -> str:
    """``scheme://host/***``: the upload URL authorizes uploads to the user's videos, and OK
    does not say which part of it is the token, so only the host is ever shown."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname or '?'}{':' + str(parts.port) if parts.port else ''}/***"
    except ValueError:
        return "<upload URL>"


def url_secrets(url: str) -> list[str]:
    """The spellings of an upload URL's secret parts, for :func:`~okru_proto.adapter.scrub_error`."""
    out = [url]
    try:
        parts = urlsplit(url)
    except ValueError:
        return out
    tail = parts.path + ("?" + parts.query if parts.query else "")
    if len(tail) > 1:
        out.append(tail)
    out += [v for _, v in parse_qsl(parts.query, keep_blank_values=True) if len(v) >= 6]
    out += [seg for seg in parts.path.split("/") if len(seg) >= 16]
    return out


@dataclass(frozen=True, slots=True)
class ResumeState:
    """Where an interrupted resumable upload stands, enough to continue it in another process.

    ``upload_url`` is a credential (shown masked in the repr; :meth:`to_json` writes it in
    clear, so keep that file private). ``confirmed`` is how many bytes the server is known to
    hold. ``upload_video(source, resume=state)`` checks that the source still has ``size``
    bytes, asks the server what it holds and continues from there.
    """

    upload_url: str
    video_id: str
    size: int
    confirmed: int = 0
    chunk_size: int = DEFAULT_CHUNK_SIZE
    file_name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.upload_url, str) or not isinstance(self.video_id, str) or not self.video_id:
            raise UsageError("ResumeState needs upload_url and video_id strings")
        for name in ("size", "confirmed", "chunk_size"):
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise UsageError(f"ResumeState.{name} must be an int >= 0, got {value!r}")
        if self.confirmed > self.size or self.chunk_size < 1:
            raise UsageError("ResumeState.confirmed must be <= size and chunk_size >= 1")

    def to_json(self) -> str:
        """A small JSON object (holds the upload URL: store it like a token)."""
        return json.dumps({"okru": "video-resume", "version": 1, "upload_url": self.upload_url,
                           "video_id": self.video_id, "size": self.size, "confirmed": self.confirmed,
                           "chunk_size": self.chunk_size, "file_name": self.file_name})

    @classmethod
    def from_json(cls, text: str | bytes) -> ResumeState:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"not a video resume state (not JSON: {exc})") from None
        if not isinstance(data, dict) or data.get("okru") != "video-resume" or data.get("version") != 1:
            raise UsageError("not a video resume state (written by okru's ResumeState.to_json, version 1)")
        try:
            return cls(data["upload_url"], str(data["video_id"]), data["size"], data["confirmed"],
                       data.get("chunk_size", DEFAULT_CHUNK_SIZE), data.get("file_name", ""))
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


def _quote_name(name: str) -> str:
    return name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def multipart_body(source: Any, size: int, file_name: str, boundary: str) -> tuple[str, StreamedBody]:
    """``(content_type, body)``: one ``data`` file part (the field name of OK's curl example),
    the source streamed between the preamble and the epilogue."""
    if not _BOUNDARY.fullmatch(boundary):
        raise UsageError("the multipart boundary must be 1-70 characters from [0-9A-Za-z'()+_,-./:=?]")
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"data\"; "
            f"filename=\"{_quote_name(file_name)}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
    tail = f"\r\n--{boundary}--\r\n"
    return (f"multipart/form-data; boundary={boundary}",
            StreamedBody((head.encode("utf-8"), SourceRange(source, 0, size), tail.encode("ascii"))))


def chunk_request(upload_url: str, source: Any, offset: int, end: int, total: int) -> Request:
    """One resumable chunk: bytes ``[offset, end)`` with ``Content-Range`` and a non-multipart
    content type (what selects resumable mode; OK names no specific type)."""
    return Request("POST", upload_url, (("content-type", "application/octet-stream"),
                                        ("content-range", content_range(offset, end, total))),
                   StreamedBody((SourceRange(source, offset, end - offset),)))
