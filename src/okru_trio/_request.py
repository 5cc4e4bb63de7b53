"""From an ``okru_proto.Request`` to what h11 frames: everything about the request line and headers lives here.

:class:`Router` maps a request URL to its :class:`~okru_trio._pool.Origin` (one pool per
scheme, host and port, however the URL spells them) and the HTTP request target, applying the
core's https-or-loopback rule; :func:`prepare_headers` builds the header list h11 sends (the
headers the transport owns added, a request that sets one of them refused) and caches it per
origin. Every failure here is a :class:`okru_proto.UsageError`, raised before any I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import h11

from okru_proto import UsageError
from okru_proto.adapter import ACCEPT_ENCODING, StreamedBody, check_base_url

from ._pool import Origin

if TYPE_CHECKING:
    from h11._headers import Headers as _H11Headers

__all__ = ["BODY_METHODS", "Router", "prepare_headers"]

_USER_AGENT = (b"user-agent", b"okru/0.1")
# Only the codings the standard library decodes (zlib); never br or zstd, which it cannot.
_ACCEPT_ENCODING = (b"accept-encoding", ACCEPT_ENCODING.encode("ascii"))
# Framing, routing and content codings belong to the transport: a request that sets them would
# make h11 send conflicting or duplicate headers, or ask for a coding this transport cannot
# decode, so it is refused rather than silently rewritten.
_OWNED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "accept-encoding"})
#: Methods that always carry a Content-Length (0 for an empty body).
BODY_METHODS = frozenset({b"POST", b"PUT", b"PATCH"})
_MAX_CACHED = 256


def prepare_headers(
    origin: Origin, key: object, headers: tuple[tuple[str, str], ...], method: bytes, body: bytes | StreamedBody
) -> _H11Headers:
    """The h11 header list for ``headers``, stored in ``origin.header_cache`` under ``key``."""
    encoded = [origin.host_header]
    if not any(name == "user-agent" for name, _ in headers):
        encoded.append(_USER_AGENT)
    encoded.append(_ACCEPT_ENCODING)
    for name, value in headers:
        if name in _OWNED_HEADERS:
            raise UsageError(f"the {name!r} header is set by the transport; do not pass it")
        try:
            encoded.append((name.encode("ascii"), value.encode("latin-1")))
        except UnicodeEncodeError:
            raise UsageError(f"header {name!r} is not latin-1 text") from None
    if body or method in BODY_METHODS:
        encoded.append((b"content-length", b"%d" % len(body)))
    try:
        validated = h11.Request(method=method, target=b"/", headers=encoded).headers
    except h11.LocalProtocolError as exc:
        raise UsageError(f"request headers for {origin.label} cannot be sent: {exc}") from None
    cache = origin.header_cache
    if len(cache) >= _MAX_CACHED:
        cache.clear()
    # Keyed by the request's header tuple (and body length, for Content-Length): the core sends
    # a handful of header shapes, so this is hit on nearly every call.
    cache[key] = validated
    return validated


class Router:
    """Request URL -> (origin, target). ``pools`` holds every origin, keyed by (tls, host, port)."""

    __slots__ = ("_max_connections", "_origins", "pools")

    def __init__(self, max_connections: int) -> None:
        self._max_connections = max_connections
        # URL prefix ("https://api.ok.ru") -> origin, so the per-call path is one str.find and
        # one dict lookup; several spellings of one origin share one pool via ``pools``.
        self._origins: dict[str, Origin] = {}
        self.pools: dict[tuple[bool, str, int], Origin] = {}

    def route(self, url: str) -> tuple[Origin, bytes]:
        # Fast path: "scheme://netloc" is cached; the rest of the URL is the request target.
        i = url.find("/", 8)
        if i > 0:
            origin = self._origins.get(url[:i])
            if origin is not None:
                target = url[i:]
                if "#" in target:
                    target = target.partition("#")[0]
                try:
                    return origin, target.encode("ascii")
                except UnicodeEncodeError:
                    raise UsageError(
                        f"request URL for {origin.label} is not ASCII; percent-encode it"
                    ) from None
        return self._route_slow(url)

    def _route_slow(self, url: str) -> tuple[Origin, bytes]:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise UsageError(f"request URL has an invalid host or port: {exc}") from None
        if parts.username is not None or parts.password is not None:
            raise UsageError("request URLs must not carry user:password@ credentials")
        host = parts.hostname
        netloc = parts.netloc
        prefix = f"{parts.scheme}://{netloc}"
        # https anywhere, plain http only for loopback: the same rule the core applies to bases.
        check_base_url(prefix, "request URL")
        assert host is not None
        tls = parts.scheme == "https"
        if port is None:
            port = 443 if tls else 80
        key = (tls, host, port)
        origin = self.pools.get(key)
        if origin is None:
            try:
                host_header = netloc.encode("ascii")
            except UnicodeEncodeError:
                try:
                    host_header = netloc.encode("idna")
                except UnicodeError as exc:
                    raise UsageError(f"request URL has an invalid host name: {exc}") from None
            origin = Origin(host, port, tls, host_header, self._max_connections)
            self.pools[key] = origin
        if url.startswith(prefix + "/"):
            if len(self._origins) >= _MAX_CACHED:
                self._origins.clear()
            self._origins[prefix] = origin
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        try:
            return origin, target.encode("ascii")
        except UnicodeEncodeError:
            raise UsageError(f"request URL for {origin.label} is not ASCII; percent-encode it") from None
