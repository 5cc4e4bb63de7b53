"""The emulator behind httpx (in-process transport) and behind the h11/trio loopback server."""

from __future__ import annotations

import http.client
import ssl
import subprocess
import sys
from urllib.parse import urlencode

import httpx
import pytest
import trio
import trio.testing
import trustme

from okru_httpx.testing import FakeOKTransport
from okru_proto.testing import FakeOK
from okru_trio.testing import run_fake_server, serve_fake
from tests.emulator.helpers import md5_hex, signature

pytestmark = pytest.mark.network


def _form(fake: FakeOK, token: dict[str, str], method: str, **params: str) -> dict[str, str]:
    full = {"application_key": fake.app_key, "format": "json", "method": method, **params}
    full["sig"] = signature(full, md5_hex(token["access_token"] + fake.app_secret_key))
    full["access_token"] = token["access_token"]
    return full


# -- httpx transport --------------------------------------------------------------------------------

def test_httpx_sync_transport(fake_ok: FakeOK, ok_token: dict[str, str], ok_transport: FakeOKTransport) -> None:
    # okru's pytest plugin: fake_ok, a fresh token and the transport wired to it.
    fake, token = fake_ok, ok_token
    with httpx.Client(transport=ok_transport, base_url="https://api.ok.ru") as client:
        response = client.post("/fb.do", data=_form(fake, token, "users.getLoggedInUser"))
        assert response.json() == fake.user_id
        assert response.headers["content-type"] == "application/json;charset=utf-8"
        fake.inject("reset")
        with pytest.raises(httpx.RemoteProtocolError):
            client.post("/fb.do", data=_form(fake, token, "users.getLoggedInUser"))
        fake.inject("slow", seconds=60)
        with pytest.raises(httpx.ReadTimeout):
            client.post("/fb.do", data=_form(fake, token, "users.getLoggedInUser"), timeout=1.0)
        fake.inject("slow", seconds=0.5)  # shorter than the timeout: answered at once
        assert client.post("/fb.do", data=_form(fake, token, "users.getLoggedInUser"), timeout=1.0).status_code == 200
        redirect = client.get("/oauth/authorize", params={"client_id": fake.app_id, "response_type": "token",
                                                           "redirect_uri": "http://localhost/callback"})
        assert redirect.status_code == 302 and redirect.headers["location"].startswith("/dk?")


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.anyio
async def test_httpx_async_transport(fake: FakeOK, token: dict[str, str]) -> None:
    async with httpx.AsyncClient(transport=FakeOKTransport(fake), base_url="https://api.ok.ru") as client:
        response = await client.post("/fb.do", data=_form(fake, token, "friends.get"))
        assert response.json() == ["571000000002", "571000000003", "571000000004"]
        fake.inject("truncated")
        cut = await client.post("/fb.do", data=_form(fake, token, "friends.get"))
        assert cut.status_code == 200 and len(cut.content) == len(response.content) // 2


def test_default_transport_has_a_demo_fake() -> None:
    assert FakeOKTransport().fake.app_id == FakeOK.app_id


# -- loopback server ---------------------------------------------------------------------------------

def test_sync_server_keep_alive_and_faults(fake: FakeOK, token: dict[str, str]) -> None:
    with run_fake_server(fake) as url:
        assert url.startswith("http://127.0.0.1:")
        host, port = url[len("http://"):].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        sockets = []
        for _ in range(3):
            conn.request("POST", "/fb.do", urlencode(_form(fake, token, "users.getLoggedInUser")),
                         {"content-type": "application/x-www-form-urlencoded"})
            response = conn.getresponse()
            assert response.read() == f'"{fake.user_id}"'.encode()
            sockets.append(conn.sock)
        assert sockets[0] is sockets[1] is sockets[2]  # one keep-alive connection
        conn.close()
        with httpx.Client(base_url=url) as client:
            upload = client.post("/fb.do", data=_form(fake, token, "photosV2.getUploadUrl")).json()
            assert upload["upload_url"].startswith(url + "/uploadImage?")
            sent = client.post(upload["upload_url"], files={"pic1": ("a.jpg", b"\xff\xd8data", "image/jpeg")})
            assert set(sent.json()["photos"]) == set(upload["photo_ids"])
            fake.inject("reset")
            with pytest.raises(httpx.TransportError):
                client.post("/fb.do", data=_form(fake, token, "friends.get"))
            fake.inject("truncated")
            with pytest.raises(httpx.RemoteProtocolError):
                client.post("/fb.do", data=_form(fake, token, "friends.get"))
            fake.inject("slow", seconds=30)
            with pytest.raises(httpx.ReadTimeout):
                client.post("/fb.do", data=_form(fake, token, "friends.get"), timeout=0.2)
            fake.inject("http_502")
            assert client.post("/fb.do", data=_form(fake, token, "friends.get")).status_code == 502
            assert client.post("/fb.do", data=_form(fake, token, "friends.get")).status_code == 200
            assert client.get("/nowhere").status_code == 404


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_trio_server_serves_connections_concurrently(fake: FakeOK, token: dict[str, str]) -> None:
    fake.inject("slow", method="events.get", seconds=3600)
    async with serve_fake(fake) as url, httpx.AsyncClient(base_url=url) as client:
        results: list[object] = []
        slow_done = trio.Event()

        async def slow() -> None:
            await client.post("/fb.do", data=_form(fake, token, "events.get"))
            slow_done.set()

        async def fast() -> None:
            response = await client.post("/fb.do", data=_form(fake, token, "users.getLoggedInUser"))
            results.append(response.json())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(slow)
            await trio.testing.wait_all_tasks_blocked()
            async with trio.open_nursery() as fast_nursery:
                for _ in range(8):
                    fast_nursery.start_soon(fast)
            assert results == [fake.user_id] * 8 and not slow_done.is_set()
            nursery.cancel_scope.cancel()


def test_tls_server(fake: FakeOK, token: dict[str, str]) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    with run_fake_server(fake, ssl_context=server_context) as url:
        assert url.startswith("https://127.0.0.1:")
        with httpx.Client(base_url=url, verify=client_context) as client:
            for _ in range(2):
                assert client.post("/fb.do", data=_form(fake, token, "users.getLoggedInUser")).json() == fake.user_id
            fake.inject("reset")
            with pytest.raises(httpx.TransportError):
                client.post("/fb.do", data=_form(fake, token, "friends.get"))


def test_command_line_server() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "okru_trio.testing", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert "app_key=CBADEMOAPPKEYBABA" in proc.stdout.readline()
        response = httpx.get(url + "/fb.do?method=users.getInfo", timeout=10)
        assert response.json()["error_code"] == 101
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_serve_fake_lets_errors_through_unwrapped(fake: FakeOK) -> None:
    with pytest.raises(KeyError):
        async with serve_fake(fake) as url:
            assert url.startswith("http://")
            raise KeyError("mine")


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_expect_100_continue_and_malformed_request(fake: FakeOK) -> None:
    async with serve_fake(fake) as url:
        port = int(url.rsplit(":", 1)[1])
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        data = b"method=users.getInfo"
        await stream.send_all(
            b"POST /fb.do HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Expect: 100-continue\r\nContent-Length: " + str(len(data)).encode() + b"\r\n\r\n"
        )
        assert (await stream.receive_some(1000)).startswith(b"HTTP/1.1 100 ")
        await stream.send_all(data)
        reply = b""
        while b"PARAM_API_KEY" not in reply:
            reply += await stream.receive_some(4096)
        assert reply.startswith(b"HTTP/1.1 200 ") and b"invocation-error: 101" in reply.lower()
        await stream.aclose()
        bad = await trio.open_tcp_stream("127.0.0.1", port)
        await bad.send_all(b"NONSENSE\r\n\r\n")
        assert (await bad.receive_some(1000)).startswith(b"HTTP/1.1 400 ")
        await bad.aclose()
