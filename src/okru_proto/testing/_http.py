"""HTTP plumbing of the emulator: reading requests and building OK-shaped responses."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html import escape
from urllib.parse import parse_qsl, unquote, urlsplit

from .._errors import ERROR_CODES
from .._values import Request, Response

__all__ = [
    "HTML_TYPE",
    "JSON_TYPE",
    "BadRequest",
    "Incoming",
    "api_error",
    "html_page",
    "html_response",
    "json_response",
    "oauth_error",
    "parse_incoming",
    "parse_multipart",
    "plain_json",
    "redirect",
    "tomcat_error",
]

#: OK's exact content types (docs/protocol.md §4, real recordings).
JSON_TYPE = "application/json;charset=utf-8"
HTML_TYPE = "text/html;charset=utf-8"

#: Headers OK sends on API replies (docs/protocol.md §4: RUBY 2015 and WSMC 2023 captures).
_API_HEADERS: tuple[tuple[str, str], ...] = (
    ("pragma", "no-cache"),
    ("expires", "Thu, 01 Jan 1970 00:00:00 GMT"),
    ("cache-control", "no-cache, no-store"),
    ("content-language", "en-US"),
    ("x-content-type-options", "nosniff"),
)

#: More parameters than this is a hostile request; Tomcat's default limit is 10000.
MAX_FIELDS = 10_000


class BadRequest(Exception):
    """A request the servlet container itself would reject (answered with a 400 page)."""


@dataclass
class Incoming:
    """One decoded request: where it went and every parameter OK would see."""

    request: Request
    path: str
    base_url: str
    query: list[tuple[str, str]]
    form: list[tuple[str, str]]
    cookies: dict[str, str] = field(default_factory=dict)

    @property
    def params(self) -> dict[str, str]:
        # Query first, then body; the first value of a repeated name wins, as a servlet's
        # getParameter() does. OK signs the union of both (docs/protocol.md §1.1, SCRIBE).
        merged: dict[str, str] = {}
        for key, value in (*self.query, *self.form):
            if key:  # "=x" has no name: a servlet drops it, and so nothing of it is signed
                merged.setdefault(key, value)
        return merged


def _parse_qs(text: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(
            text, keep_blank_values=True, encoding="utf-8", errors="replace", max_num_fields=MAX_FIELDS
        )
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


def parse_incoming(request: Request) -> Incoming:
    """Split a request into path, query and form parameters (both percent-decoded, UTF-8)."""
    try:
        parts = urlsplit(request.url)
        parts.port  # noqa: B018  (validates the port: a bad Host header must not crash us)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    path = unquote(parts.path, errors="replace") or "/"
    base_url = f"{parts.scheme}://{parts.netloc}"
    query = _parse_qs(parts.query)
    form: list[tuple[str, str]] = []
    ctype = (request.header("content-type") or "").split(";", 1)[0].strip().lower()
    if ctype == "application/x-www-form-urlencoded" and type(request.body) is bytes and request.body:
        # A servlet parses only bodies labelled as forms; raw non-UTF-8 bytes become U+FFFD.
        form = _parse_qs(request.body.decode("utf-8", "replace"))
    cookies: dict[str, str] = {}
    for key, value in request.headers:
        if key != "cookie":
            continue
        for item in value.split(";"):
            name, eq, val = item.strip().partition("=")
            if eq and name:
                cookies.setdefault(name, val)
    return Incoming(request, path, base_url, query, form, cookies)


def json_body(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(value: object, status: int = 200, extra: tuple[tuple[str, str], ...] = ()) -> Response:
    """A success reply: the bare JSON value, no envelope (docs/protocol.md §4)."""
    return Response(status, (("content-type", JSON_TYPE), *_API_HEADERS, *extra), json_body(value))


def plain_json(body: object, status: int = 200) -> Response:
    """JSON with only a content type: the OAuth endpoints' replies, which carry none of the
    API's cache headers."""
    return Response(status, (("content-type", JSON_TYPE),), json_body(body))


def oauth_error(status: int, error: str, description: str) -> Response:
    """An OAuth error, RFC 6749 §5.2 shape: ``{"error", "error_description"}``."""
    return plain_json({"error": error, "error_description": description}, status)


def api_error(code: int, text: str, data: object = None) -> Response:
    """OK's error reply: HTTP 200, ``Invocation-Error`` header, ``SYMBOL : text`` (docs/protocol.md §4)."""
    symbol = ERROR_CODES[code].symbol if code in ERROR_CODES else "UNKNOWN"
    payload = {"error_code": code, "error_msg": f"{symbol} : {text}", "error_data": data}
    return json_response(payload, extra=(("invocation-error", str(code)),))


def html_page(title: str, body_html: str) -> str:
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{escape(title)}</title></head>\n<body>\n{body_html}\n</body></html>\n"
    )


def html_response(
    status: int, html: str, extra: tuple[tuple[str, str], ...] = (), content_type: str = HTML_TYPE
) -> Response:
    return Response(status, (("content-type", content_type), *extra), html.encode("utf-8"))


def redirect(location: str, extra: tuple[tuple[str, str], ...] = ()) -> Response:
    """A 302; dialogs use RELATIVE locations, final OAuth redirects absolute (docs/protocol.md §3.6)."""
    return Response(302, (("location", location), ("content-length", "0"), *extra), b"")


def tomcat_error(status: int, message: str) -> Response:
    """The servlet container's own error page (token.do on an empty POST, docs/protocol.md §3.1)."""
    title = f"HTTP Status {status} - {message}"
    page = html_page(
        title,
        f"<h1>{escape(title)}</h1><hr size=\"1\" noshade=\"noshade\"><p><b>type</b> Status report</p>"
        f"<p><b>message</b> <u>{escape(message)}</u></p><h3>Apache Tomcat</h3>",
    )
    return html_response(status, page)


@dataclass
class Part:
    name: str
    filename: str | None
    content_type: str
    data: bytes


def parse_multipart(content_type: str, body: bytes) -> list[Part] | None:
    """The parts of a ``multipart/form-data`` body, or None if it is not one (or is unreadable)."""
    if not content_type.lower().startswith("multipart/"):
        return None
    if "\r" in content_type or "\n" in content_type:
        return None
    # Imported here: email.utils pulls in socket, which the pure package otherwise never loads.
    import email.parser
    import email.policy

    try:
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
        )
        if not message.is_multipart():
            return None
        parts: list[Part] = []
        for sub in message.iter_parts():
            name = sub.get_param("name", header="content-disposition")
            filename = sub.get_filename()
            payload = sub.get_payload(decode=True)
            parts.append(
                Part(
                    name if isinstance(name, str) else "",
                    filename,
                    sub.get_content_type(),
                    payload if isinstance(payload, bytes) else b"",
                )
            )
        return parts
    except Exception:  # the stdlib parser has many failure modes on garbage; all mean "unreadable"
        return None
