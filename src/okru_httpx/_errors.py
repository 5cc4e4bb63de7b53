"""How a failure of the httpx adapters reads: everything that maps an httpx, httpcore or OS error to ours lives here.

Nothing from httpx, httpcore, h11, anyio, ssl or the OS escapes untyped: :func:`send_error`
maps whatever a send raised (a deadline, a per-phase timeout naming its limit, a redirect httpx
cannot parse, a body that does not decode, a closed client, TLS and socket failures), and
:func:`build_error` and :func:`close_error` the failures around a send. The
caller raises the result ``from`` the original. Messages name the host only; an httpx error
kept as ``__cause__`` has the URL query of its ``.request`` masked, because in GET mode it holds
the access token and an upload URL its apiToken.
"""

from __future__ import annotations

import re
import ssl

import httpx

from okru_proto import Error, ProtocolError, TransportError, TransportTimeout, UsageError
from okru_proto.adapter import Request, mask_query

from ._deadline import Deadline

__all__ = ["build_error", "close_error", "closed_client_error", "send_error", "transport_error"]

_QUERY = re.compile(r"\?\S*")


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
