"""What ``okru_httpx`` (async) and ``okru_httpx.sync`` share: everything except the ``await``s.

Option handling (``timeout``, ``connect_timeout``, ``read_timeout``, ``max_response_bytes``: the
same names, meanings and defaults as okru_trio, docs/limits.md), the whole-call deadline (a
contextvar and the network backend of our own client that caps every wait at it), reading a
streamed body within the size cap with bounded gzip/deflate decoding, ``Request`` ->
``httpx.Request`` and ``httpx.Response`` -> ``Response`` conversion, error mapping (nothing from
httpx, httpcore, h11, anyio, ssl or the OS escapes untyped) and cookie isolation live here once
(the per-call DEBUG line is the core's). The two public modules add only their twin
``_send``/``call``/``authorize``/close methods. No OK.ru knowledge anywhere in this package:
that is ``okru_proto``'s.
"""

from __future__ import annotations

import functools
import math
import re
import ssl
import time
import zlib
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any, ClassVar

import httpcore
import httpx

from okru_proto import Error, ProtocolError, TransportError, TransportTimeout, UsageError
from okru_proto.adapter import (
    CORE_OPTIONS,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_TIMEOUT,
    Request,
    Response,
    SessionSpec,
    mask_query,
)

from ._logfilter import session_made

__all__ = [
    "DEADLINE",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_READ_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "TRANSPORT_OPTIONS",
    "BodyReader",
    "Deadline",
    "SessionBase",
    "build_error",
    "close_error",
    "closed_client_error",
    "file_error",
    "httpx_url",
    "make_response",
    "reply_headers",
    "send_error",
    "to_response",
    "transport_error",
]

#: Keyword options the httpx adapters take on top of :data:`okru_proto.CORE_OPTIONS`: the same
#: names, meanings and defaults as okru_trio's (docs/limits.md).
TRANSPORT_OPTIONS = frozenset({"client", "timeout", "connect_timeout", "read_timeout", "max_response_bytes"})


#: Pool limits of the client a session creates itself. httpx's default keeps 20 of its 100
#: connections alive; above 20 open connections httpcore 1.0.x then closes any IDLE one, even one
#: it has just handed to a waiting request, and with threads that request may already be reading
#: from it: ``ReadError: Bad file descriptor`` or a hang until the read timeout (encode/httpcore
#: #1110, unfixed in 1.0.9). Keeping as many alive as may be open takes that path out.
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=5.0)

_UNSET: Any = object()
_QUERY = re.compile(r"\?\S*")

# -- the whole-call deadline ----------------------------------------------------------------------
#
# httpx has per-phase timeouts only: each read may take up to ``read``, so a server that sends
# ``100 Continue`` forever or drips a valid reply one byte per second holds a call for as long as
# it goes on. The deadline of the call in progress lives in a contextvar (one per thread and per
# task, so concurrent calls never see each other's); the network backend of the client a session
# creates itself caps every connect, TLS handshake, read and write at what is left of it. That
# costs a clock read per socket operation, where a cancel scope per call would cost more than
# everything else okru adds to a call. A user's own client is bounded from outside instead
# (a cancel scope in the async adapter; per-read caps and checks between body chunks in the
# blocking one, see docs/limits.md).


class Deadline:
    """The deadline of one call: ``at`` (``time.monotonic()``), ``limit`` (the ``timeout=`` it
    came from) and ``hit`` (the last wait was cut short by it rather than by a per-phase timeout)."""

    __slots__ = ("at", "hit", "limit")

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.at = _monotonic() + limit
        self.hit = False

    def expired(self) -> bool:
        return self.hit or _monotonic() >= self.at


_monotonic = time.monotonic
DEADLINE: ContextVar[Deadline | None] = ContextVar("okru_httpx_deadline", default=None)
_get_deadline = DEADLINE.get


def _cap(timeout: float | None, timeout_error: type[Exception]) -> float | None:
    """``timeout`` for one socket operation, cut to what is left of the current call's deadline."""
    deadline = _get_deadline()
    if deadline is None:
        return timeout
    remaining = deadline.at - _monotonic()
    if timeout is not None and timeout < remaining:
        deadline.hit = False
        return timeout
    deadline.hit = True
    if remaining <= 0:
        # A zero timeout would make the socket non-blocking, not time out: fail here.
        raise timeout_error(f"whole-call deadline timeout={deadline.limit:g} s expired")
    return remaining


class _Stream(httpcore.NetworkStream):
    __slots__ = ("_inner",)

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _cap(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _cap(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, _cap(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    """httpcore's network backend with every wait capped at the call's deadline (blocking)."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_tcp(host, port, _cap(timeout, httpcore.ConnectTimeout),
                                               local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_unix_socket(path, _cap(timeout, httpcore.ConnectTimeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _AsyncStream(httpcore.AsyncNetworkStream):
    __slots__ = ("_inner",)

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, _cap(timeout, httpcore.ReadTimeout))

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, _cap(timeout, httpcore.WriteTimeout))

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        return _AsyncStream(await self._inner.start_tls(ssl_context, server_hostname,
                                                        _cap(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _AsyncBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with every wait capped at the call's deadline (async)."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        return _AsyncStream(await self._inner.connect_tcp(host, port, _cap(timeout, httpcore.ConnectTimeout),
                                                          local_address, socket_options))

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        return _AsyncStream(await self._inner.connect_unix_socket(
            path, _cap(timeout, httpcore.ConnectTimeout), socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _bound_pools(client: httpx.Client | httpx.AsyncClient) -> int:
    """Put the deadline-capping backend under every connection pool of our own ``client``.

    httpx takes no network backend, so this reaches into its transports (``_transport``, and
    ``_mounts`` for proxies from the environment) and httpcore's pools (``_network_backend``).
    Returns how many pools were wrapped; a test fails if an httpx release moves them.
    """
    wrapped = 0
    transports = [getattr(client, "_transport", None), *getattr(client, "_mounts", {}).values()]
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, httpcore.NetworkBackend) and not isinstance(backend, _Backend):
            pool._network_backend = _Backend(backend)  # type: ignore[union-attr]
            wrapped += 1
        elif isinstance(backend, httpcore.AsyncNetworkBackend) and not isinstance(backend, _AsyncBackend):
            pool._network_backend = _AsyncBackend(backend)  # type: ignore[union-attr]
            wrapped += 1
    return wrapped


# -- options ------------------------------------------------------------------------------------


class SessionBase(SessionSpec):
    """The transport half shared by the sync and async session bases (``_client_class`` differs)."""

    _client_class: ClassVar[type[httpx.Client] | type[httpx.AsyncClient]]
    _client: Any
    _owns_client: bool
    #: The per-request httpx timeout (``USE_CLIENT_DEFAULT`` for our own client: set on it).
    _timeout: Any
    #: ``timeout=``: the whole-call deadline in seconds, or None.
    _total: float | None
    #: The deadline a cancel scope must enforce around the call (a user's async client), or None.
    _guard: float | None
    _max_body: int

    def _init_transport(self, *, client: Any = None, timeout: Any = _UNSET, connect_timeout: Any = _UNSET,
                        read_timeout: Any = _UNSET, max_response_bytes: Any = _UNSET, **unknown: Any) -> None:
        session_made()
        if unknown:
            valid = ", ".join(sorted(CORE_OPTIONS | TRANSPORT_OPTIONS))
            raise UsageError(
                f"{type(self).__name__} got unknown option(s) {', '.join(sorted(unknown))}; "
                f"the keyword options are: {valid}")
        expected = self._client_class
        blocking = expected is httpx.Client
        self._urls = {}
        total = self._total = _seconds("timeout", timeout, DEFAULT_TIMEOUT)
        connect = _seconds("connect_timeout", connect_timeout, DEFAULT_CONNECT_TIMEOUT)
        read = _seconds("read_timeout", read_timeout, DEFAULT_READ_TIMEOUT)
        if max_response_bytes is _UNSET:
            max_response_bytes = DEFAULT_MAX_RESPONSE_BYTES
        if type(max_response_bytes) is not int or max_response_bytes < 0:
            raise UsageError(f"max_response_bytes must be an int >= 0, got {max_response_bytes!r}")
        self._max_body = max_response_bytes
        self._guard = None
        if client is None:
            # Write waits use the read timeout, as okru_trio's "each wait for the server"; the
            # pool wait comes first in a call, so the whole-call deadline bounds it exactly.
            self._client = expected(timeout=httpx.Timeout(connect=connect, read=read, write=read, pool=total),
                                    limits=DEFAULT_LIMITS, headers={"accept-encoding": _ACCEPT_ENCODING},
                                    verify=_default_ssl_context())
            self._owns_client = True
            self._timeout = httpx.USE_CLIENT_DEFAULT
            if not _bound_pools(self._client) and not blocking:
                self._guard = total  # an httpx that moved its pools: a cancel scope still bounds it
        elif isinstance(client, expected):
            # Used as it is: we never change its settings and never close it. Only the per-phase
            # options passed explicitly override its own, per request.
            self._client = client
            self._owns_client = False
            theirs = client.timeout
            phases = {"connect": connect if connect_timeout is not _UNSET else theirs.connect,
                      "read": read if read_timeout is not _UNSET else theirs.read,
                      "write": read if read_timeout is not _UNSET else theirs.write,
                      "pool": theirs.pool}
            if blocking:
                # No cancellation in a blocking client: every single wait is at most the whole
                # call (the body is also checked against the deadline between chunks).
                phases = {k: total if v is None or (total is not None and v > total) else v
                          for k, v in phases.items()}
            else:
                self._guard = total
            mine = httpx.Timeout(**phases)
            self._timeout = httpx.USE_CLIENT_DEFAULT if mine == theirs else mine
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


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    # httpx builds a fresh context per client (loading the CA bundle: tens of ms per session);
    # one verifying context serves every session's own client (SSLContext is thread-safe).
    return httpx.create_ssl_context()


#: What our own client asks for: the codings okru decodes itself with a bounded output.
_ACCEPT_ENCODING = "gzip, deflate"


def _seconds(name: str, value: Any, default: float) -> float | None:
    if value is _UNSET:
        return default
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < math.inf:
        return float(value)
    if name == "timeout" and isinstance(value, (httpx.Timeout, tuple)):
        raise UsageError(
            "timeout= is the whole-call deadline in seconds (a number, or None for none); httpx's "
            "per-phase timeouts are the options connect_timeout= and read_timeout=, or the "
            "timeout of your own client= (docs/limits.md)")
    raise UsageError(f"{name} must be a positive number of seconds or None, got {value!r}")


# -- reading the reply --------------------------------------------------------------------------


def reply_headers(hresp: httpx.Response) -> tuple[tuple[str, str], ...]:
    """The reply's headers as the core wants them: a tuple of (lower-case name, value)."""
    raw = hresp.headers
    encoding = raw.encoding  # what httpx itself decodes header text with
    # A tuple takes Response's validation fast path (a list is re-checked pair by pair: +1.2 µs).
    return tuple([(k.decode(encoding).lower(), v.decode(encoding)) for k, v in raw.raw])


class BodyReader:
    """Collects a streamed body within ``max_response_bytes`` and the call's deadline.

    gzip and deflate are decoded here as the body arrives, the output of each step limited to
    what is left of the cap, so a decompression bomb never takes more than the cap (the same
    rules as okru_trio: concatenated gzip members are joined; ``deflate`` is zlib-wrapped or raw;
    a truncated stream or bytes after its end do not decode). Other codings (br, zstd, stacked)
    go through httpx's decoders (``decoded`` true: iterate ``iter_bytes``), the cap checked
    after each decoded chunk.
    """

    __slots__ = ("at", "cap", "chunks", "coding", "decoded", "inflate", "request", "size")

    def __init__(self, headers: tuple[tuple[str, str], ...], cap: int, deadline: Deadline | None,
                 request: Request, in_memory: bool = False) -> None:
        self.cap = cap
        self.request = request  # for the host in a message (parsed only then)
        self.at = deadline.at if deadline is not None else math.inf
        self.size = 0
        self.chunks: list[bytes] = []
        self.inflate: _Inflater | None = None
        self.decoded = False
        coding = None
        for name, value in headers:
            if name == "content-length":
                if value.strip().isdigit() and int(value) > cap:
                    raise self._too_big(f"Content-Length: {value.strip()}")
            elif name == "content-encoding":
                coding = value if coding is None else f"{coding}, {value}"
        self.coding = coding
        if in_memory:
            # A reply a transport built in memory (httpx.MockTransport, FakeOKTransport): httpx
            # has already read and decoded it; only iter_bytes gives it back.
            self.decoded = True
        elif coding is not None:
            key = coding.strip().lower()
            if key in ("gzip", "x-gzip", "deflate"):
                self.inflate = _Inflater(key)
            elif key not in ("", "identity"):
                self.decoded = True

    def _too_big(self, what: str) -> ProtocolError:
        return ProtocolError(
            f"{self.request.host} sent a response body over max_response_bytes={self.cap} ({what}); pass a "
            "larger max_response_bytes= to the session if such replies are expected")

    def add(self, chunk: bytes) -> None:
        if _monotonic() > self.at:
            raise TimeoutError("whole-call deadline")
        if self.inflate is not None:
            chunk = self._decode(chunk, False)
        self.size += len(chunk)
        if self.size > self.cap:
            raise self._too_big("decoded" if self.inflate is not None else f"{self.size} bytes so far")
        self.chunks.append(chunk)

    def body(self) -> bytes:
        if self.inflate is not None:
            tail = self._decode(b"", True)
            self.size += len(tail)
            if self.size > self.cap:
                raise self._too_big("decoded")
            self.chunks.append(tail)
        return b"".join(self.chunks)

    def _decode(self, data: bytes, final: bool) -> bytes:
        assert self.inflate is not None
        room = self.cap - self.size + 1  # one byte more than fits: enough to know it is too big
        try:
            return self.inflate.finish(room) if final else self.inflate.feed(data, room)
        except zlib.error as exc:
            raise ProtocolError(
                f"{self.request.host} sent a body that does not decode as its Content-Encoding "
                f"{self.coding!r}: {exc}") from exc


class _Inflater:
    """One gzip or deflate stream, decoded chunk by chunk; no call returns more than ``room``."""

    __slots__ = ("fed", "gzip", "obj", "pending")

    def __init__(self, coding: str) -> None:
        self.gzip = coding != "deflate"
        self.obj: Any = zlib.decompressobj(16 + zlib.MAX_WBITS) if self.gzip else None
        self.pending = b""
        self.fed = False

    def feed(self, data: bytes, room: int) -> bytes:
        if not data:
            return b""
        self.fed = True
        if self.obj is None:
            # HTTP's "deflate" is the zlib format (RFC 9110 §8.4.1.2), but some servers send a
            # raw deflate stream: a valid zlib header (CMF/FLG, RFC 1950) tells the two apart.
            data = self.pending + data
            if len(data) < 2:
                self.pending = data
                return b""
            self.pending = b""
            wrapped = data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self.obj = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        out = self.obj.decompress(data, room)
        if len(out) >= room or not (self.obj.eof and self.obj.unused_data):
            return bytes(out)
        parts, left = [out], room - len(out)
        while self.obj.eof and self.obj.unused_data and left > 0:
            rest = self.obj.unused_data
            if not self.gzip:
                raise zlib.error(f"{len(rest)} bytes after the end of the compressed data")
            # A gzip body may be several members back to back (RFC 1952 §2.2).
            self.obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
            more = self.obj.decompress(rest, left)
            parts.append(more)
            left -= len(more)
        return b"".join(parts)

    def finish(self, room: int) -> bytes:
        if not self.fed:
            return b""  # an empty body (HEAD, 204, 304): nothing to decode
        if self.obj is None:
            raise zlib.error("the compressed data ends early (truncated)")
        out = bytes(self.obj.flush(room))
        if not self.obj.eof:
            raise zlib.error("the compressed data ends early (truncated)")
        return out


# -- errors -------------------------------------------------------------------------------------


def send_error(exc: Exception, request: Request, deadline: Deadline | None, total: float | None,
               client: httpx.Client | httpx.AsyncClient) -> Error:
    """Our error for anything a send raised (the caller raises it ``from exc``)."""
    host = request.host
    if isinstance(exc, (httpx.TimeoutException, TimeoutError)) and (
            isinstance(exc, TimeoutError) or (deadline is not None and deadline.expired())):
        _mask_request(exc)
        return TransportTimeout(f"whole-call deadline timeout={total:g} s expired talking to {host}")
    if isinstance(exc, httpx.InvalidURL) or (
            isinstance(exc, httpx.RemoteProtocolError) and str(exc).startswith("Invalid URL in location")):
        # httpx builds the redirect request even when it does not follow it.
        _mask_request(exc)
        return ProtocolError(f"{host} answered with a redirect whose Location httpx cannot parse "
                             f"({type(exc).__name__}: {_clean(str(exc))})")
    if isinstance(exc, httpx.DecodingError):
        _mask_request(exc)
        return ProtocolError(f"{host} sent a body that does not decode as its Content-Encoding "
                             f"({_clean(str(exc))})")
    if isinstance(exc, httpx.LocalProtocolError):
        _mask_request(exc)
        return UsageError(f"request to {host} cannot be sent as HTTP: {_clean(str(exc))}")
    if isinstance(exc, (httpx.HTTPError, OSError)):
        return transport_error(exc, request)
    if isinstance(exc, RuntimeError) and client.is_closed:
        return closed_client_error(request)
    # httpx.StreamError, a RuntimeError of a broken client, anything else httpx, httpcore, h11,
    # anyio or ssl may raise: still ours, with the original as __cause__.
    return TransportError(f"could not talk to {host} ({type(exc).__name__}: {_clean(str(exc))})")


def file_error(exc: OSError | ValueError, path: object) -> UsageError:
    """A photo path that cannot be read (missing, a directory, no permission, a NUL in it): the
    caller's input, named in the message (a local path, never a secret)."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return UsageError(f"cannot read the photo file {str(path)!r}: {reason}")


def build_error(exc: Exception, request: Request) -> UsageError:
    """httpx refused to build the request itself (before any I/O)."""
    _mask_request(exc)
    return UsageError(f"httpx cannot build the request to {request.host} "
                      f"({type(exc).__name__}: {_clean(str(exc))})")


def close_error(exc: Exception) -> TransportError:
    return TransportError(f"closing the session's httpx client failed ({type(exc).__name__}: {_clean(str(exc))})")


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
        return TransportTimeout(f"{_timeout_text(exc, host)} ({detail})")
    return TransportError(f"could not talk to {host} ({detail})")


_PHASES = (
    (httpx.ConnectTimeout, "connect", "connect timeout (connect_timeout=)", "connecting to"),
    (httpx.ReadTimeout, "read", "read timeout (read_timeout=)", "waiting for"),
    (httpx.WriteTimeout, "write", "write timeout (read_timeout=)", "sending to"),
    (httpx.PoolTimeout, "pool", "pool timeout", "waiting for a free connection to"),
)


def _timeout_text(exc: httpx.TimeoutException, host: str) -> str:
    """Which per-phase limit fired, and its value as the request carried it."""
    phases = exc._request.extensions.get("timeout") if exc._request is not None else None
    for kind, key, what, doing in _PHASES:
        if isinstance(exc, kind):
            value = phases.get(key) if isinstance(phases, dict) else None
            if isinstance(value, (int, float)):
                return f"{what} of {value:g} s expired {doing} {host}"
            return f"{what} expired {doing} {host}"
    return f"timed out talking to {host}"


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
    return make_response(hresp.status_code, reply_headers(hresp), hresp.content, client, request)


def make_response(status: int, headers: tuple[tuple[str, str], ...], body: bytes,
                  client: httpx.Client | httpx.AsyncClient, request: Request) -> Response:
    """Our :class:`Response`; cookies this reply set in the httpx client are taken out again."""
    for name, _ in headers:
        if name == "set-cookie":
            _forget_cookies(client, request, headers)
            break
    return Response(status, headers, body)


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
