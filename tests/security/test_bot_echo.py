"""No bot path leaks the group token or an upload URL's sig through a server's echo (issue 20
item 10), on every adapter, against a hostile loopback server.

The server echoes the request it got (its target, the token in every spelling a server could
use) into an HTML error page's ``<title>``, an ``error_msg`` and ``error_data``, a non-JSON
body, a response header and a reason phrase; the file upload host echoes its URL. Then no
spelling of the token or the sig may appear in the error (``str``, ``repr``, ``args``, its
attributes, its chain, its formatted traceback) nor in any log line at DEBUG, httpx's and
httpcore's own included.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import pytest

from okru_proto import APIError, Error, ProtocolError
from okru_proto.errors import HTTPStatusError
from tests.adapters import Adapter
from tests.hostile import Conn, HostileServer, bot_at, respond, run_then_close
from tests.security.leaks import spellings, texts

TOKEN = "tkn1Sx9:CQAB/+=-ECHO42zz"
SIG = "lS8ThopDldI-SIGECHO-7731"
EXPIRES = "1531849335513"


FORBIDDEN = sorted(spellings(TOKEN) | spellings(SIG) | {EXPIRES})


def _target(conn: Conn) -> str:
    return conn.head.split(b" ", 2)[1].decode("latin-1")


def _echo(conn: Conn) -> str:
    """Everything secret in the request, in several spellings: the raw target, then each query
    value decoded, quoted and JSON-escaped."""
    target = _target(conn)
    values = [v for _, v in parse_qsl(urlsplit(target).query)]
    return " ".join([target, *values, *(quote(v, safe="") for v in values), *(json.dumps(v)[1:-1] for v in values)])


def host_of(conn: Conn) -> str:
    """The request's Host header: where this server is."""
    for line in conn.head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"host":
            return value.strip().decode()
    raise AssertionError("no Host header")


def _reply(status: bytes, ctype: bytes, body: bytes, extra: bytes = b"") -> bytes:
    return (b"HTTP/1.1 %s\r\nContent-Type: %s\r\n%sContent-Length: %d\r\nConnection: close\r\n\r\n%s"
            % (status, ctype, extra, len(body), body))


def html_title(conn: Conn) -> bytes:
    page = f"<html><head><title>bad {_echo(conn)}</title></head><body>no</body></html>"
    return _reply(b"500 Internal Server Error", b"text/html", page.encode())


def error_object(conn: Conn) -> bytes:
    echo = _echo(conn)
    body = {"error_code": 5000, "error_msg": f"bad request {echo}", "error_data": {"request": echo, "list": [echo]}}
    return _reply(b"200 OK", b"application/json;charset=utf-8", json.dumps(body).encode())


def error_object_500(conn: Conn) -> bytes:
    body = {"error_code": 102, "error_msg": f"token {_echo(conn)}", "error_data": _echo(conn)}
    return _reply(b"500 Internal Server Error", b"application/json", json.dumps(body).encode())


def plain_text(conn: Conn) -> bytes:
    return _reply(b"200 OK", b"text/plain", f"oops {_echo(conn)}".encode())


def echo_headers(conn: Conn) -> bytes:
    # The token bare in a header and in the reason phrase; then a valid reply (the call works).
    token = unquote(dict(parse_qsl(urlsplit(_target(conn)).query)).get("access_token", ""))
    extra = f"X-Echo: {token}\r\nX-Target: {_target(conn)}\r\n".encode()
    return _reply(f"200 {token}".encode(), b"application/json", b'{"name":"bot","group_id":"1"}', extra)


SCRIPTS: dict[str, Callable[[Conn], bytes]] = {
    "html-title": html_title, "error-object": error_object, "error-object-500": error_object_500,
    "plain-text": plain_text,
}


def assert_clean(found: list[str]) -> None:
    for text in found:
        for secret in FORBIDDEN:
            assert secret not in text, f"{secret!r} leaked in {text[:300]!r}"


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def log_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records]


@pytest.mark.anyio
@pytest.mark.network
@pytest.mark.parametrize("script", sorted(SCRIPTS))
async def test_sec_a_bot_call_error_never_echoes_the_token(adapter: Adapter, script: str,
                                                          debug_logs: pytest.LogCaptureFixture) -> None:
    with HostileServer(respond(SCRIPTS[script]), lifetime=30.0) as server:
        bot = bot_at(adapter, server, TOKEN)
        with pytest.raises(Error) as caught:
            await run_then_close(adapter, bot, bot.info)
        assert server.heads and TOKEN.split(":")[0].encode() in server.heads[0]  # the token was sent
    exc = caught.value
    assert "***" in str(exc) or isinstance(exc, ProtocolError)  # the echo reached the error, masked
    if script == "html-title":
        assert isinstance(exc, HTTPStatusError) and "page title" in str(exc)
    if script.startswith("error-object"):
        assert isinstance(exc, APIError) and "***" in json.dumps(exc.data)
    assert_clean(texts(exc))
    assert_clean(log_lines(debug_logs))


@pytest.mark.anyio
@pytest.mark.network
async def test_sec_a_token_echoed_in_headers_and_the_reason_stays_out_of_every_log(
        adapter: Adapter, debug_logs: pytest.LogCaptureFixture) -> None:
    with HostileServer(respond(echo_headers), lifetime=30.0) as server:
        bot = bot_at(adapter, server, TOKEN)
        info = await run_then_close(adapter, bot, bot.info)
    assert info.name == "bot"
    lines = log_lines(debug_logs)
    if adapter.module_name.startswith("okru_httpx"):
        # The lines were logged, with the echo masked: not just absent.
        assert any("HTTP Request: GET" in line and "access_token=***" in line for line in lines)
        assert any("receive_response_headers.complete" in line and "(b'X-Echo', b'***')" in line for line in lines)
        assert any("(b'Content-Type', b'application/json')" in line for line in lines)  # harmless: kept
    assert_clean(lines)


def upload_host(echo: bool) -> Callable[[Conn], bytes]:
    """``me/fileUploadUrl`` names an upload.do URL on this server; the upload POST echoes its
    URL (``echo``) or succeeds."""
    def reply(conn: Conn) -> bytes:
        target = _target(conn)
        if target.startswith("/graph/me/fileUploadUrl"):
            url = f"http://{host_of(conn)}/upload.do?sig={SIG}&expires={EXPIRES}&clientType=3&id=22125556&userId=123"
            return _reply(b"200 OK", b"application/json", json.dumps({"url": url, "token": "ATTACH-TOKEN"}).encode())
        if echo:
            return html_title(conn)
        return _reply(b"200 OK", b"application/json", b"{}")
    return reply


@pytest.mark.anyio
@pytest.mark.network
async def test_sec_the_file_upload_host_echo_never_shows_sig_or_token(
        adapter: Adapter, debug_logs: pytest.LogCaptureFixture) -> None:
    with HostileServer(respond(upload_host(echo=True)), lifetime=30.0) as server:
        bot = bot_at(adapter, server, TOKEN)
        with pytest.raises(HTTPStatusError) as caught:
            await run_then_close(adapter, bot, bot.upload, b"file bytes")
        assert len(server.heads) == 2 and SIG.encode() in server.heads[1]  # the sig was used
    assert "page title" in str(caught.value) and "***" in str(caught.value)
    assert_clean(texts(caught.value))
    assert_clean(log_lines(debug_logs))


@pytest.mark.anyio
@pytest.mark.network
async def test_sec_a_file_upload_logs_no_sig(adapter: Adapter, debug_logs: pytest.LogCaptureFixture) -> None:
    with HostileServer(respond(upload_host(echo=False)), lifetime=30.0) as server:
        bot = bot_at(adapter, server, TOKEN)
        attachment = await run_then_close(adapter, bot, bot.upload, b"file bytes")
    assert attachment.payload == {"token": "ATTACH-TOKEN"}
    lines = log_lines(debug_logs)
    if adapter.module_name.startswith("okru_httpx"):
        assert any("HTTP Request: POST" in line and "/upload.do?sig=***&expires=***" in line for line in lines)
    assert_clean(lines)
