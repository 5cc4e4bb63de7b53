"""The video upload URL never shows whole, in okru's or httpx's/httpcore's lines (issue 21,
"Secrets"), on every adapter, against a loopback server shaped like OK's upload host.

``video.getUploadUrl`` answers ``http://<this server>/upload.do?sig=...&expires=...&id=...``
(OK's shape, docs/protocol.md): its ``sig`` and ``expires`` let anyone write to that upload.
With every logger at DEBUG (httpx's INFO ``HTTP Request: POST ...`` line and httpcore's
lines included) the upload works and no query value of the URL appears in any line; when the
upload host drops the connection, the error, its chain and the httpx request kept in it show
none of them either.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qsl

import pytest

from okru_proto import Error
from tests.adapters import Adapter
from tests.hostile import Conn, HostileServer, outcome, respond
from tests.security.leaks import texts

APP = ("512000000001", "CBAKEY", "APP-SECRET-XYZ")
TOKEN = "tok.SECRET-ACCESS-TOKEN-VIDEO"
SIG = "lS8ThopDldI-VIDEOSIG-5512"
EXPIRES = "1531849335513"
VIDEO_ID = "22125556"
QUERY = f"sig={SIG}&expires={EXPIRES}&clientType=3&id={VIDEO_ID}&userId=987654321"
SECRETS = (SIG, EXPIRES, TOKEN)


def _json(value: Any) -> bytes:
    body = json.dumps(value).encode()
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (len(body), body))


def upload_host(drop_upload: bool) -> Any:
    """The REST API and OK's upload host in one: getUploadUrl names this server's upload.do."""
    def reply(conn: Conn) -> bytes:
        line = conn.head.split(b"\r\n", 1)[0].decode("latin-1")
        if " /upload.do?" in line:
            return b"" if drop_upload else _json({})
        method = dict(parse_qsl(conn.body.decode("latin-1"))).get("method")
        if method == "video.getUploadUrl":
            host = next(h.split(b":", 1)[1].strip().decode() for h in conn.head.split(b"\r\n")[1:]
                        if h.lower().startswith(b"host:"))
            return _json({"video_id": VIDEO_ID, "upload_url": f"http://{host}/upload.do?{QUERY}"})
        return _json({"success": True})  # video.update
    return reply


def assert_clean(lines: list[str]) -> None:
    for line in lines:
        for secret in SECRETS:
            assert secret not in line, f"{secret!r} in {line[:300]!r}"


async def _upload(adapter: Adapter, drop_upload: bool) -> Any:
    with HostileServer(respond(upload_host(drop_upload)), lifetime=30.0) as server:
        session = adapter.module.ServerSession(*APP, TOKEN, endpoints=server.endpoints)
        result = await outcome(adapter, session, session.upload_video, b"\0" * 40_000, resumable=False, title="t",
                               catch=Error)
        assert any(f"/upload.do?{QUERY}".encode() in head for head in server.heads)  # it was used
        return result


@pytest.mark.anyio
@pytest.mark.network
async def test_sec_the_video_upload_url_is_masked_in_every_log_line(adapter: Adapter,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    video = await _upload(adapter, drop_upload=False)
    assert not isinstance(video, Exception), repr(video)
    assert video.video_id == VIDEO_ID
    lines = [record.getMessage() for record in caplog.records]
    if adapter.module_name.startswith("okru_httpx"):
        # httpx did log the upload, with every value of the URL's query masked.
        assert any(line.startswith("HTTP Request: POST http://127.0.0.1:") and
                   "/upload.do?sig=***&expires=***&clientType=***&id=***&userId=***" in line for line in lines), lines
    assert_clean(lines)


@pytest.mark.anyio
@pytest.mark.network
async def test_sec_a_failed_video_upload_shows_no_part_of_the_url(adapter: Adapter,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    error = await _upload(adapter, drop_upload=True)
    assert isinstance(error, Error), repr(error)
    assert_clean(texts(error))
    assert_clean([record.getMessage() for record in caplog.records])


def test_sec_a_request_repr_shows_no_part_of_an_upload_query() -> None:
    from okru_proto.adapter import Request

    shown = repr(Request("POST", f"https://vu.mycdn.me/upload.do?{QUERY}"))
    assert "upload.do?sig=***&expires=***&clientType=***&id=***&userId=***" in shown
    assert_clean([shown])
