"""okru_httpx specifics: the twin modules stay twins, options, conversion, errors, the client."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import okru_httpx
import okru_httpx.sync
from okru_httpx._response import to_response
from okru_proto import Error, HTTPStatusError, TransportError, TransportTimeout, UsageError
from okru_proto.adapter import API, CORE_OPTIONS, Request

TOKEN = "tok.SECRET-ACCESS-TOKEN-123"
APP_SECRET = "APP-SECRET-XYZ"
ARGS = (512000000001, "CBAKEY", APP_SECRET, TOKEN)  # ServerSession(app_id, app_key, app_secret_key, access_token)

Handler = Callable[[httpx.Request], httpx.Response]


def ok_json(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"uid": "1"})


def recording(seen: list[httpx.Request], reply: Handler = ok_json) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return reply(request)
    return httpx.MockTransport(handler)


# -- the two modules are twins ----------------------------------------------------------------

def _public_methods(cls: type) -> dict[str, inspect.Signature]:
    out = {}
    for name, value in inspect.getmembers(cls):
        if name.startswith("_") or not callable(value):
            continue
        out[name] = inspect.signature(value)
    return out


def test_sync_and_async_export_the_same_names_and_signatures() -> None:
    assert okru_httpx.__all__ == okru_httpx.sync.__all__
    for name in okru_httpx.__all__:
        a, s = getattr(okru_httpx, name), getattr(okru_httpx.sync, name)
        if not isinstance(a, type):
            assert a is s, name
            continue
        if a is s or name == "BotSession":  # re-exports; BotSession: tests/surface/test_bot_twins.py
            continue
        assert inspect.signature(a) == inspect.signature(s), name
        am, sm = _public_methods(a), _public_methods(s)
        assert set(am) - {"aclose"} == set(sm), name
        for method, signature in sm.items():
            if method in ("pages", "items"):  # AsyncIterator vs Iterator: only the return differs
                signature = signature.replace(return_annotation=am[method].return_annotation)
            assert am[method] == signature, f"{name}.{method}"
            assert inspect.iscoroutinefunction(getattr(a, method)) == (
                inspect.iscoroutinefunction(getattr(s, method))
                or method in ("call", "authorize", "refresh", "close", "upload_photos", "upload_video")
            ), f"{name}.{method}"


def test_aiookru_signatures() -> None:
    for mod in (okru_httpx, okru_httpx.sync):
        assert list(inspect.signature(mod.CodeSession).parameters)[:5] == [
            "app_id", "app_key", "app_secret_key", "code", "redirect_uri"]
        assert list(inspect.signature(mod.ImplicitSession).parameters)[:6] == [
            "app_id", "app_key", "app_secret_key", "login", "passwd", "scope"]
        assert list(inspect.signature(mod.ClientSession).parameters)[:4] == [
            "app_id", "app_key", "access_token", "session_secret_key"]
        assert mod.API is API


# -- options ---------------------------------------------------------------------------------

@pytest.mark.parametrize("mod", [okru_httpx, okru_httpx.sync], ids=["async", "sync"])
def test_unknown_option_names_the_valid_ones(mod: Any) -> None:
    with pytest.raises(UsageError) as caught:
        mod.ServerSession(*ARGS, proxies="http://x")
    text = str(caught.value)
    assert "proxies" in text
    for name in CORE_OPTIONS | {"client", "timeout", "connect_timeout", "read_timeout", "max_response_bytes"}:
        assert name in text


@pytest.mark.parametrize("mod", [okru_httpx, okru_httpx.sync], ids=["async", "sync"])
def test_wrong_client_type_and_bad_timeout(mod: Any) -> None:
    wrong = httpx.Client() if mod is okru_httpx else httpx.AsyncClient()
    with pytest.raises(UsageError, match="client must be"):
        mod.ServerSession(*ARGS, client=wrong)
    with pytest.raises(UsageError, match="timeout"):
        mod.ServerSession(*ARGS, timeout="soon")


# -- the sync adapter over a mock transport ---------------------------------------------------

def test_request_is_sent_exactly_and_redirects_are_not_followed() -> None:
    seen: list[httpx.Request] = []
    client = httpx.Client(transport=recording(seen, lambda r: httpx.Response(302, headers={"location": "https://x.ok.ru/"})))
    with okru_httpx.sync.ServerSession(*ARGS, client=client) as session, pytest.raises(HTTPStatusError) as caught:
        API(session).users.getCurrentUser()
    assert caught.value.status == 302
    assert len(seen) == 1  # not followed
    request = seen[0]
    assert request.method == "POST" and str(request.url) == "https://api.ok.ru/fb.do"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert b"method=users.getCurrentUser" in request.content and f"access_token={TOKEN}".encode() in request.content
    assert "access_token" not in str(request.url)


def test_get_sends_no_body() -> None:
    seen: list[httpx.Request] = []
    client = httpx.Client(transport=recording(seen))
    with okru_httpx.sync.ServerSession(*ARGS, client=client, http_method="GET") as session:
        assert API(session)("users.getInfo", uids=[1, 2]) == {"uid": "1"}
    assert seen[0].method == "GET" and seen[0].content == b"" and "content-length" not in seen[0].headers
    assert seen[0].url.params["uids"] == "1,2"


def test_own_client_closed_on_exit_user_client_untouched() -> None:
    with okru_httpx.sync.ServerSession(*ARGS) as own:
        assert not own.client.is_closed
    assert own.client.is_closed

    client = httpx.Client(transport=recording([]), headers={"x-app": "1"}, timeout=3.0,
                          cookies={"mine": "v"})
    before = (dict(client.headers), client.timeout, client.follow_redirects, dict(client.cookies))
    with okru_httpx.sync.ServerSession(*ARGS, client=client, timeout=9.0) as session:
        API(session).users.getCurrentUser()
    assert not client.is_closed
    assert (dict(client.headers), client.timeout, client.follow_redirects, dict(client.cookies)) == before
    client.close()


@pytest.mark.parametrize("mod", [okru_httpx, okru_httpx.sync])
def test_own_client_keeps_every_connection_alive(mod: Any) -> None:
    # httpcore 1.0.x closes an idle connection it has just handed to a waiting request whenever
    # more are open than max_keepalive_connections (encode/httpcore#1110: "Bad file descriptor"
    # under threads). Our own client must never have more open than it keeps alive. The limits
    # are only visible on httpcore's pool, hence the private attributes.
    session = mod.ServerSession(*ARGS)
    pool = session.client._transport._pool
    assert pool._max_keepalive_connections == pool._max_connections == 100
    assert mod.DEFAULT_LIMITS.max_keepalive_connections == mod.DEFAULT_LIMITS.max_connections

    mine = httpx.Limits(max_connections=7, max_keepalive_connections=3)
    client = (httpx.AsyncClient if mod is okru_httpx else httpx.Client)(limits=mine)
    users = mod.ServerSession(*ARGS, client=client).client._transport._pool
    assert (users._max_connections, users._max_keepalive_connections) == (7, 3)  # yours stays yours


def test_failed_enter_closes_own_client() -> None:
    session = okru_httpx.sync.CodeSession(*ARGS[:3], "code", "http://localhost/cb")
    session._client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(500)))
    with pytest.raises(Error):
        session.__enter__()
    assert session.client.is_closed


def test_calls_after_close_are_a_usage_error() -> None:
    session = okru_httpx.sync.ServerSession(*ARGS)
    session.close()
    with pytest.raises(UsageError, match="closed"):
        API(session).users.getCurrentUser()


@pytest.mark.parametrize(("exc", "ours"), [
    (httpx.ConnectTimeout("timed out"), TransportTimeout),
    (httpx.ReadTimeout("timed out"), TransportTimeout),
    (httpx.ConnectError(f"refused https://api.ok.ru/fb.do?access_token={TOKEN}"), TransportError),
    (httpx.RemoteProtocolError("Server disconnected"), TransportError),
    (ConnectionResetError(104, "reset"), TransportError),
])
def test_transport_errors_are_wrapped(exc: Exception, ours: type[Error]) -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise exc

    client = httpx.Client(transport=httpx.MockTransport(boom))
    with okru_httpx.sync.ServerSession(*ARGS, client=client) as session, pytest.raises(ours) as caught:
        API(session).users.getCurrentUser()
    assert caught.value.__cause__ is exc
    assert "api.ok.ru" in str(caught.value)
    assert TOKEN not in str(caught.value) and APP_SECRET not in str(caught.value)


def test_reply_cookies_do_not_stay_in_the_users_client() -> None:
    def login_reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"uid": "1"}, headers=[
            ("set-cookie", "AUTHCODE=secret-login; Path=/; HttpOnly"), ("set-cookie", "JSESSIONID=abc; Path=/")])

    client = httpx.Client(transport=recording([], login_reply), cookies={"keep": "me"})
    with okru_httpx.sync.ServerSession(*ARGS, client=client) as session:
        API(session).users.getCurrentUser()
    assert {c.name for c in client.cookies.jar} == {"keep"}
    client.close()


def test_response_conversion_keeps_duplicate_headers_lowercased() -> None:
    hresp = httpx.Response(200, headers=[("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X-Thing", "v")],
                           content=b"{}")
    request = Request("GET", "https://api.ok.ru/fb.do")
    response = to_response(hresp, httpx.Client(), request)
    assert response.header_values("set-cookie") == ["a=1", "b=2"]
    assert response.header("x-thing") == "v" and response.body == b"{}" and response.status == 200


def test_debug_log_has_the_method_and_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    client = httpx.Client(transport=recording([]))
    with caplog.at_level(logging.DEBUG, logger="okru"), \
            okru_httpx.sync.ServerSession(*ARGS, client=client) as session:
        API(session).users.getCurrentUser()
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("okru")]
    assert len(lines) == 1 and "users.getCurrentUser" in lines[0] and "200" in lines[0]
    assert all(TOKEN not in line and APP_SECRET not in line for line in lines)


# -- the async adapter (asyncio and trio) ------------------------------------------------------

@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.anyio
async def test_async_request_and_client_lifecycle() -> None:
    seen: list[httpx.Request] = []
    client = httpx.AsyncClient(transport=recording(seen), headers={"x-app": "1"})
    async with okru_httpx.ServerSession(*ARGS, client=client, read_timeout=4.0) as session:
        assert await API(session).group.getInfo(uids=["5", "6"], fields=["name"]) == {"uid": "1"}
        assert await session.call("users.getInfo", {"uids": "1"}) == {"uid": "1"}
    assert not client.is_closed
    assert seen[0].headers["x-app"] == "1" and seen[0].extensions["timeout"]["read"] == 4.0
    assert b"uids=5%2C6" in seen[0].content
    await client.aclose()

    async with okru_httpx.ServerSession(*ARGS) as own:
        pass
    assert own.client.is_closed


@pytest.mark.anyio
async def test_async_errors_are_ours() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    client = httpx.AsyncClient(transport=httpx.MockTransport(boom))
    async with okru_httpx.ServerSession(*ARGS, client=client) as session:
        with pytest.raises(TransportError) as caught:
            await API(session).users.getCurrentUser()
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    session = okru_httpx.ServerSession(*ARGS)
    await session.close()  # aiookru's name
    with pytest.raises(UsageError, match="closed"):
        await API(session).users.getCurrentUser()
