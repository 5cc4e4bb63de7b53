"""The one ``multipart/form-data`` writer: every upload that sends a form (photos, video) builds
its body here, so the boundary rule and the name quoting exist once.

OK's upload hosts take a browser's form upload (docs/protocol.md §7.2 for photos, §12 for
video); what varies is only the parts: ``pic1``, ``pic2``... for photos, one ``data`` part for a
video. A part's content is bytes held in memory or a :class:`~okru_proto.adapter.SourceRange` of
the user's source, which the adapter streams; the body is a
:class:`~okru_proto.adapter.StreamedBody` either way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ._errors import UsageError
from ._values import SourceRange, StreamedBody

__all__ = ["FormFile", "check_boundary", "form_data_body"]

# RFC 2046 §5.1.1: 1..70 characters from this set (we leave out space, which needs quoting).
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=?]{1,70}")


@dataclass(frozen=True, slots=True)
class FormFile:
    """One file part of a form: its field name, file name, content type and content."""

    name: str
    filename: str
    content_type: str
    content: bytes | SourceRange


def check_boundary(boundary: object) -> str:
    """``boundary`` if it is 1-70 boundary characters, else a :class:`~okru_proto.UsageError`.

    It comes from the caller (adapters use ``secrets.token_hex(16)``): the core takes no
    randomness."""
    if not isinstance(boundary, str) or not _BOUNDARY.fullmatch(boundary):
        raise UsageError("the multipart boundary must be 1-70 characters from [0-9A-Za-z'()+_,-./:=?]")
    return boundary


def _quote_name(name: str) -> str:
    # HTML's multipart/form-data encoding of names (WHATWG): escape ", CR and LF; other text,
    # Cyrillic included, goes as UTF-8, as browsers send it.
    return name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def form_data_body(files: Iterable[FormFile], boundary: str) -> tuple[str, StreamedBody]:
    """``(content_type, body)`` of a ``multipart/form-data`` body with one part per file.

    In-memory content must not hold the delimiter (checked); a :class:`SourceRange` is not
    searched (that would read it): a random 128-bit boundary occurring in it by chance is as
    likely as guessing a 128-bit key."""
    delimiter = b"--" + check_boundary(boundary).encode("ascii")
    parts: list[bytes | SourceRange] = []
    pending = bytearray()  # the literal bytes between two contents: one part
    for file in files:
        if isinstance(file.content, bytes) and delimiter in file.content:
            raise UsageError(f"the multipart boundary occurs in the bytes of {file.name!r}; pass another one")
        head = (f'Content-Disposition: form-data; name="{_quote_name(file.name)}"; '
                f'filename="{_quote_name(file.filename)}"\r\nContent-Type: {file.content_type}\r\n\r\n')
        pending += delimiter + b"\r\n" + head.encode("utf-8", "replace")
        # The content is its own part: bytes as given (no copy), or the source's range.
        parts += [bytes(pending), file.content]
        pending = bytearray(b"\r\n")
    if not parts:
        raise UsageError("a multipart body needs at least one part")
    pending += delimiter + b"--\r\n"
    parts.append(bytes(pending))
    return f"multipart/form-data; boundary={boundary}", StreamedBody(tuple(parts))
