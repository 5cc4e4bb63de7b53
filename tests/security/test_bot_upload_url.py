"""The bot file upload URL gets the photo and video rule (issue 20 item 13), on every adapter.

``GET me/fileUploadUrl`` answers where to POST the file. Like a photo or video upload URL, it
must be an absolute http(s) URL without userinfo, and plain ``http://`` only to a loopback host:
anything else is refused by the core before a byte of the file is sent anywhere (the hostile
server below sees the fileUploadUrl request and nothing more).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from okru_proto import ProtocolError
from tests.adapters import Adapter
from tests.hostile import Conn, HostileServer, bot_at, respond, run_then_close

TOKEN = "tkn1UPLOAD:CQABxyz"


def _json(value: Any) -> bytes:
    body = json.dumps(value).encode()
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (len(body), body))


def names(url: str | None) -> Callable[[Conn], bytes]:
    """fileUploadUrl answers ``url`` (``{self}`` is this server); anything else gets ``{}``."""
    def reply(conn: Conn) -> bytes:
        if b" /graph/me/fileUploadUrl" in conn.head.split(b"\r\n", 1)[0]:
            host = next(line.split(b":", 1)[1].strip().decode() for line in conn.head.split(b"\r\n")[1:]
                        if line.lower().startswith(b"host:"))
            value = {"token": "ATTACH"} if url is None else {"url": url.replace("{self}", host), "token": "ATTACH"}
            return _json(value)
        return _json({})
    return reply


REFUSED = {
    "plain-http-internet": ("http://upload.example.com/upload.do?sig=S1&expires=9", "plain http"),
    "plain-http-private-ip": ("http://10.0.0.7/upload.do?sig=S1", "plain http"),
    "userinfo": ("https://user:pw@upload.example.com/upload.do", "user name or password"),
    "not-http": ("ftp://upload.example.com/upload.do", "not an absolute http(s) URL"),
    "relative": ("/upload.do?sig=S1", "not an absolute http(s) URL"),
    "missing": (None, "no upload_url"),
}


@pytest.mark.anyio
@pytest.mark.network
@pytest.mark.parametrize("case", sorted(REFUSED))
@pytest.mark.parametrize("how", ["upload", "send_file"])
async def test_sec_a_bad_file_upload_url_is_refused_before_sending(adapter: Adapter, case: str, how: str) -> None:
    url, why = REFUSED[case]
    with HostileServer(respond(names(url)), lifetime=30.0) as server:
        bot = bot_at(adapter, server, TOKEN)
        with pytest.raises(ProtocolError) as caught:
            if how == "upload":
                await run_then_close(adapter, bot, bot.upload, b"secret file bytes")
            else:
                await run_then_close(adapter, bot, bot.send_file, "chat:C1", b"secret file bytes", settle=0)
        assert len(server.heads) == 1  # only GET me/fileUploadUrl: nothing was sent anywhere else
    message = str(caught.value)
    assert message.startswith("fileUploadUrl: ") and why in message, message
    assert "user:pw" not in message and "pw@" not in message and "S1" not in message


@pytest.mark.anyio
@pytest.mark.network
async def test_sec_plain_http_to_loopback_is_allowed(adapter: Adapter) -> None:
    with HostileServer(respond(names("http://{self}/upload.do?sig=S1&expires=9")), lifetime=30.0) as server:
        bot = bot_at(adapter, server, TOKEN)
        attachment = await run_then_close(adapter, bot, bot.upload, b"file bytes")
        assert len(server.heads) == 2 and server.heads[1].startswith(b"POST /upload.do?sig=S1")
    assert attachment.payload == {"token": "ATTACH"}
