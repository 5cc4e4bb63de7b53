"""What a photo upload sends: the photos themselves and the ``multipart/form-data`` body that carries them.

A photo is in memory (:class:`Photo`: its bytes) or a file on disk (:class:`PhotoFile`: its path
and the size the adapter measured). :func:`multipart_body` is the one writer of OK's upload form
(docs/protocol.md §7.2 step 2) for both: it returns a :class:`~okru_proto.adapter.StreamedBody`
whose in-memory photos are bytes parts and whose files are :class:`~okru_proto.adapter.SourceRange`
parts, so an adapter streams a file block by block and never holds it whole. Pure: no file is
opened here (the core reads no file, no clock, no randomness).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ._body import SourceRange, StreamedBody
from ._errors import UsageError

__all__ = ["Photo", "PhotoFile", "multipart_body", "sniff_content_type"]

# RFC 2046 §5.1.1: 1..70 characters from this set (we leave out space, which needs quoting).
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=?]{1,70}")

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


def _quote_name(name: str) -> str:
    # HTML's multipart/form-data encoding of names (WHATWG): escape ", CR and LF; other text,
    # Cyrillic included, goes as UTF-8, as browsers send it.
    return name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def multipart_body(photos: Iterable[Photo | PhotoFile], boundary: str) -> tuple[str, StreamedBody]:
    """``(content_type, body)`` of a ``multipart/form-data`` body with one part per photo,
    named ``pic1``, ``pic2``... as OK's upload form does (docs/protocol.md §7.2 step 2).

    ``boundary`` comes from the caller (adapters use ``secrets.token_hex(16)``): the core takes no
    randomness. It must be 1-70 boundary characters and must not occur in an in-memory photo's
    bytes. A :class:`PhotoFile` is not searched (that would read it): a random 128-bit boundary
    occurring in it by chance is as likely as guessing a 128-bit key.
    """
    if not isinstance(boundary, str) or not _BOUNDARY.fullmatch(boundary):
        raise UsageError("the multipart boundary must be 1-70 characters from [0-9A-Za-z'()+_,-./:=?]")
    items = list(photos)
    if not items:
        raise UsageError("upload at least one photo")
    delimiter = b"--" + boundary.encode("ascii")
    parts: list[bytes | SourceRange] = []
    pending = bytearray()  # the literal bytes between two photos: one part
    for number, photo in enumerate(items, 1):
        if isinstance(photo, Photo) and delimiter in photo.data:
            raise UsageError(f"the multipart boundary occurs in photo {number}'s bytes; pass another one")
        if not isinstance(photo, (Photo, PhotoFile)):
            raise UsageError(f"a photo is a Photo or a PhotoFile here, not {type(photo).__name__}")
        ctype = photo.content_type or "application/octet-stream"
        filename = photo.filename or f"pic{number}.{_EXTENSIONS.get(ctype, 'bin')}"
        head = (f'Content-Disposition: form-data; name="pic{number}"; filename="{_quote_name(filename)}"\r\n'
                f"Content-Type: {ctype}\r\n\r\n")
        pending += delimiter + b"\r\n" + head.encode("utf-8", "replace")
        # The photo is its own part: bytes as given (no copy), or the file's range.
        parts += [bytes(pending), photo.data if isinstance(photo, Photo) else SourceRange(photo.path, 0, photo.size)]
        pending = bytearray(b"\r\n")
    pending += delimiter + b"--\r\n"
    parts.append(bytes(pending))
    return f"multipart/form-data; boundary={boundary}", StreamedBody(tuple(parts))
