"""What ``okru_httpx`` (async) and ``okru_httpx.sync`` share: everything except the ``await``s.

Option handling, ``Request`` -> ``httpx.Request`` and ``httpx.Response`` -> ``Response``
conversion, error mapping and cookie isolation live here once (the per-call DEBUG line is the
core's). The two public modules add only their twin ``_send``/``call``/``authorize``/close
methods, a few lines each. No OK.ru knowledge anywhere in this package: that is ``okru_proto``'s.
"""

from __future__ import annotations

import logging
import re
import ssl
import time
from collections.abc import Iterable
from typing import Any, ClassVar

import httpx

from okru_proto import (
    CORE_OPTIONS,
    SECRET_PARAM_NAMES,
    Error,
    Request,
    Response,
    SessionSpec,
    TransportError,
    TransportTimeout,
    UsageError,
    mask_query,
)

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_TIMEOUT",
    "TRANSPORT_OPTIONS",
    "SessionBase",
    "closed_client_error",
    "httpx_url",
    "to_response",
    "transport_error",
]

#: Keyword options the httpx adapters take on top of :data:`okru_proto.CORE_OPTIONS`.
TRANSPORT_OPTIONS = frozenset({"client", "timeout"})

#: Timeout of the client a session creates itself (a user's own client keeps its settings).
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)

#: Pool limits of the client a session creates itself. httpx's default keeps 20 of its 100
#: connections alive; above 20 open connections httpcore 1.0.x then closes any IDLE one, even one
#: it has just handed to a waiting request, and with threads that request may already be reading
#: from it: ``ReadError: Bad file descriptor`` or a hang until the read timeout (encode/httpcore
#: #1110, unfixed in 1.0.9). Keeping as many alive as may be open takes that path out.
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=5.0)

_UNSET: Any = object()
_QUERY = re.compile(r"\?\S*")

# httpx logs each request URL at INFO and httpcore each response's headers at DEBUG: an upload
# URL's apiToken, a GET call's access_token, the dialogs' login cookie and the implicit grant's
# redirect fragment (access_token, session_secret_key) would all land in the application's logs.
# A filter on those loggers masks credential values; everything else in the line stays.
_NAMES = "|".join(re.escape(n) for n in sorted(SECRET_PARAM_NAMES))
_CREDENTIAL_VALUE = re.compile(rf"((?:{_NAMES})=)[^&#\s'\"]+")
_COOKIE_VALUE = re.compile(r"((?:set-)?cookie'?,\s*b?['\"][^=;'\"]+=)[^;'\"]*", re.IGNORECASE)


class RedactCredentials(logging.Filter):
    """Masks OK.ru credential values in httpx's and httpcore's own log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is not ours to fix; let logging report it
            return True
        masked = _COOKIE_VALUE.sub(r"\1***", _CREDENTIAL_VALUE.sub(r"\1***", text))
        if masked != text:
            record.msg, record.args = masked, ()
        return True


_REDACT = RedactCredentials()
for _name in ("httpx", "httpcore", "httpcore.connection", "httpcore.http11", "httpcore.http2",
              "httpcore.proxy", "httpcore.socks"):
    # Logger filters do not apply to child loggers, hence each httpcore module by name.
    _logger = logging.getLogger(_name)
    if not any(isinstance(f, RedactCredentials) for f in _logger.filters):
        _logger.addFilter(_REDACT)


class SessionBase(SessionSpec):
    """The transport half shared by the sync and async session bases (``_client_class`` differs)."""

    _client_class: ClassVar[type[httpx.Client] | type[httpx.AsyncClient]]
    _client: Any
    _owns_client: bool
    _timeout: Any

    def _init_transport(self, *, client: Any = None, timeout: Any = _UNSET, **unknown: Any) -> None:
        if unknown:
            valid = ", ".join(sorted(CORE_OPTIONS | TRANSPORT_OPTIONS))
            raise UsageError(
                f"{type(self).__name__} got unknown option(s) {', '.join(sorted(unknown))}; "
                f"the keyword options are: {valid}")
        expected = self._client_class
        self._urls = {}
        if timeout is _UNSET:
            # Per request: the client's own default (ours is DEFAULT_TIMEOUT).
            self._timeout = httpx.USE_CLIENT_DEFAULT
        else:
            self._timeout = _check_timeout(timeout)
        if client is None:
            self._client = expected(timeout=DEFAULT_TIMEOUT if timeout is _UNSET else self._timeout,
                                    limits=DEFAULT_LIMITS)
            self._owns_client = True
        elif isinstance(client, expected):
            # Used as it is: we never change its settings and never close it.
            self._client = client
            self._owns_client = False
        else:
            raise UsageError(
                f"client must be an {expected.__module__}.{expected.__qualname__}, "
                f"not {type(client).__name__}")

    _urls: dict[str, httpx.URL]

    def _clock(self) -> float:
        return time.time()

    @property
    def client(self) -> Any:
        """The httpx client this session sends through (yours if you passed ``client=``)."""
        return self._client


def _check_timeout(timeout: Any) -> httpx.Timeout:
    try:
        checked = httpx.Timeout(timeout)
        values = (checked.connect, checked.read, checked.write, checked.pool)
        if all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0)
               for v in values):
            return checked
    except (TypeError, ValueError):
        pass
    raise UsageError("timeout must be seconds (>= 0), None (no timeout), a (connect, read, write, pool) "
                     f"tuple or an httpx.Timeout; got {timeout!r}")


def _clean(text: str) -> str:
    # httpx messages rarely hold a URL, but when they do its query may hold a token.
    return _QUERY.sub("?...", text)[:300]


def _mask_request(exc: BaseException) -> None:
    # The httpx error stays our error's __cause__, and its .request repr shows the whole URL: in
    # GET mode that holds the access token, an upload URL its apiToken. Keep the request, masked.
    if isinstance(exc, httpx.RequestError) and exc._request is not None:
        original = exc._request
        masked = mask_query(original.url.query.decode("ascii", "replace"))
        if masked != original.url.query.decode("ascii", "replace"):
            try:
                url = original.url.copy_with(query=masked.encode())
            except (httpx.InvalidURL, ValueError, TypeError):
                url = original.url.copy_with(query=None)
            exc.request = httpx.Request(original.method, url)


def transport_error(exc: BaseException, request: Request) -> Error:
    """Our error for an httpx/OS failure (the caller raises it ``from exc``). Names the host only."""
    host = request.host
    _mask_request(exc)
    detail = _clean(str(exc))
    detail = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    tls = _tls_cause(exc)
    if isinstance(tls, ssl.SSLCertVerificationError):
        # Under trio, httpx's ConnectError has no text: the certificate failure is only a cause.
        return TransportError(f"TLS certificate verification failed for {host} "
                              f"({tls.verify_message or tls.reason}; {detail})")
    if isinstance(exc, httpx.TimeoutException):
        return TransportTimeout(f"timed out talking to {host} ({detail})")
    return TransportError(f"could not talk to {host} ({detail})")


def _tls_cause(exc: BaseException) -> ssl.SSLError | None:
    cause: BaseException | None = exc
    for _ in range(16):  # a bounded walk down __cause__/__context__
        if cause is None or isinstance(cause, ssl.SSLError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def closed_client_error(request: Request) -> Error:
    return UsageError(f"the session's httpx client is closed (request to {request.host} not sent)")


def to_response(hresp: httpx.Response, client: httpx.Client | httpx.AsyncClient, request: Request) -> Response:
    """Our :class:`Response` for an httpx reply (body already read; header names lower-cased)."""
    raw = hresp.headers
    encoding = raw.encoding  # what httpx itself decodes header text with
    # A tuple takes Response's validation fast path (a list is re-checked pair by pair: +1.2 µs).
    headers = tuple([(k.decode(encoding).lower(), v.decode(encoding)) for k, v in raw.raw])
    for name, _ in headers:
        if name == "set-cookie":
            _forget_cookies(client, request, headers)
            break
    return Response(hresp.status_code, headers, hresp.content)


def httpx_url(cache: dict[str, httpx.URL], url: str) -> httpx.URL | str:
    """``url`` parsed once: httpx spends ~15 µs parsing the same REST URL on every call.

    Only query-less URLs are kept (a GET's query holds the token), at most 16 of them.
    """
    parsed = cache.get(url)
    if parsed is not None:
        return parsed
    if "?" in url or len(cache) >= 16:
        return url
    parsed = cache[url] = httpx.URL(url)
    return parsed


def _forget_cookies(client: httpx.Client | httpx.AsyncClient, request: Request,
                    headers: Iterable[tuple[str, str]]) -> None:
    """Undo what httpx's client put in its jar from this reply.

    The core owns cookies (the implicit grant's dialog keeps its own jar); a login cookie left
    in the user's client would be sent with their other requests and would log a second session
    in as the first user. Only cookies named in this reply, for its host, are removed.
    """
    names = {value.split("=", 1)[0].strip() for name, value in headers if name == "set-cookie"}
    host = httpx.URL(request.url).host
    jar = client.cookies.jar
    for cookie in list(jar):
        domain = cookie.domain.lstrip(".")
        if cookie.name in names and (host == domain or host.endswith("." + domain)
                                     or domain == host + ".local"):
            try:
                jar.clear(cookie.domain, cookie.path, cookie.name)
            except KeyError:  # pragma: no cover - already gone
                pass
