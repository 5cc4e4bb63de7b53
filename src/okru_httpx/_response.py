"""From an httpx reply to the core's :class:`~okru_proto.Response`: everything about ``httpx.URL``
and ``httpx.Response`` lives here.

:class:`BodyReader` collects a streamed body chunk by chunk under ``max_response_bytes`` and the
deadline (see its docstring: okru decodes every ``Content-Encoding`` itself); :func:`httpx_url`
parses a request URL once; :func:`to_response` / :func:`make_response` build our
:class:`~okru_proto.Response` from a reply and take back out of the httpx client the cookies that
reply set (the core owns cookies: a login cookie left in the user's client would log a second
session in as the first user).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

import httpx

from okru_proto import ProtocolError
from okru_proto.adapter import BodyDecoder, Request, Response

from ._deadline import Deadline

__all__ = ["BodyReader", "httpx_url", "make_response", "reply_headers", "to_response"]



# The clock the deadline was set with (Deadline.at is on it).
_monotonic = time.monotonic


def reply_headers(hresp: httpx.Response) -> tuple[tuple[str, str], ...]:
    """The reply's headers as the core wants them: a tuple of (lower-case name, value)."""
    raw = hresp.headers
    encoding = raw.encoding  # what httpx itself decodes header text with
    # A tuple takes Response's validation fast path (a list is re-checked pair by pair: +1.2 µs).
    return tuple([(k.decode(encoding).lower(), v.decode(encoding)) for k, v in raw.raw])


class BodyReader:
    """Collects a streamed body within ``max_response_bytes`` and the call's deadline.

    The session reads the body with httpx's ``iter_raw`` (``decoded`` false): the bytes as they
    came off the wire, so httpx's own decoders, which have no size limit, never run on a reply
    okru reads. Every coding is undone here by the core's ``BodyDecoder`` (the code okru_trio
    decodes with): every layer of a stacked ``Content-Encoding`` streamed into the next, the
    output held to the cap as it is made, any coding okru did not ask for refused.
    """

    __slots__ = ("at", "cap", "chunks", "decoded", "decoder", "received", "request")

    def __init__(self, headers: tuple[tuple[str, str], ...], cap: int, deadline: Deadline | None,
                 request: Request, in_memory: bool = False) -> None:
        self.cap = cap
        self.request = request  # for the host in a message (parsed only then)
        self.at = deadline.at if deadline is not None else math.inf
        self.received = 0
        self.chunks: list[bytes] = []
        self.decoded = False
        codings = []
        for name, value in headers:
            if name == "content-length":
                if value.strip().isdigit() and int(value) > cap:
                    raise self._too_big(f"Content-Length: {value.strip()}")
            elif name == "content-encoding":
                codings.append(value)
        self.decoder: BodyDecoder | None = None
        if in_memory:
            # A reply a transport built in memory (httpx.MockTransport, FakeOKTransport): httpx
            # has already read it; only iter_bytes gives it back. No server sent it.
            self.decoded = True
        elif codings:
            decoder = BodyDecoder(codings, cap, request.host)
            if not decoder.identity:
                self.decoder = decoder

    def _too_big(self, what: str) -> ProtocolError:
        return ProtocolError(
            f"{self.request.host} sent a response body over max_response_bytes={self.cap} ({what}); pass a "
            "larger max_response_bytes= to the session if such replies are expected")

    def add(self, chunk: bytes) -> None:
        if _monotonic() > self.at:
            raise TimeoutError("whole-call deadline")
        self.received += len(chunk)
        if self.received > self.cap:
            raise self._too_big(f"{self.received} bytes so far")
        if self.decoder is not None:
            self.decoder.feed(chunk)  # it keeps the decoded body, held to the cap as it is made
        else:
            self.chunks.append(chunk)

    def body(self) -> bytes:
        if self.decoder is not None:
            return self.decoder.finish()
        return b"".join(self.chunks)



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
