"""`okru login`/`logout` with a scripted browser, and `okru fake-server` as a separate process."""

from __future__ import annotations

import importlib
import json
import signal
import stat
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import pytest

from okru_proto import parse_forms
from okru_proto.testing import FakeOK

from .conftest import Runner, assert_no_secrets, assert_one_error_line

Server = tuple[FakeOK, str]
URL_LINE = r"^\s+(https?://\S+/oauth/authorize\?\S+)$"


def login_args(fake: FakeOK, url: str, *extra: str) -> list[str]:
    return ["login", "--api-url", url, "--app-id", fake.app_id, "--app-key", fake.app_key,
            "--app-secret-key", fake.app_secret_key, "--no-browser", "--timeout", "30", *extra]


def browser_allows(authorize: str, login: str, password: str) -> str:
    """A scripted browser: OK's login form, then "allow" on the permission page, following
    redirects until OK sends it to the app's redirect URI; returns that callback URL."""
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(authorize))
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        response = browser.get(authorize)
        for _ in range(10):
            if response.is_redirect:
                target = urljoin(str(response.url), response.headers["location"])
                if not target.startswith(origin):
                    return target  # back to the app: the callback
                response = browser.get(target)
                continue
            assert response.status_code == 200, response.text
            forms = parse_forms(response.text)
            assert len(forms) == 1, response.text
            form = forms[0]
            fields = dict(form.fields)
            if "fr.password" in fields:
                fields.update({"fr.email": login, "fr.password": password})
            else:  # the permission page: click "allow"
                fields.update(dict(form.buttons))
            response = browser.post(urljoin(str(response.url), form.action), data=fields)
    raise AssertionError("the dialogs did not end in a redirect to the app")


def test_login_through_the_dialogs_stores_0600_then_call_and_logout(okru: Runner, server: Server) -> None:
    fake, url = server
    proc = okru.popen(*login_args(fake, url, "--scope", "VALUABLE_ACCESS;PHOTO_CONTENT"))
    authorize = proc.wait_line(URL_LINE).group(1)
    query = parse_qs(urlsplit(authorize).query)
    assert query["response_type"] == ["code"] and query["scope"] == ["VALUABLE_ACCESS;PHOTO_CONTENT"]
    assert query["redirect_uri"][0].startswith("http://127.0.0.1:") and query["state"][0]
    callback = browser_allows(authorize, fake.user_login, fake.user_password)
    assert callback.startswith(query["redirect_uri"][0] + "?code=")
    page = httpx.get(callback, timeout=10)
    assert page.status_code == 200 and "Logged in" in page.text
    result = proc.finish()
    assert result.returncode == 0, result.output
    assert "Logged in as Demo User (uid 571000000001)" in result.stdout

    path = okru.config_dir / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    stored = json.loads(path.read_text())
    assert stored["access_token"] in fake.tokens and stored["refresh_token"] in fake.refresh_tokens
    assert stored["api_url"] == url and stored["uid"] == fake.user_id
    assert_no_secrets(result.output, stored["access_token"], stored["refresh_token"])

    # `okru call` with no credential flags uses the stored login ...
    me = okru("call", "users.getCurrentUser")
    assert me.returncode == 0, me.output
    assert json.loads(me.stdout)["uid"] == fake.user_id
    # ... and after expiry refreshes it transparently and stores the new token (still 0600).
    fake.advance(31 * 60)
    again = okru("call", "users.getLoggedInUser")
    assert again.returncode == 0, again.output
    renewed = json.loads(path.read_text())
    assert renewed["access_token"] != stored["access_token"] and renewed["access_token"] in fake.tokens
    assert renewed["refresh_token"] == stored["refresh_token"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert_no_secrets(me.output + again.output, stored["access_token"], renewed["access_token"])

    out = okru("logout", script=True)
    assert out.returncode == 0 and "Removed" in out.stdout
    assert not path.exists()
    assert "nothing to do" in okru("logout").stdout
    assert_one_error_line(okru("call", "users.getCurrentUser"), 2, "no credentials")


def test_login_with_the_emulators_authorize_code(okru: Runner, server: Server) -> None:
    fake, url = server
    proc = okru.popen(*login_args(fake, url))
    authorize = proc.wait_line(URL_LINE).group(1)
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    code = fake.authorize_code(redirect_uri=query["redirect_uri"], state=query["state"])
    page = httpx.get(f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}", timeout=10)
    assert page.status_code == 200
    result = proc.finish()
    assert result.returncode == 0, result.output
    assert (okru.config_dir / "credentials.json").exists()


@pytest.mark.parametrize("reply", [{"state": "forged"}, {"error": "access_denied"}])
def test_login_refuses_a_bad_callback(okru: Runner, server: Server, reply: dict[str, str]) -> None:
    fake, url = server
    proc = okru.popen(*login_args(fake, url))
    authorize = proc.wait_line(URL_LINE).group(1)
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    params = {"code": "abc/12", "state": query["state"], **reply}
    page = httpx.get(f"{query['redirect_uri']}?{urlencode(params)}", timeout=10)
    assert page.status_code == 400
    result = proc.finish()
    assert_one_error_line(result, 3, "state" if reply.get("state") else "access_denied")
    assert not (okru.config_dir / "credentials.json").exists()


def test_login_ignores_other_paths_and_times_out(okru: Runner, server: Server) -> None:
    fake, url = server
    proc = okru.popen(*login_args(fake, url)[:-2], "--timeout", "1")
    authorize = proc.wait_line(URL_LINE).group(1)
    redirect_uri = parse_qs(urlsplit(authorize).query)["redirect_uri"][0]
    assert httpx.get(redirect_uri.replace("/callback", "/favicon.ico"), timeout=10).status_code == 404
    result = proc.finish()
    assert_one_error_line(result, 3, "no callback", "--timeout")


def test_login_needs_app_credentials(okru: Runner) -> None:
    assert_one_error_line(okru("login", "--no-browser", "--app-id", "1"), 2, "--app-key", "--app-secret-key")
    assert_one_error_line(okru("login", "--no-browser", "--app-id", "1", "--app-key", "K", "--app-secret-key", "S",
                               "--redirect-uri", "https://example.com/cb"), 2, "loopback")


def test_fake_server_process_serves_calls(okru: Runner) -> None:
    proc = okru.popen("fake-server", "--port", "0")
    try:
        url = proc.wait_line(r"^(http://127\.0\.0\.1:\d+)$").group(1)
        proc.wait_line("public demo values")
        fake = FakeOK()
        result = okru("call", "users.getInfo", f"uids={fake.user_id}", "fields=name", "--api-url", url,
                      "--app-key", fake.app_key, "--app-secret-key", fake.app_secret_key)
        assert result.returncode == 0, result.output
        assert json.loads(result.stdout) == [{"uid": fake.user_id, "name": "Demo User"}]
        proc.proc.send_signal(signal.SIGINT)
        done = proc.finish()
        assert done.returncode == 130, done.output  # 128 + SIGINT, as docs/cli.md says
    finally:
        proc.kill()


def test_fake_server_over_tls(okru: Runner, tmp_path: Path) -> None:
    trustme = importlib.import_module("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_pem, key_pem, ca_pem = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_pem))
    cert.private_key_pem.write_to_path(str(key_pem))
    ca.cert_pem.write_to_path(str(ca_pem))
    proc = okru.popen("fake-server", "--tls-cert", str(cert_pem), "--tls-key", str(key_pem))
    try:
        url = proc.wait_line(r"^(https://127\.0\.0\.1:\d+)$").group(1)
        fake = FakeOK()
        args = ("call", "users.getInfo", f"uids={fake.user_id}", "fields=name", "--api-url", url,
                "--app-key", fake.app_key, "--app-secret-key", fake.app_secret_key)
        result = okru(*args, env={"SSL_CERT_FILE": str(ca_pem)})
        assert result.returncode == 0, result.output
        assert json.loads(result.stdout)[0]["name"] == "Demo User"
        # Without trusting the CA: a transport error, exit 4.
        assert_one_error_line(okru(*args), 4)
    finally:
        proc.kill()
    assert_one_error_line(okru("fake-server", "--tls-cert", str(cert_pem)), 2, "--tls-key")


def test_store_location_follows_xdg_config_home(okru: Runner, tmp_path: Path) -> None:
    env = {k: v for k, v in okru.env.items() if k != "OKRU_CONFIG_DIR"}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "xdg"), HOME=str(tmp_path / "home"))
    okru.env = env
    assert str(tmp_path / "xdg" / "okru" / "credentials.json") in okru("logout").stdout
    del env["XDG_CONFIG_HOME"]
    assert str(tmp_path / "home" / ".config" / "okru" / "credentials.json") in okru("logout").stdout
