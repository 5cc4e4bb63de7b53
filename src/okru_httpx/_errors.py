"""How a failure of the httpx adapters reads: everything that maps an httpx, httpcore or OS error to ours lives here.

Nothing from httpx, httpcore, h11, anyio, ssl or the OS escapes untyped: :func:`send_error`
maps whatever a send raised (a deadline, a per-phase timeout naming its limit, a redirect httpx
cannot parse, a body that does not decode, a closed client, TLS and socket failures), and
:func:`build_error` and :func:`close_error` the failures around a send. The
caller raises the result ``from`` the original. Messages name the host only; an httpx error
kept as ``__cause__`` has the URL query of its ``.request`` masked, because in GET mode it holds
the access token and an upload URL its apiToken (or, for video and bot files, its ``sig``).

The classification is okru_trio's (docs/limits.md, docs/tokens.md): a reply that is not valid
HTTP/1.1 is a :class:`~okru_proto.ProtocolError` (not retried: the same server would send it
again); the server closing the connection before the reply is complete is a
:class:`~okru_proto.TransportError`, like a reset. Every failure that may come after a request
byte was written (any but a failed connect, a pool wait, or a request httpx refuses to frame)
says that the request may have reached the server (:data:`MAY_HAVE_RUN`).
"""

from __future__ import annotations

import re
import ssl

import httpx

from okru_proto import Error, ProtocolError, TransportError, TransportTimeout, UsageError
from okru_proto.adapter import Request

from ._deadline import Deadline
from ._logfilter import mask_url_query

__all__ = ["MAY_HAVE_RUN", "build_error", "close_error", "closed_client_error", "send_error", "transport_error"]

_QUERY = re.compile(r"\?\S*")

#: What every error after a request byte may have been written adds (okru_trio's wording): okru
#: cannot tell whether the server ran the call, so it never repeats it on its own.
MAY_HAVE_RUN = (
    "the request may have reached the server and run there; check before repeating a call that "
    "changes something"
)
#: Failures that prove nothing was written: no connection, no free connection, or a connection
#: through a proxy that was refused before the request went out.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError,
             httpx.UnsupportedProtocol)
#: What httpcore and h11 say when the server closed the connection before the reply was complete
#: (EOF before or inside the head or the body): a broken connection, not a broken reply.
_CLOSED = ("Server disconnected", "peer closed connection", "peer unexpectedly closed connection")


def _after_write(exc: BaseException) -> str:
    return "" if isinstance(exc, _NOT_SENT) else f"; {MAY_HAVE_RUN}"


def send_error(exc: Exception, request: Request, deadline: Deadline | None, total: float | None,
               client: httpx.Client | httpx.AsyncClient) -> Error:
    """Our error for anything a send raised (the caller raises it ``from exc``)."""
    host = request.host
    if isinstance(exc, (httpx.TimeoutException, TimeoutError)) and (
            isinstance(exc, TimeoutError) or (deadline is not None and deadline.expired())):
        _mask_request(exc)
        return TransportTimeout(f"whole-call deadline timeout={total:g} s expired talking to {host}"
                                f"{_after_write(exc)}")
    if isinstance(exc, httpx.InvalidURL) or (
            isinstance(exc, httpx.RemoteProtocolError) and str(exc).startswith("Invalid URL in location")):
        # httpx builds the redirect request even when it does not follow it.
        _mask_request(exc)
        return ProtocolError(f"{host} answered with a redirect whose Location httpx cannot parse "
                             f"({type(exc).__name__}: {_clean(str(exc))})")
    if isinstance(exc, httpx.RemoteProtocolError) and not str(exc).startswith(_CLOSED):
        # Bytes that are not HTTP/1.1 (a bad status line, header or chunk): okru_trio's class.
        _mask_request(exc)
        return ProtocolError(f"{host} sent a reply that is not valid HTTP/1.1 "
                             f"({type(exc).__name__}: {_clean(str(exc))}); {MAY_HAVE_RUN}")
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
    return TransportError(f"could not talk to {host} ({type(exc).__name__}: {_clean(str(exc))})"
                          f"{_after_write(exc)}")


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
        query = original.url.query.decode("ascii", "replace")
        masked = mask_url_query(original.url.path, query)
        if masked != query:
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
    after = _after_write(exc)
    if isinstance(exc, httpx.TimeoutException):
        return TransportTimeout(f"{_timeout_text(exc, host)} ({detail}){after}")
    if isinstance(exc, httpx.RemoteProtocolError):
        return TransportError(f"{host} closed the connection before the response was complete "
                              f"({detail}){after}")
    return TransportError(f"could not talk to {host} ({detail}){after}")


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
