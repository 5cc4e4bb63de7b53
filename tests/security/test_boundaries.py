"""Security boundaries (issue 8), on every adapter where the adapter matters:

* TLS verification is on by default: a self-signed loopback TLS server is refused with our
  TransportError naming the certificate problem; trusting its CA makes it work;
* plain http:// off loopback is refused before any request (endpoints, an upload_url, a dialog
  redirect or form that leaves https);
* a wrong ``state`` is refused (code callback, implicit-grant fragment);
* cookies and credentials never go to a host other than the one that set/asked for them during
  the dialogs (a redirect or form action pointing at a foreign host is refused and nothing is
  ever handed to the transport for that host);
* the stored login file is 0600 in a 0700 directory.
"""

from __future__ import annotations

import importlib
import json
import os
import ssl
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from okru_proto import Endpoints, TransportError, UploadError, UsageError
from okru_proto.adapter import Request, Response, implicit_flow, parse_callback, run_sync
from okru_proto.errors import DialogError, StateMismatchError
from okru_proto.testing import FakeOK
from okru_trio.testing import run_fake_server
from tests.adapters import Adapter
from tests.security.intercept import Exchange, intercept, replace_header

EVIL = "evil.example"


@pytest.fixture(scope="module")
def loopback() -> Iterator[tuple[FakeOK, str]]:
    fake = FakeOK(seed=11)
    with run_fake_server(fake) as url:
        yield fake, url


@pytest.fixture(scope="module")
def tls_loopback() -> Iterator[tuple[FakeOK, str, ssl.SSLContext]]:
    trustme = importlib.import_module("trustme")
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    fake = FakeOK(seed=12)
    with run_fake_server(fake, ssl_context=server_context) as url:
        assert url.startswith("https://127.0.0.1:")
        yield fake, url, client_context


def _hosts(seen: list[Exchange]) -> set[str]:
    return {urlsplit(e.request.url).hostname or "" for e in seen}


# -- TLS -----------------------------------------------------------------------------------------

@pytest.mark.anyio
@pytest.mark.network
async def test_sec_tls_self_signed_refused_by_default_and_trusted_ca_works(
        adapter: Adapter, tls_loopback: tuple[FakeOK, str, ssl.SSLContext]) -> None:
    fake, url, trusted = tls_loopback
    token = fake.issue_token()
    endpoints = Endpoints(api=url, connect=url)
    args = (fake.app_id, fake.app_key, fake.app_secret_key, token["access_token"])

    session = adapter.module.ServerSession(*args, endpoints=endpoints)  # the default client/context
    await adapter.enter(session)
    try:
        with pytest.raises(TransportError) as info:
            await adapter.run(session.call, "users.getLoggedInUser")
        text = str(info.value).lower()
        assert "certificate" in text and "127.0.0.1" in text, str(info.value)
    finally:
        await adapter.close(session)
    # The password grant over the same refused TLS: the password never gets a plaintext path.
    before = len(fake.requests)
    session = adapter.module.PasswordSession(fake.app_id, fake.app_key, None, fake.user_login,
                                             fake.user_password, endpoints=endpoints)
    with pytest.raises(TransportError):
        await adapter.enter(session)
    assert len(fake.requests) == before  # nothing reached the server

    options = adapter.tls_options(trusted)
    session = adapter.module.ServerSession(*args, endpoints=endpoints, **options)
    await adapter.enter(session)
    try:
        assert await adapter.run(session.call, "users.getLoggedInUser") == fake.user_id
    finally:
        await adapter.close(session)
        client = options.get("client")
        if client is not None:
            await adapter.run(client.close) if adapter.blocking else await client.aclose()


# -- plain http off loopback ---------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [{"api": "http://api.ok.ru"}, {"connect": "http://connect.ok.ru"},
                                    {"api": "http://10.0.0.1:8080"}, {"api": "http://127.0.0.1.evil.example"}])
def test_sec_http_endpoints_off_loopback_refused(kwargs: dict[str, str]) -> None:
    with pytest.raises(UsageError, match="http://"):
        Endpoints(**kwargs)


def test_sec_http_loopback_endpoints_allowed() -> None:
    for url in ("http://127.0.0.1:8080", "http://localhost", "http://[::1]:9"):
        Endpoints(api=url, connect=url)


def _canned_dialog(replies: list[Response], endpoints: Endpoints | None = None) -> tuple[BaseException, list[Request]]:
    sent: list[Request] = []

    def send(request: Request) -> Response:
        sent.append(request)
        return replies.pop(0) if replies else Response(500)

    with pytest.raises(DialogError) as info:
        run_sync(implicit_flow("512000000001", "someone", "PASSWORD-k3vv", endpoints=endpoints, now=0.0),
                 send, lambda s: None)
    return info.value, sent


LOGIN_PAGE = (b'<html><form action="/dk?st.cmd=OAuth2Login" method="post"><input name="fr.email">'
              b'<input type="password" name="fr.password"><input type="submit" value="Log in"></form></html>')
HTML = (("content-type", "text/html;charset=UTF-8"),)


@pytest.mark.parametrize("location", ["http://connect.ok.ru/dk?st.cmd=OAuth2Login",  # downgrade, same host
                                      "http://evil.example/dk?st.cmd=OAuth2Login",
                                      "https://evil.example/dk?st.cmd=OAuth2Login",
                                      "//evil.example/dk", "javascript:alert(1)"])
def test_sec_dialog_redirect_off_https_or_foreign_refused(location: str) -> None:
    error, sent = _canned_dialog([Response(302, (("location", location),))])
    assert len(sent) == 1 and sent[0].host == "connect.ok.ru"  # only the authorize request left
    assert "refused" in str(error)


@pytest.mark.parametrize("action", ["http://connect.ok.ru/dk?st.cmd=OAuth2Login",
                                    "https://evil.example/steal", "//evil.example/steal"])
def test_sec_dialog_form_off_https_or_foreign_refused(action: str) -> None:
    page = LOGIN_PAGE.replace(b'"/dk?st.cmd=OAuth2Login"', f'"{action}"'.encode())
    error, sent = _canned_dialog([Response(200, HTML, page)])
    assert "refused" in str(error)
    assert len(sent) == 1  # the password was never put in a request
    assert all(b"PASSWORD-k3vv" not in r.body and "PASSWORD-k3vv" not in r.url for r in sent)


@pytest.mark.anyio
@pytest.mark.network
async def test_sec_http_upload_url_off_loopback_refused(adapter: Adapter, loopback: tuple[FakeOK, str]) -> None:
    fake, url = loopback
    token = fake.issue_token(scope=("VALUABLE_ACCESS", "PHOTO_CONTENT"))

    def downgrade(request: Request, response: Response) -> Response:
        if b"upload_url" in response.body:
            data = json.loads(response.body)
            parts = urlsplit(data["upload_url"])
            data["upload_url"] = f"http://up.ok.ru{parts.path}?{parts.query}"
            return Response(response.status, response.headers, json.dumps(data).encode())
        return response

    session = adapter.module.ServerSession(fake.app_id, fake.app_key, fake.app_secret_key, token["access_token"],
                                           endpoints=Endpoints(api=url, connect=url))
    seen = intercept(adapter, session, downgrade)
    await adapter.enter(session)
    try:
        with pytest.raises(UploadError, match="http://"):
            await adapter.run(session.upload_photos, b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    finally:
        await adapter.close(session)
    assert "up.ok.ru" not in _hosts(seen)
    assert len(seen) == 1  # only getUploadUrl was sent


# -- state ---------------------------------------------------------------------------------------

def test_sec_code_callback_wrong_or_missing_state_refused() -> None:
    fake = FakeOK()
    code = fake.authorize_code(redirect_uri="http://localhost/callback", state="right-state")
    good = f"http://localhost/callback?code={code}&state=right-state"
    assert parse_callback(good, expected_state="right-state") == code
    for url in (f"http://localhost/callback?code={code}&state=wrong-state",
                f"http://localhost/callback?code={code}",
                f"http://localhost/callback?code={code}&state=",
                f"http://localhost/callback?code={code}&state=right-statX",
                "http://localhost/callback?error=access_denied&state=wrong-state",
                "http://localhost/callback#error=access_denied&state=wrong-state"):
        with pytest.raises(StateMismatchError):
            parse_callback(url, expected_state="right-state")


@pytest.mark.anyio
@pytest.mark.network
async def test_sec_implicit_fragment_with_wrong_state_refused(adapter: Adapter,
                                                              loopback: tuple[FakeOK, str]) -> None:
    fake, url = loopback

    def forge(request: Request, response: Response) -> Response:
        location = response.header("location") or ""
        if "#access_token=" in location:
            return replace_header(response, "location", location.replace("state=sent-state", "state=forged"))
        return response

    session = adapter.module.ImplicitSession(
        fake.app_id, fake.app_key, None, fake.user_login, fake.user_password, ("VALUABLE_ACCESS",),
        state="sent-state", endpoints=Endpoints(api=url, connect=url))
    seen = intercept(adapter, session, forge)
    with pytest.raises(StateMismatchError):
        await adapter.enter(session)
    assert session.token is None
    assert any("state=forged" in (e.response.header("location") or "") for e in seen if e.response)


# -- foreign hosts in the dialogs ----------------------------------------------------------------

def _redirect_to_evil(request: Request, response: Response) -> Response:
    # The reply to the login form: it sets the login cookie and redirects to the permissions page.
    location = response.header("location") or ""
    if response.status == 302 and "OAuth2Permissions" in location:
        return replace_header(response, "location", f"https://{EVIL}/dk?st.cmd=OAuth2Permissions&x=1")
    return response


def _form_to_evil(request: Request, response: Response) -> Response:
    if b"fr.password" in response.body:
        body = response.body.replace(b'action="/dk', f'action="https://{EVIL}/dk'.encode())
        assert body != response.body
        return Response(response.status, response.headers, body)
    return response


@pytest.mark.anyio
@pytest.mark.network
@pytest.mark.parametrize("rewrite", [_redirect_to_evil, _form_to_evil], ids=["redirect", "form-action"])
async def test_sec_dialog_foreign_host_refused_nothing_sent(adapter: Adapter, loopback: tuple[FakeOK, str],
                                                           rewrite: Any) -> None:
    fake, url = loopback
    session = adapter.module.ImplicitSession(
        fake.app_id, fake.app_key, None, fake.user_login, fake.user_password, ("VALUABLE_ACCESS",),
        endpoints=Endpoints(api=url, connect=url))
    seen = intercept(adapter, session, rewrite)
    with pytest.raises(DialogError, match="foreign host"):
        await adapter.enter(session)
    assert EVIL not in _hosts(seen)  # no request of any kind was handed to the transport for it
    cookies = [c for e in seen if e.response for c in e.response.header_values("set-cookie")]
    if rewrite is _redirect_to_evil:
        assert cookies, "the login cookie was set before the redirect"
    loopback_host = urlsplit(url).hostname
    for exchange in seen:
        assert urlsplit(exchange.request.url).hostname == loopback_host
    if adapter.is_httpx:
        assert not list(session.client.cookies.jar)  # and nothing lingers in the user's client


@pytest.mark.anyio
@pytest.mark.network
async def test_sec_dialog_cookies_and_password_stay_with_the_host_that_asked(
        adapter: Adapter, loopback: tuple[FakeOK, str]) -> None:
    """api and connect on two host names of the same server: the dialogs' cookie and the
    password go only to connect's host; the REST calls on api's host never carry a cookie."""
    fake, url = loopback
    port = urlsplit(url).port
    api, connect = f"http://localhost:{port}", f"http://127.0.0.1:{port}"
    session = adapter.module.ImplicitSession(
        fake.app_id, fake.app_key, None, fake.user_login, fake.user_password, ("VALUABLE_ACCESS",),
        endpoints=Endpoints(api=api, connect=connect))
    seen = intercept(adapter, session)
    await adapter.enter(session)
    try:
        assert await adapter.run(session.call, "users.getLoggedInUser") == fake.user_id
    finally:
        await adapter.close(session)
    set_by: set[str] = set()
    password = fake.user_password.encode()
    for exchange in seen:
        host = exchange.request.host
        if exchange.request.header("cookie") is not None:
            assert host in set_by, f"a cookie went to {host}, which never set one"
        if password in exchange.request.body or fake.user_password in exchange.request.url:
            assert host == f"127.0.0.1:{port}"
        if exchange.response is not None and exchange.response.header_values("set-cookie"):
            set_by.add(host)
    assert set_by == {f"127.0.0.1:{port}"}
    api_requests = [e.request for e in seen if e.request.host == f"localhost:{port}"]
    assert api_requests and all(r.header("cookie") is None for r in api_requests)
    if adapter.is_httpx:
        assert not list(session.client.cookies.jar)


# -- the stored login ----------------------------------------------------------------------------

def test_sec_stored_login_is_0600_in_a_0700_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    login_module = importlib.import_module("okru._login.stored")
    config = tmp_path / "config"
    monkeypatch.setenv("OKRU_CONFIG_DIR", str(config))
    old = os.umask(0)  # a permissive umask must not loosen the file
    try:
        stored = login_module.StoredLogin("512000000001", "KEY", "APPSECRET-zq8x", "ACCESS-TOKEN-77",
                                          refresh_token="REFRESH-TOKEN-77")
        path = login_module.save_login(stored)
        assert path == config / "credentials.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(config.stat().st_mode) == 0o700
        # Re-saving over a file someone loosened replaces it with a fresh 0600 one.
        path.chmod(0o644)
        login_module.save_login(stored)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert [p.name for p in config.iterdir()] == ["credentials.json"]  # no temp file left
        assert "APPSECRET-zq8x" not in repr(stored) and "TOKEN-77" not in repr(stored)
    finally:
        os.umask(old)
