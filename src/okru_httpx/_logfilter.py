"""httpx's and httpcore's log lines: everything that keeps credentials out of them lives here.

httpx logs each request URL at INFO and httpcore each response's head at DEBUG: an upload URL's
apiToken (a video or bot file upload URL's ``sig``: OK does not say which of its parts is the
credential), a GET call's access_token, the dialogs' login cookie and the implicit grant's
redirect fragment (access_token, session_secret_key) would all land in the application's logs,
and so would whatever a hostile server echoes into a response header, a reason phrase or a
malformed head. :class:`RedactCredentials` on those loggers masks:

* credential values by name (:data:`~okru_proto.adapter.SECRET_PARAM_NAMES`, plus ``sig`` and
  ``expires``) anywhere in a line, and every query value of an ``/upload.do`` URL (OK's upload
  hosts' path, photos, videos and bot files alike): :func:`mask_url_query`;
* server-supplied text okru cannot vouch for, since a filter cannot know which bytes are a
  secret: every response header value but those of a few headers whose value has a fixed,
  harmless shape (``Content-Length`` digits, a ``Content-Type`` media type...), a reason phrase
  that is not the standard one for its status, and the quoted bytes of an h11 parse error.

Everything else in the line stays.

Installing it changes process-wide loggers, so importing okru_httpx does not: the first okru
session or bot made with httpx calls :func:`install_log_filter` (idempotent), and
:func:`remove_log_filter` takes it off again and stops sessions from putting it back, for an
application that filters these loggers itself (docs/httpx.md, "Logging").
"""

from __future__ import annotations

import ast
import logging
import re
import threading
from http import HTTPStatus

from okru_proto.adapter import SECRET_PARAM_NAMES

__all__ = ["LOGGER_NAMES", "LOG_SECRET_NAMES", "RedactCredentials", "install_log_filter", "log_filter_installed",
           "mask_line", "mask_url_query", "remove_log_filter"]

#: The loggers the filter goes on. Logger filters do not apply to child loggers, hence each
#: httpcore module by name.
LOGGER_NAMES = ("httpx", "httpcore", "httpcore.connection", "httpcore.http11", "httpcore.http2",
                "httpcore.proxy", "httpcore.socks")

MASK = "***"
#: Query parameters masked in these logs: the credentials, and the parts of an upload URL that
#: authorize it (OK's video and bot file upload URLs: ``upload.do?sig=...&expires=...``).
LOG_SECRET_NAMES = SECRET_PARAM_NAMES | {"sig", "expires"}
_NAMES = "|".join(re.escape(n) for n in sorted(SECRET_PARAM_NAMES, key=len, reverse=True))
# "sig" and "expires" are short: only as whole names ("design=" is not "sig=").
_CREDENTIAL_VALUE = re.compile(rf"((?:{_NAMES})=|(?<![A-Za-z_.])(?:sig|expires)=)[^&#\s'\"]+")
_COOKIE_VALUE = re.compile(r"((?:set-)?cookie'?,\s*b?['\"][^=;'\"]+=)[^;'\"]*", re.IGNORECASE)
#: An upload host's URL (photos, videos, bot files: OK serves all three at ``/upload.do``):
#: every query value is masked, whatever its name.
_UPLOAD_QUERY = re.compile(r"(/upload\.do\?)([^\s'\"#]*)", re.IGNORECASE)
_VALUE = re.compile(r"(=)[^&]+")

# httpcore's DEBUG lines show reply bytes as Python bytes literals.
_BYTES = r"b'(?:[^'\\]|\\.)*'|b\"(?:[^\"\\]|\\.)*\""
_HEADER_PAIR = re.compile(rf"\(({_BYTES}), ({_BYTES})\)")
_HTTP11_HEAD = re.compile(rf"(return_value=\(b'HTTP/[0-9.]+', )(\d{{3}})(, )({_BYTES})")
_QUOTED = re.compile(_BYTES)
_HTTPX_LINE = re.compile(r'^(HTTP Request: \S+ \S+ "HTTP/[0-9.]+ )(\d{3}) (.*)"$', re.DOTALL)

_DIGITS = re.compile(r"\d{1,19}").fullmatch
_MEDIA_TYPE = re.compile(r"[a-z]+/[a-z0-9.+-]{1,64}(\s*;\s*charset=\"?[a-z0-9_-]{1,32}\"?)?",
                         re.IGNORECASE).fullmatch
_HTTP_DATE = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT").fullmatch
_CODINGS = frozenset({"gzip", "x-gzip", "deflate", "identity", "br", "zstd", "compress", "chunked"})
_CONNECTION = frozenset({"keep-alive", "close"})


def _words(allowed: frozenset[str]) -> object:
    return lambda value: all(w.strip().lower() in allowed for w in value.split(","))


#: Response headers whose value is shown when it has this fixed, harmless shape; every other
#: header value is masked (a server may echo a token in any of them).
_SHOWN_HEADERS: dict[str, object] = {
    "content-length": _DIGITS,
    "content-type": _MEDIA_TYPE,
    "content-encoding": _words(_CODINGS),
    "transfer-encoding": _words(_CODINGS),
    "connection": _words(_CONNECTION),
    "date": _HTTP_DATE,
}


def mask_url_query(path: str, query: str) -> str:
    """``query`` (as sent, still percent-encoded) with credential values masked: every value of
    an ``/upload.do`` URL, else those of :data:`LOG_SECRET_NAMES`; the rest as it was."""
    if not query:
        return query
    if path.lower().endswith("/upload.do"):
        return "&".join(_VALUE.sub(r"\1" + MASK, part) for part in query.split("&"))
    return _CREDENTIAL_VALUE.sub(r"\1" + MASK, query)


def _literal(text: str) -> str:
    """The str a bytes literal from httpcore's line stands for (latin-1, as h11 reads a head)."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return ""
    return value.decode("latin-1") if isinstance(value, bytes) else ""


def _header(match: re.Match[str]) -> str:
    name, value = match.group(1), match.group(2)
    check = _SHOWN_HEADERS.get(_literal(name).lower())
    if callable(check) and check(_literal(value)):
        return match.group(0)
    return f"({name}, b'{MASK}')"


def _standard_reason(status: str, reason: str) -> bool:
    try:
        return HTTPStatus(int(status)).phrase.lower() == reason.lower()
    except ValueError:
        return False


def _http11_head(match: re.Match[str]) -> str:
    if _standard_reason(match.group(2), _literal(match.group(4))):
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}{match.group(3)}b'{MASK}'"


def _httpx_line(match: re.Match[str]) -> str:
    if _standard_reason(match.group(2), match.group(3)):
        return match.group(0)
    return f'{match.group(1)}{match.group(2)} {MASK}"'


def mask_line(text: str) -> str:
    """One httpx or httpcore log line with credentials and unvouched server text masked."""
    if "/upload.do?" in text or "/UPLOAD.DO?" in text.upper():
        text = _UPLOAD_QUERY.sub(lambda m: m.group(1) + mask_url_query("/upload.do", m.group(2)), text)
    text = _COOKIE_VALUE.sub(r"\1" + MASK, _CREDENTIAL_VALUE.sub(r"\1" + MASK, text))
    if text.startswith("HTTP Request: "):
        text = _HTTPX_LINE.sub(_httpx_line, text)
    elif text.startswith("receive_response_headers.complete"):
        text = _HEADER_PAIR.sub(_header, _HTTP11_HEAD.sub(_http11_head, text))
    elif ".failed exception=" in text:
        # h11 quotes the bytes it could not parse (a status line, a header): server text.
        text = _QUOTED.sub(f"b'{MASK}'", text)
    return text


class RedactCredentials(logging.Filter):
    """Masks credentials and unvouched server text in httpx's and httpcore's own log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is not ours to fix; let logging report it
            return True
        masked = mask_line(text)
        if masked != text:
            record.msg, record.args = masked, ()
        return True


_REDACT = RedactCredentials()
_lock = threading.Lock()
#: "pending" until a session or the application installs the filter; "removed" after
#: remove_log_filter(), when sessions leave the loggers alone.
_state = "pending"


def install_log_filter() -> None:
    """Put :class:`RedactCredentials` on httpx's and httpcore's loggers (once; calling it again
    does nothing). Sessions call it when they are made; call it yourself to mask those loggers
    before any session exists, or to undo :func:`remove_log_filter`."""
    global _state
    with _lock:
        for name in LOGGER_NAMES:
            logger = logging.getLogger(name)
            if not any(isinstance(f, RedactCredentials) for f in logger.filters):
                logger.addFilter(_REDACT)
        _state = "installed"


def remove_log_filter() -> None:
    """Take the filter off httpx's and httpcore's loggers, and keep sessions made later from
    installing it again (until :func:`install_log_filter`). Their lines may then hold tokens."""
    global _state
    with _lock:
        for name in LOGGER_NAMES:
            logger = logging.getLogger(name)
            for f in [f for f in logger.filters if isinstance(f, RedactCredentials)]:
                logger.removeFilter(f)
        _state = "removed"


def log_filter_installed() -> bool:
    """True when every logger in :data:`LOGGER_NAMES` carries the filter."""
    return all(any(isinstance(f, RedactCredentials) for f in logging.getLogger(name).filters)
               for name in LOGGER_NAMES)


def session_made() -> None:
    """Every okru_httpx session and bot constructor calls this: installs the filter the first
    time, unless the application removed it."""
    if _state == "pending":
        install_log_filter()
