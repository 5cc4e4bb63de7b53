"""`okru login`/`logout` with a scripted browser, the callback listener in-process, `okru login
--password`, and `okru fake-server` as a separate process."""

from __future__ import annotations

import dataclasses
import importlib
import io
import json
import queue
import signal
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import pytest

from okru._login.callback import CallbackListener
from okru._login.stored import StoredLogin
from okru._output import CLIError, describe_error
from okru_proto.adapter import parse_forms
from okru_proto.errors import StateMismatchError
from okru_proto.testing import FakeClock, FakeOK, WallClock

from .conftest import LineProcess, Runner, assert_no_secrets, assert_one_error_line

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


def _authorize_query(proc: LineProcess) -> dict[str, str]:
    authorize = proc.wait_line(URL_LINE).group(1)
    return {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}


def test_login_ignores_a_forged_callback_and_waits_for_the_real_one(okru: Runner, server: Server) -> None:
    fake, url = server
    proc = okru.popen(*login_args(fake, url))
    authorize = proc.wait_line(URL_LINE).group(1)
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    forged = httpx.get(f"{query['redirect_uri']}?{urlencode({'code': 'abc/12', 'state': 'forged'})}", timeout=10)
    assert forged.status_code == 400 and "Not this login" in forged.text and "still waiting" in forged.text
    stale_cancel = httpx.get(f"{query['redirect_uri']}?error=access_denied&state=old", timeout=10)
    assert stale_cancel.status_code == 400
    callback = browser_allows(authorize, fake.user_login, fake.user_password)
    page = httpx.get(callback, timeout=30)
    assert page.status_code == 200 and "Logged in as Demo User" in page.text
    result = proc.finish()
    assert result.returncode == 0, result.output
    assert (okru.config_dir / "credentials.json").exists()


def test_login_cancel_in_the_browser_is_access_denied(okru: Runner, server: Server) -> None:
    fake, url = server
    proc = okru.popen(*login_args(fake, url))
    query = _authorize_query(proc)
    # OK's cancel link is {redirect_uri}#error=access_denied; the browser requests the bare
    # URI (a fragment is never sent) and gets the page that forwards the fragment as a query.
    bare = httpx.get(query["redirect_uri"], timeout=10)
    assert bare.status_code == 200 and "window.location.hash" in bare.text
    denied = httpx.get(query["redirect_uri"] + "?error=access_denied", timeout=10)
    assert "Login cancelled" in denied.text and "Return to the terminal" in denied.text
    result = proc.finish()
    line = assert_one_error_line(result, 3, "access denied in the browser")
    assert "secret" not in line and "state" not in line
    assert not (okru.config_dir / "credentials.json").exists()


def test_login_error_with_our_state_ends_the_login(okru: Runner, server: Server) -> None:
    fake, url = server
    proc = okru.popen(*login_args(fake, url))
    query = _authorize_query(proc)
    params = {"error": "invalid_scope", "error_description": "no such scope", "state": query["state"]}
    page = httpx.get(f"{query['redirect_uri']}?{urlencode(params)}", timeout=10)
    assert "invalid_scope" in page.text
    assert_one_error_line(proc.finish(), 3, "OK.ru refused the login: invalid_scope: no such scope")
    assert not (okru.config_dir / "credentials.json").exists()


def test_login_failed_exchange_is_shown_in_the_browser_too(okru: Runner, server: Server) -> None:
    fake, url = server
    proc = okru.popen(*login_args(fake, url))
    query = _authorize_query(proc)
    code = fake.authorize_code(redirect_uri=query["redirect_uri"], state=query["state"])
    fake.clock.advance(121)  # the code lives 2 minutes: token.do answers invalid_grant
    page = httpx.get(f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}", timeout=30)
    assert page.status_code == 502 and "Login failed" in page.text and "Logged in" not in page.text
    assert "invalid_grant" in page.text and "Return to the terminal" in page.text
    result = proc.finish()
    line = assert_one_error_line(result, 3, "invalid_grant")
    assert line.removeprefix("okru: error: ").split(" — ")[0] in page.text.replace("&#x27;", "'")
    assert not (okru.config_dir / "credentials.json").exists()
    assert_no_secrets(result.output + page.text, code)


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


# -- the callback listener, in-process ------------------------------------------------------------

class Fetch:
    """A GET in a background thread: the listener may hold its answer (the outcome page)."""

    def __init__(self, url: str) -> None:
        self.result: queue.Queue[httpx.Response | BaseException] = queue.Queue()
        self.thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self.thread.start()

    def _run(self, url: str) -> None:
        try:
            self.result.put(httpx.get(url, timeout=30))
        except BaseException as exc:
            self.result.put(exc)

    def response(self) -> httpx.Response:
        item = self.result.get(timeout=30)
        assert isinstance(item, httpx.Response), item
        return item


@pytest.fixture
def listener() -> Iterator[CallbackListener]:
    listening = CallbackListener(state="the-state")
    listening.start()
    try:
        yield listening
    finally:
        listening.close(grace=1)


def callback_url(listener: CallbackListener, **params: str) -> str:
    return f"{listener.redirect_uri}?{urlencode(params)}"


def test_listener_recovers_the_cancel_links_fragment(listener: CallbackListener) -> None:
    bare = httpx.get(listener.redirect_uri, timeout=10)
    # The page asks the browser to send the fragment (which it never sends) as the query.
    assert bare.status_code == 200 and bare.headers["cache-control"] == "no-store"
    assert 'window.location.replace(window.location.pathname + q + (q ? "&" : "?") + h)' in bare.text
    assert "window.location.hash" in bare.text and "<noscript>" in bare.text
    denied = httpx.get(callback_url(listener, error="access_denied"), timeout=10)
    assert "Login cancelled" in denied.text and "stored nothing" in denied.text
    with pytest.raises(CLIError) as caught:
        listener.wait(10)
    assert caught.value.code == 3 and "access denied in the browser" in caught.value.what
    assert "nothing was stored" in caught.value.todo and "secret" not in caught.value.todo
    later = httpx.get(callback_url(listener, code="x", state="the-state"), timeout=10)
    assert later.status_code == 409 and "no longer waiting" in later.text


def test_listener_serves_the_callback_while_a_connection_idles(listener: CallbackListener) -> None:
    port = int(urlsplit(listener.redirect_uri).port or 0)
    idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]  # say nothing
    try:
        fetch = Fetch(callback_url(listener, code="abc/1", state="the-state"))
        callback = listener.wait(20)
        assert callback.code == "abc/1"
        callback.succeed("Demo User (uid 1)")
        page = fetch.response()
        assert page.status_code == 200 and "Logged in as Demo User (uid 1)" in page.text
        assert "return to the terminal" in page.text
    finally:
        for conn in idle:
            conn.close()


def test_listener_drops_a_silent_connection_after_its_timeout() -> None:
    listening = CallbackListener(connection_timeout=0.2)
    listening.start()
    try:
        port = int(urlsplit(listening.redirect_uri).port or 0)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as idle:
            assert idle.recv(1) == b""  # closed by the listener (not our 10 s timeout)
    finally:
        listening.close(grace=1)


def test_listener_answers_wrong_states_and_keeps_waiting(listener: CallbackListener) -> None:
    for params in ({"code": "c", "state": "stale"}, {"code": "c"}, {"error": "access_denied", "state": "x"}):
        page = httpx.get(callback_url(listener, **params), timeout=10)
        assert page.status_code == 400 and "Not this login" in page.text and "still waiting" in page.text
    # No answer in the query (a redirect URI's own query): the fragment-forwarding page.
    assert "window.location.hash" in httpx.get(callback_url(listener, foo="bar"), timeout=10).text
    assert httpx.get(listener.redirect_uri.replace("/callback", "/favicon.ico"), timeout=10).status_code == 404
    fetch = Fetch(callback_url(listener, code="real", state="the-state"))
    callback = listener.wait(20)
    assert callback.code == "real" and listener.wrong_state == 3
    callback.succeed("uid 7")
    assert "Logged in as uid 7" in fetch.response().text


def test_listener_holds_the_page_until_the_outcome_is_known(listener: CallbackListener) -> None:
    url = callback_url(listener, code="abc", state="the-state")
    fetch = Fetch(url)
    callback = listener.wait(20)
    # The handler waits for the outcome: the browser cannot have its page yet.
    assert fetch.thread.is_alive() and fetch.result.empty()
    callback.fail("OAuth: invalid_grant: Expired authorization code", "run `okru login` again")
    page = fetch.response()
    assert page.status_code == 502 and "Login failed" in page.text and "Logged in" not in page.text
    assert "Expired authorization code" in page.text and "What to do: run `okru login` again" in page.text
    assert "Return to the terminal" in page.text
    callback.succeed("too late")  # the first outcome stands
    again = httpx.get(url, timeout=10)  # a reload shows the same outcome
    assert again.status_code == 502 and "Expired authorization code" in again.text


def test_listener_times_out_and_says_what_it_ignored(listener: CallbackListener) -> None:
    httpx.get(callback_url(listener, code="c", state="stale"), timeout=10)
    ticks: list[float] = []
    with pytest.raises(CLIError) as caught:
        listener.wait(0.3, ticks.append, tick=0.1)
    assert caught.value.code == 3 and "no callback from the browser within 0.3 s" in caught.value.what
    assert "ignored 1 request(s) with a wrong state" in caught.value.what and ticks


def test_listener_busy_port_is_a_clear_error(listener: CallbackListener) -> None:
    with pytest.raises(CLIError) as caught:
        CallbackListener(redirect_uri=listener.redirect_uri)
    assert "cannot listen on 127.0.0.1" in caught.value.what and "--port" in caught.value.todo


# -- okru login --password --------------------------------------------------------------------------

def run_with_stdin(okru: Runner, stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "okru", *args], input=stdin, capture_output=True, text=True,
                          encoding="utf-8", env=okru.env, timeout=60, check=False)


def test_login_password_from_stdin_stores_what_the_browser_login_stores(okru: Runner, server: Server) -> None:
    fake, url = server
    base = login_args(fake, url)[:-3]  # without --no-browser --timeout 30
    done = run_with_stdin(okru, f"{fake.user_password}\n", *base, "--password", "--user", fake.user_login)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Logged in as Demo User (uid 571000000001)" in done.stdout
    path = okru.config_dir / "credentials.json"
    stored = json.loads(path.read_text())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(stored) == {f.name for f in dataclasses.fields(StoredLogin)}
    assert stored["access_token"] in fake.tokens and stored["uid"] == fake.user_id
    assert stored["name"] == "Demo User" and stored["api_url"] == url and stored["connect_url"] == url
    assert stored["app_secret_key"] == fake.app_secret_key
    assert stored["refresh_token"] is None  # auth.login issues none (docs/protocol.md §3.3)
    assert_no_secrets(done.stdout + done.stderr, stored["access_token"])
    assert fake.requests[0].method == "auth.login"  # the password went in a POST body, never a URL
    assert fake.user_password not in fake.requests[0].request.url
    me = okru("call", "users.getCurrentUser")
    assert me.returncode == 0 and json.loads(me.stdout)["uid"] == fake.user_id


def test_login_password_wrong_or_missing(okru: Runner, server: Server) -> None:
    fake, url = server
    base = login_args(fake, url)[:-3]
    wrong = run_with_stdin(okru, "not-it\n", *base, "--password", "--user", fake.user_login)
    assert wrong.returncode == 3 and "401" in wrong.stderr and "not-it" not in wrong.stdout + wrong.stderr
    empty = run_with_stdin(okru, "", *base, "--password", "--user", fake.user_login)
    assert empty.returncode == 2 and "no password given" in empty.stderr
    no_user = run_with_stdin(okru, "x\n", *base, "--password")
    assert no_user.returncode == 2 and "--user" in no_user.stderr
    user_alone = run_with_stdin(okru, "", *base, "--user", "demo")
    assert user_alone.returncode == 2 and "--user goes with --password" in user_alone.stderr
    assert not (okru.config_dir / "credentials.json").exists()


# -- okru fake-server's clock -----------------------------------------------------------------------

def test_fake_server_clock_options() -> None:
    from okru._cli import build_parser
    from okru._fake_server import _emulator_clock

    def clock(*args: str) -> tuple[object, str]:
        return _emulator_clock(build_parser().parse_args(["fake-server", *args]))

    wall, text = clock()
    assert isinstance(wall, WallClock) and wall.speed == 1.0 and "codes live 2 minutes" in text
    fast, text = clock("--clock-speed", "60")
    assert isinstance(fast, WallClock) and fast.speed == 60.0 and "x60" in text
    frozen, text = clock("--clock", "frozen")
    assert isinstance(frozen, FakeClock) and "never expire" in text
    with pytest.raises(CLIError):
        clock("--clock", "frozen", "--clock-speed", "2")
    for bad in (["--clock-speed", "0"], ["--clock-speed", "nan"], ["--oauth-error-status", "99"]):
        with pytest.raises(CLIError):
            build_parser().parse_args(["fake-server", *bad])


def test_fake_server_process_clock_and_oauth_error_status(okru: Runner) -> None:
    proc = okru.popen("fake-server", "--oauth-error-status", "200", "--clock-speed", "2")
    try:
        url = proc.wait_line(r"^(http://127\.0\.0\.1:\d+)$").group(1)
        proc.wait_line(r"^Clock: wall clock x2 .*token\.do errors use HTTP 200")
        fake = FakeOK()
        answer = httpx.post(f"{url}/oauth/token.do", data={"client_id": fake.app_id, "grant_type": "password",
                                                           "client_secret": fake.app_secret_key}, timeout=10)
        assert answer.status_code == 200 and answer.json()["error"] == "unsupported_grant_type"
    finally:
        proc.kill()


def test_a_state_mismatch_is_explained_as_one() -> None:
    code, line = describe_error(StateMismatchError(), debug_hint=False)
    assert code == 3 and "another login attempt" in line and "secret" not in line


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_password_prompt_on_a_terminal_and_one_line_from_a_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    from okru._login import command as _login_cmd

    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return "s3cret pass"

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    monkeypatch.setattr(sys, "stdin", _Terminal("never read\n"))
    assert _login_cmd._read_password("demo") == "s3cret pass"
    assert prompts == ["OK.ru password for demo: "]
    monkeypatch.setattr(sys, "stdin", io.StringIO("pw with spaces \r\nsecond line\n"))
    assert _login_cmd._read_password("demo") == "pw with spaces "  # one line, only its line end removed
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    with pytest.raises(CLIError, match="no password given"):
        _login_cmd._read_password("demo")
