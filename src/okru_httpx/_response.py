"""Converting between httpx and the core's values: everything about ``httpx.URL`` and ``httpx.Response`` lives here.

:func:`httpx_url` parses a request URL once; :func:`to_response` / :func:`make_response` build
our :class:`~okru_proto.Response` from a reply and take back out of the httpx client the cookies
that reply set (the core owns cookies: a login cookie left in the user's client would log a
second session in as the first user).
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx

from okru_proto.adapter import Request, Response

from ._body import reply_headers

__all__ = ["httpx_url", "make_response", "to_response"]


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
