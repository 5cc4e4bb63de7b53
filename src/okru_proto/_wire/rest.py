"""Signed REST calls: build the request (``prepare_call``) and read the reply (``parse_*``).

docs/protocol.md §1.1 (endpoints, GET and POST), §2 (signature), §4 (response shapes).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote_plus

from .._errors import (
    HTTPStatusError,
    ProtocolError,
    UsageError,
    api_error_from_payload,
)
from .._scrub import excerpt, scrub_error, scrub_text, secret_forms
from .._values import Endpoints, Request, Response, Secret, reveal
from .sign import java_key_order, sign_pairs, wire_params

__all__ = [
    "FORM_CONTENT_TYPE",
    "RESERVED_PARAMS",
    "check_method_name",
    "describe_body",
    "form_encode",
    "parse_call_response",
    "parse_json_body",
    "prepare_call",
]

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
_FORM_HEADERS = (("content-type", FORM_CONTENT_TYPE),)

#: Parameters the core adds itself; passing them as method params is a usage error.
RESERVED_PARAMS = frozenset({"method", "application_key", "format", "sig", "access_token"})

_METHOD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+")
_SAFE = re.compile(r"[A-Za-z0-9_.~-]*")
_SAFE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
#: ``quote_plus(c, safe="")`` of every ASCII character, as a ``str.translate`` table.
_ASCII_QUOTE = str.maketrans({chr(c): chr(c) if chr(c) in _SAFE_CHARS else "+" if c == 32 else f"%{c:02X}"
                              for c in range(128)})


def _quote(text: str) -> str:
    # Most OK parameter values are ids and names: skip quote_plus's work when nothing needs it.
    if _SAFE.fullmatch(text):
        return text
    if text.isascii():
        # Comma-joined lists ("1,2,3") are the usual case: a translate is ~7x cheaper than
        # quote_plus and gives the same text for ASCII.
        return text.translate(_ASCII_QUOTE)
    return quote_plus(text, safe="")


#: Parameter names (never values: those may be credentials) -> their encoded form. Names come
#: from code, so there are few; the cap only guards against names built from data.
_QUOTED_KEYS: dict[str, str] = {}


def form_encode(pairs: Iterable[tuple[str, str]]) -> str:
    """``application/x-www-form-urlencoded`` text (the same encoding a query string uses)."""
    keys = _QUOTED_KEYS
    parts = []
    try:
        for k, v in pairs:
            key = keys.get(k)
            if key is None:
                key = _quote(k)
                if len(keys) < 1024:
                    keys[k] = key
            parts.append(f"{key}={_quote(v)}")
        return "&".join(parts)
    except UnicodeEncodeError:
        raise UsageError("a parameter holds text that is not valid Unicode (a lone surrogate?)") from None


def check_method_name(method: str) -> str:
    if type(method) is not str or not _METHOD_NAME.fullmatch(method):
        raise UsageError(f"REST method names look like 'group.method', got {method!r}")
    return method


def prepare_call(
    method: str,
    params: Mapping[str, object] | None = None,
    *,
    app_key: str | None,
    endpoints: Endpoints,
    secret: Secret | str | None,
    access_token: Secret | str | None = None,
    http_method: str = "POST",
) -> Request:
    """The :class:`Request` for one REST call.

    Adds ``application_key`` (when given), ``format=json`` and ``method``, converts values with
    :func:`~okru_proto.adapter.wire_value`, signs with ``secret`` (None: unsigned, e.g. ``auth.login``)
    and appends ``sig`` and ``access_token`` after signing (``access_token`` is never signed).
    POST (default) sends a form body to ``{api}/fb.do``, which keeps tokens out of URLs and
    access logs; ``http_method="GET"`` sends the same parameters as a query string.
    """
    check_method_name(method)
    wired = wire_params(params) if params else {}
    if wired.keys() & RESERVED_PARAMS:
        clash = sorted(wired.keys() & RESERVED_PARAMS)
        raise UsageError(f"{method}: {', '.join(clash)} are set by okru; do not pass them")
    if app_key is not None:
        wired["application_key"] = app_key
    wired["format"] = "json"
    wired["method"] = method
    # Sent in the signed order (docs/protocol.md §2.4), so the encoding and the signature share
    # one sort; ``sig`` is then appended.
    pairs = java_key_order(wired)
    if secret is not None:
        pairs.append(("sig", sign_pairs(pairs, secret, f"{method} parameters")))
    if access_token is not None:
        pairs.append(("access_token", reveal(access_token)))
    encoded = form_encode(pairs)
    if http_method == "POST":
        return Request("POST", endpoints.rest_url, _FORM_HEADERS, encoded.encode("ascii"))
    if http_method == "GET":
        return Request("GET", f"{endpoints.rest_url}?{encoded}")
    raise UsageError(f"http_method must be 'POST' or 'GET', got {http_method!r}")


def _html_title(body: bytes) -> str | None:
    match = re.search(rb"<title[^>]*>(.*?)</title>", body[:4096], re.IGNORECASE | re.DOTALL)
    if not match:
        return None
    title = match.group(1).decode("utf-8", "replace").strip()
    return excerpt(" ".join(title.split()), 120) or None


def describe_body(response: Response) -> str:
    """A short description of a reply for error messages (never the body itself: it may hold tokens)."""
    ctype = response.header("content-type") or "no content-type"
    text = f"HTTP {response.status}, {ctype}, {len(response.body)} bytes"
    title = _html_title(response.body) if b"<" in response.body[:512] else None
    return f"{text}, page title {title!r}" if title else text


def parse_json_body(response: Response, what: str) -> Any:
    """Decode a JSON body or raise :class:`ProtocolError` naming ``what`` and the status.

    An empty body is ``None`` (OK answers some methods with an empty 200, docs/protocol.md §4).
    """
    body = response.body
    if not body.strip():
        return None
    first = body.lstrip()[:1]
    if first == b"<":
        raise ProtocolError(
            f"{what}: expected JSON, got an HTML/XML page ({describe_body(response)})",
            method=what, status=response.status, response=response,
        )
    # Raised after the except blocks, not inside: UnicodeDecodeError.object and
    # JSONDecodeError.doc hold the whole body (tokens, or a server's echo of the request), and
    # ``from None`` would still keep them reachable as ``__context__``.
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        problem = "reply is not UTF-8"
    else:
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            problem = "reply is not valid JSON, truncated or garbled"
    raise ProtocolError(f"{what}: {problem} ({describe_body(response)})",
                        method=what, status=response.status, response=response)


def _scrub(text: str, secrets: Iterable[Secret | str | None]) -> str:
    return scrub_text(text, secret_forms(secrets))


def parse_call_response(
    response: Response,
    method: str,
    *,
    pass_error: bool = False,
    secrets: Iterable[Secret | str | None] = (),
) -> Any:
    """The result of a REST call: the bare JSON value OK sent (object, array, string, number,
    boolean; an empty body is ``None``).

    An OK error object raises the matching :class:`APIError` subclass, or with ``pass_error``
    is returned as the raw dict. Non-2xx, HTML, non-UTF-8 or broken JSON raise
    :class:`ProtocolError` (:class:`HTTPStatusError` for the status). ``secrets`` are masked out
    of OK's error text should it ever echo one.
    """
    status = response.status
    if status != 200 and not 200 <= status < 300:
        raise HTTPStatusError(
            f"{method}: OK.ru answered HTTP {status} ({describe_body(response)})",
            method=method, status=status, response=response,
        )
    value = parse_json_body(response, method)
    if type(value) is dict and "error_code" in value:
        if pass_error:
            return value
        raise scrub_error(api_error_from_payload(value, method), secrets) if secrets else \
            api_error_from_payload(value, method)
    invocation_error = response.header("invocation-error") if response.headers else None
    if invocation_error is not None:
        # OK flags errors with this header (docs/protocol.md §4); a body that is not an error object
        # beside it is a broken reply, but the code is still the truth.
        try:
            code = int(invocation_error)
        except ValueError:
            raise ProtocolError(
                f"{method}: Invocation-Error header {excerpt(invocation_error, 40)!r} is not a code",
                method=method, status=status, response=response,
            ) from None
        error = api_error_from_payload({"error_code": code}, method)
        if pass_error:
            return {"error_code": code, "error_msg": error.msg, "error_data": None}
        raise error
    return value

