"""Scrubbing: everything that keeps secrets out of error text and log lines lives here.

A server or proxy that echoes the request (an HTML error page quoting it in its ``<title>``, a
token.do ``error_description``, an ``error_msg``, an ``Invocation-Error`` header, a dialog URL's
``st.cmd``) would put the token, password or app secret it received into our exception text, and
from there into logs. Every flow that knows secrets passes its errors through
:func:`scrub_error`, so a new parser is covered without doing anything. :func:`excerpt` bounds
the server text okru quotes at all.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

from ._errors import Error

__all__ = ["ELLIPSIS", "MASK", "MIN_SECRET_LENGTH", "excerpt", "mask_upload_url", "scrub_error", "scrub_text", "secret_forms",
           "upload_url_secrets"]

#: Shorter values are not searched for: masking every "abc" would garble messages, and no OK.ru
#: credential is that short.
MIN_SECRET_LENGTH = 4
MASK = "***"
_PERCENT = re.compile(r"%[0-9A-F]{2}")


def _plain(value: object) -> str:
    reveal = getattr(value, "reveal", None)  # okru_proto.Secret, duck-typed: _values imports _errors
    text = reveal() if callable(reveal) else value
    return text if isinstance(text, str) else ""


def secret_forms(secrets: Iterable[object]) -> tuple[str, ...]:
    """Every spelling of each secret a server could echo back: as is, URL-encoded (``quote``
    and ``quote_plus``, upper- and lower-case hex), JSON-escaped (ASCII and not, ``\\/``),
    HTML-escaped and ``repr``-escaped; longest first, so a longer spelling is masked whole."""
    forms: set[str] = set()
    for secret in secrets:
        value = _plain(secret)
        if len(value) < MIN_SECRET_LENGTH:
            continue
        try:
            encoded = {quote(value, safe=""), quote(value), quote_plus(value, safe=""), quote_plus(value)}
        except UnicodeEncodeError:  # a lone surrogate: only the raw spellings exist
            encoded = set()
        encoded |= {_PERCENT.sub(lambda m: m.group(0).lower(), e) for e in encoded}
        escaped = {json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
        escaped |= {e.replace("/", "\\/") for e in escaped}
        forms |= {value, html.escape(value), repr(value)[1:-1], *encoded, *escaped}
    return tuple(sorted(forms, key=len, reverse=True))


#: Ends every excerpt of server text cut short (:func:`excerpt`), so a secret cut in the middle
#: is still recognised by its beginning.
ELLIPSIS = "…"


def excerpt(text: str, limit: int) -> str:
    """At most ``limit`` characters of server-supplied ``text``, ``…``-terminated when cut."""
    return text if len(text) <= limit else text[:limit] + ELLIPSIS


def scrub_text(text: str, forms: Iterable[str]) -> str:
    """``text`` with every one of ``forms`` (from :func:`secret_forms`) replaced by ``***``, and
    any beginning of one (4 characters or more) cut off by an :func:`excerpt`'s ``…``."""
    forms = tuple(forms)
    for form in forms:
        if form in text:
            text = text.replace(form, MASK)
    if ELLIPSIS in text:
        for form in forms:
            for end in range(len(form) - 1, MIN_SECRET_LENGTH - 1, -1):
                cut = form[:end] + ELLIPSIS
                if cut in text:
                    text = text.replace(cut, MASK + ELLIPSIS)
    return text


def _scrub_value(value: Any, forms: tuple[str, ...], depth: int = 0) -> Any:
    if isinstance(value, str):
        return scrub_text(value, forms)
    if depth > 20:
        return value
    if type(value) is dict:
        return {_scrub_value(k, forms, depth + 1): _scrub_value(v, forms, depth + 1) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(_scrub_value(v, forms, depth + 1) for v in value)
    return value


def scrub_error(exc: BaseException, secrets: Iterable[object]) -> BaseException:
    """Mask ``secrets`` (``Secret`` or str; every spelling, see :func:`secret_forms`) in ``exc``,
    in place: its ``args`` (hence ``str``/``repr``), its text attributes (``msg``, ``error``,
    ``error_description``, ``st_cmd``, ``data``...) and those of the okru errors it was raised
    from or during. Returns ``exc``, so ``raise scrub_error(exc, ...)`` keeps its traceback."""
    forms = secret_forms(secrets)
    if not forms:
        return exc
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        e.args = tuple(_scrub_value(a, forms) for a in e.args)
        if isinstance(e, Error):
            for name, value in list(vars(e).items()):
                if isinstance(value, (str, dict, list, tuple)):
                    setattr(e, name, _scrub_value(value, forms))
        notes = getattr(e, "__notes__", None)
        if isinstance(notes, list):
            notes[:] = [_scrub_value(n, forms) for n in notes]
        stack += [e.__cause__, e.__context__]
    return exc


# -- upload URLs: OK signs an upload host's URL (photos, video, bot files), so the URL is a credential --

def mask_upload_url(url: str) -> str:
    """``scheme://host/***``: the upload URL authorizes uploads to the user's videos, and OK
    does not say which part of it is the token, so only the host is ever shown."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname or '?'}{':' + str(parts.port) if parts.port else ''}/***"
    except ValueError:
        return "<upload URL>"


def upload_url_secrets(url: str) -> list[str]:
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
