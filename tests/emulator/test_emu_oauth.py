"""OAuth: token.do (docs/protocol.md §3.1, §3.4) and the login/permission dialogs (§3.6)."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlencode

import pytest

from okru_proto.adapter import Request, Response, parse_forms
from okru_proto.testing import FakeOK, WallClock
from okru_proto.testing._oauth import SCOPE_DESCRIPTIONS
from tests.emulator.helpers import (
    BASE,
    Browser,
    authorize_url,
    body,
    call,
    error_code,
    fragment,
    parse_page,
    query,
)

REDIRECT = "http://localhost/callback"


def token_do(fake: FakeOK, params: dict[str, str], *, in_query: bool = False) -> Response:
    encoded = urlencode(params)
    if in_query:
        return fake.handle(Request("POST", f"{BASE}/oauth/token.do?{encoded}"))
    return fake.handle(Request("POST", f"{BASE}/oauth/token.do",
                               (("content-type", "application/x-www-form-urlencoded"),), encoded.encode()))


def code_params(fake: FakeOK, the_code: str, **overrides: str) -> dict[str, str]:
    return {"code": the_code, "client_id": fake.app_id, "client_secret": fake.app_secret_key,
            "redirect_uri": REDIRECT, "grant_type": "authorization_code", **overrides}


@pytest.mark.parametrize("in_query", [False, True])
def test_code_grant(fake: FakeOK, in_query: bool) -> None:
    code = fake.authorize_code(redirect_uri=REDIRECT)
    response = token_do(fake, code_params(fake, code), in_query=in_query)
    result = body(response)
    assert set(result) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert result["token_type"] == "session" and result["expires_in"] == "1800"
    assert error_code(call(fake, "friends.get", token={"access_token": result["access_token"],
                                                       "session_secret_key": ""}, circuit="server")) is None
    again = token_do(fake, code_params(fake, code))
    assert again.status == 400 and body(again)["error"] == "invalid_grant"


def test_code_expires_after_two_minutes(fake: FakeOK) -> None:
    code = fake.authorize_code(redirect_uri=REDIRECT)
    fake.clock.advance(120)
    assert body(token_do(fake, code_params(fake, code)))["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"client_secret": "wrong"}, "invalid_client"),
        ({"client_id": "700000000123"}, "invalid_client"),
        ({"redirect_uri": "https://oauth.mycdn.me/blank.html"}, "invalid_grant"),
        ({"code": "nope"}, "invalid_grant"),
        ({"code": ""}, "invalid_request"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"grant_type": ""}, "invalid_request"),
        ({"client_id": ""}, "invalid_request"),
    ],
)
def test_token_errors(fake: FakeOK, overrides: dict[str, str], error: str) -> None:
    code = fake.authorize_code(redirect_uri=REDIRECT)
    response = token_do(fake, code_params(fake, code, **overrides))
    assert response.header("content-type") == "application/json;charset=utf-8"
    assert response.status == 400
    assert body(response)["error"] == error and body(response)["error_description"]


def test_oauth_error_status_is_configurable(fake: FakeOK) -> None:
    fake.oauth_error_status = 200
    assert token_do(fake, {"grant_type": "password", "client_id": fake.app_id,
                           "client_secret": fake.app_secret_key}).status == 200


def test_empty_token_request_is_tomcat_400(fake: FakeOK) -> None:
    response = fake.handle(Request("POST", f"{BASE}/oauth/token.do"))
    assert response.status == 400 and (response.header("content-type") or "").startswith("text/html")
    assert b"HTTP Status 400 - Provide OAUTH request parameters!" in response.body


def test_non_numeric_client_id_is_html_200(fake: FakeOK) -> None:
    response = token_do(fake, {"client_id": fake.app_key, "grant_type": "refresh_token", "refresh_token": "x"})
    assert response.status == 200 and (response.header("content-type") or "").startswith("text/html")
    assert response.body == (b"Error : Failed to convert value of type [java.lang.String] to required type "
                             b"[java.lang.Long]")


def test_refresh_grant(fake: FakeOK) -> None:
    issued = fake.issue_token()
    params = {"refresh_token": issued["refresh_token"], "client_id": fake.app_id,
              "client_secret": fake.app_secret_key, "grant_type": "refresh_token"}
    fake.clock.advance(29 * 86400)
    result = body(token_do(fake, params))
    assert set(result) == {"access_token", "token_type", "expires_in"}  # no new refresh token
    assert result["expires_in"] == "1800" and result["access_token"] != issued["access_token"]
    fake.clock.advance(86400)
    assert body(token_do(fake, params))["error"] == "invalid_grant"


# -- dialogs -------------------------------------------------------------------------------------

def _login(browser: Browser, start: Response, password: str = "demo-password", login: str = "demo") -> Response:
    page = parse_page(start)
    assert "hook_Block_OAuth2Login" in page.ids
    (form,) = page.forms
    assert form.method == "POST" and form.action.startswith("/dk?cmd=OAuth2Login&st.cmd=OAuth2Login")
    assert form.fields == {"fr.posted": "set", "fr.email": "", "fr.password": "", "fr.remember": "on"}
    return browser.post(form.action, {**form.fields, "fr.email": login, "fr.password": password})


def _accept(browser: Browser, page_response: Response) -> Response:
    page = parse_page(page_response)
    assert "hook_Block_OAuth2Permissions" in page.ids
    (form,) = page.forms
    assert form.action == "/dk?st.cmd=OAuth2Permissions&cmd=OAuth2Permissions"
    assert form.buttons == ["button_accept_request"] and form.fields["fr.posted"] == "set"
    return browser.post(form.action, {**form.fields, "button_accept_request": ""})


def test_implicit_flow_through_dialogs(fake: FakeOK) -> None:
    browser = Browser(fake)
    first = browser.get(authorize_url(fake))
    assert first.status == 302 and (first.header("location") or "").startswith("/dk?st.cmd=OAuth2Login&")
    after_login = _login(browser, browser.follow(first))
    assert after_login.status == 302 and "AUTHCODE" in browser.cookies
    assert after_login.header_values("set-cookie")[0].endswith("; Path=/; HttpOnly")
    assert (after_login.header("location") or "").startswith("/dk?st.cmd=OAuth2Permissions&")
    permissions = browser.follow(after_login)
    cancel = [link for link in parse_page(permissions).links if "#error=" in link]
    assert cancel == ["https://oauth.mycdn.me/blank.html#error=access_denied"]
    final = _accept(browser, permissions)
    assert final.status == 302
    location = final.header("location") or ""
    assert location.startswith("https://oauth.mycdn.me/blank.html#access_token=")
    result = fragment(location)
    assert list(result) == ["access_token", "session_secret_key", "expires_in", "permissions_granted", "state"]
    assert result["expires_in"] == "1800" and result["state"] == "st-123"
    assert result["permissions_granted"] == "PHOTO_CONTENT;VALUABLE_ACCESS"
    tok = {"access_token": result["access_token"], "session_secret_key": result["session_secret_key"]}
    for circuit in ("client", "server"):  # an implicit token signs either circuit
        assert body(call(fake, "users.getLoggedInUser", token=tok, circuit=circuit)) == fake.user_id
    # Already granted + logged in: authorize goes straight back to the app.
    again = browser.get(authorize_url(fake, state="second"))
    assert again.status == 302 and fragment(again.header("location") or "")["state"] == "second"
    # A new scope brings the permission page back.
    more = browser.get(authorize_url(fake, scope="VALUABLE_ACCESS;GROUP_CONTENT"))
    assert (more.header("location") or "").startswith("/dk?st.cmd=OAuth2Permissions&")


def test_code_flow_through_dialogs(fake: FakeOK) -> None:
    browser = Browser(fake)
    redirect_uri = "http://127.0.0.1:54321/cb?x=1"  # demo app: any loopback port and path
    first = browser.get(authorize_url(fake, response_type="code", redirect_uri=redirect_uri, state="a b/c"))
    final = _accept(browser, browser.follow(_login(browser, browser.follow(first))))
    location = final.header("location") or ""
    assert location.startswith(redirect_uri + "&code=")
    params = query(location)
    assert params["state"] == "a b/c" and params["x"] == "1"
    result = body(token_do(fake, code_params(fake, params["code"], redirect_uri=redirect_uri)))
    assert result["token_type"] == "session"


def test_bad_password_shows_login_again(fake: FakeOK) -> None:
    browser = Browser(fake)
    response = _login(browser, browser.follow(browser.get(authorize_url(fake))), password="nope")
    assert response.status == 200 and "AUTHCODE" not in browser.cookies
    page = parse_page(response)
    assert "hook_Block_OAuth2Login" in page.ids and page.forms[0].fields["fr.email"] == "demo"
    assert "Неправильно указан логин и/или пароль".encode() in response.body


def test_wrong_csrf_token(fake: FakeOK) -> None:
    browser = Browser(fake)
    permissions = browser.follow(_login(browser, browser.follow(browser.get(authorize_url(fake)))))
    (form,) = parse_page(permissions).forms
    response = browser.post(form.action, {**form.fields, "fr.token": "forged", "button_accept_request": ""})
    assert response.status == 200 and b"hook_Block_OAuth2Error" in response.body
    no_cookie = Browser(fake)
    assert b"hook_Block_OAuth2Error" in no_cookie.post(form.action, {**form.fields, "button_accept_request": ""}).body


def test_cancel_by_post(fake: FakeOK) -> None:
    browser = Browser(fake)
    permissions = browser.follow(_login(browser, browser.follow(browser.get(authorize_url(fake)))))
    (form,) = parse_page(permissions).forms
    response = browser.post(form.action, form.fields)
    assert response.header("location") == "https://oauth.mycdn.me/blank.html#error=access_denied"


def test_captcha_page(fake: FakeOK) -> None:
    fake.add_user("robot", "robot-pw", captcha=True)
    browser = Browser(fake)
    response = browser.follow(_login(browser, browser.follow(browser.get(authorize_url(fake))),
                                     login="robot", password="robot-pw"))
    assert response.status == 200 and "hook_Block_OAuth2Captcha" in parse_page(response).ids


def test_permissions_page_without_cookie_redirects_to_login(fake: FakeOK) -> None:
    browser = Browser(fake)
    first = browser.get(authorize_url(fake))
    target = (first.header("location") or "").replace("OAuth2Login", "OAuth2Permissions")
    assert (browser.get(target).header("location") or "").startswith("/dk?st.cmd=OAuth2Login&")


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"client_id": "abc"}, "invalid_request"),
        ({"client_id": "700000000777"}, "invalid_request"),
        ({"redirect_uri": "https://evil.example/cb"}, "invalid_request"),
        ({"redirect_uri": "http://localhost:8080/other#frag"}, "invalid_request"),
        ({"response_type": "id_token"}, "unsupported_response_type"),
    ],
)
def test_authorize_errors(fake: FakeOK, overrides: dict[str, str], error: str) -> None:
    response = Browser(fake).get(authorize_url(fake, **overrides))
    assert response.status == 400 and body(response)["error"] == error


def test_registered_redirects_and_client_oauth(fake: FakeOK) -> None:
    fake.add_app("700000000005", "K5", "S5", redirect_uris=("https://app.example/cb", "http://127.0.0.1/cb"),
                 client_oauth=False)
    browser = Browser(fake)
    implicit = browser.get(authorize_url(fake, client_id="700000000005", redirect_uri="https://app.example/cb"))
    assert body(implicit)["error"] == "unauthorized_client"
    ok = [
        "https://app.example/cb", "https://app.example/cb?q=1", "http://127.0.0.1:9999/cb", "http://127.0.0.1/cb",
    ]
    bad = ["https://app.example/cb2", "http://app.example/cb", "http://127.0.0.1:9999/other"]
    for uri in ok + bad:
        response = browser.get(authorize_url(fake, client_id="700000000005", response_type="code", redirect_uri=uri))
        assert (response.status == 302) == (uri in ok), uri


def test_loopback_redirects_follow_the_core_rule(fake: FakeOK) -> None:
    # The emulator has no loopback rule of its own: it uses the core's, where *.localhost is
    # loopback too (RFC 6761 §6.3), so the demo app takes any http loopback redirect URI.
    for uri in ("http://app.localhost:8123/cb", "http://[::1]:9/cb", "http://127.0.0.2/cb"):
        assert fake.authorize_code(redirect_uri=uri) in fake.codes
    for uri in ("http://app.localhost.example/cb", "http://128.0.0.1/cb"):
        with pytest.raises(ValueError):
            fake.authorize_code(redirect_uri=uri)


def test_authorize_code_helper_checks_redirect(fake: FakeOK) -> None:
    with pytest.raises(ValueError):
        fake.authorize_code(redirect_uri="https://evil.example/")


def test_dialog_error_paths(fake: FakeOK) -> None:
    browser = Browser(fake)
    assert browser.get("/dk?st.cmd=OAuth2Login&st.client_id=1").status == 400
    assert browser.post("/dk?cmd=OAuth2Login&st.cmd=OAuth2Login", {"fr.email": "demo"}).status == 400
    assert browser.get("/dk?st.cmd=OAuth2Permissions").status == 400
    assert browser.get("/dk?st.cmd=userMain").status == 404
    # A fresh login page from the redirect works without any cookie.
    first = browser.get(authorize_url(fake))
    page = parse_page(browser.follow(first))
    assert "hook_Block_OAuth2Login" in page.ids and not browser.cookies


def test_change_user_link_and_second_user(fake: FakeOK) -> None:
    fake.add_user("alice", "alice-pw", first_name="Alice")
    browser = Browser(fake)
    permissions = browser.follow(_login(browser, browser.follow(browser.get(authorize_url(fake)))))
    change = [link for link in parse_page(permissions).links if "OAuth2Login" in link]
    assert len(change) == 1
    again = _login(browser, browser.get(change[0]), login="alice", password="alice-pw")
    final = _accept(browser, browser.follow(again))
    tok = fragment(final.header("location") or "")
    assert fake.tokens[tok["access_token"]].uid == fake.user_by_login("alice").uid  # type: ignore[union-attr]


def test_dialogs_over_loopback_with_a_real_cookie_jar(fake: FakeOK) -> None:
    import httpx

    from okru_trio.testing import run_fake_server

    with run_fake_server(fake) as url, httpx.Client(base_url=url) as client:
        redirect_uri = url + "/callback"
        response = client.get(authorize_url(fake, redirect_uri=redirect_uri))
        login_page = client.get(response.headers["location"])
        (form,) = parse_page(Response(200, (), login_page.content)).forms
        response = client.post(form.action, data={**form.fields, "fr.email": "demo", "fr.password": "demo-password"})
        assert response.status_code == 302 and "AUTHCODE" in client.cookies
        permissions = client.get(response.headers["location"])
        (form,) = parse_page(Response(200, (), permissions.content)).forms
        final = client.post(form.action, data={**form.fields, "button_accept_request": ""})
        assert final.headers["location"].startswith(redirect_uri + "#access_token=")


# -- dialog pages for people (names, scope descriptions, labels) ---------------------------------

class _Controls(HTMLParser):
    """Visible form controls (id, type) and the ids that a <label for=...> points at."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[tuple[str, str]] = []
        self.labelled: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "input" and (a.get("type") or "text") in ("text", "password", "checkbox", "email"):
            self.controls.append((a.get("id") or "", a.get("name") or ""))
        if tag == "label" and a.get("for"):
            self.labelled.add(a["for"] or "")


def _controls(response: Response) -> _Controls:
    parser = _Controls()
    parser.feed(response.body.decode("utf-8"))
    return parser


def test_dialog_pages_name_the_app_describe_scopes_and_label_controls(fake: FakeOK) -> None:
    fake.add_app("700000000009", "K9", "S9", redirect_uris=("https://app.example/cb",))
    fake.apps["700000000009"].name = "Фотоальбом <Pro>"
    browser = Browser(fake)
    first = browser.get(authorize_url(fake, client_id="700000000009", redirect_uri="https://app.example/cb",
                                      scope="VALUABLE_ACCESS;PHOTO_CONTENT;LONG_ACCESS_TOKEN;SOME_NEW_SCOPE"))
    login_page = browser.follow(first)
    text = login_page.body.decode("utf-8")
    assert "«Фотоальбом &lt;Pro&gt;»" in text  # the app's name, escaped
    controls = _controls(login_page)
    assert [name for _, name in controls.controls] == ["fr.email", "fr.password", "fr.remember"]
    assert all(cid and cid in controls.labelled for cid, _ in controls.controls), controls.controls
    permissions = browser.follow(_login(browser, login_page))
    text = permissions.body.decode("utf-8")
    assert "Приложение «Фотоальбом &lt;Pro&gt;» запрашивает доступ" in text
    assert "Вы вошли как Demo User" in text
    for scope in ("VALUABLE_ACCESS", "PHOTO_CONTENT", "LONG_ACCESS_TOKEN"):
        assert f"{SCOPE_DESCRIPTIONS[scope]} <span class=\"scope-name\">({scope})</span>" in text
    assert "<li>SOME_NEW_SCOPE</li>" in text  # unknown: shown by name
    # OK's form is intact: the core's dialog parser finds exactly OK's fields and button.
    (form,) = parse_forms(text)
    assert [name for name, _ in form.fields] == ["fr.posted", "fr.token"]
    assert form.buttons == [("button_accept_request", "")]
    assert ">Войти</button>" in text and ">Отменить</a>" in text


def test_every_known_scope_has_a_description() -> None:
    from okru_proto.testing._model import KNOWN_SCOPES

    assert set(KNOWN_SCOPES) <= set(SCOPE_DESCRIPTIONS)


def test_captcha_page_labels_its_input(fake: FakeOK) -> None:
    fake.add_user("robot", "robot-pw", captcha=True)
    browser = Browser(fake)
    page = browser.follow(_login(browser, browser.follow(browser.get(authorize_url(fake))),
                                 login="robot", password="robot-pw"))
    controls = _controls(page)
    assert controls.controls == [("field_captcha", "fr.captcha")] and "field_captcha" in controls.labelled


# -- the wall clock (okru fake-server's default) ---------------------------------------------------

class _Ticker:
    """A time source the test moves: no waiting."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value


def test_wall_clock_ages_codes_and_tokens_in_real_time() -> None:
    ticker = _Ticker()
    fake = FakeOK(clock=WallClock(time_source=ticker))
    assert fake.now == ticker.value
    code = fake.authorize_code(redirect_uri=REDIRECT)
    ticker.value += 119
    result = body(token_do(fake, code_params(fake, code)))
    assert result["expires_in"] == "1800"
    stale = fake.authorize_code(redirect_uri=REDIRECT)
    ticker.value += 120  # "active for 2 minutes" (docs/protocol.md §3.1)
    assert body(token_do(fake, code_params(fake, stale)))["error"] == "invalid_grant"
    ticker.value += 1800 - 120
    assert error_code(call(fake, "users.getLoggedInUser", token={"access_token": result["access_token"],
                                                                 "session_secret_key": ""},
                           circuit="server")) == 102


def test_accelerated_clock_and_advance() -> None:
    ticker = _Ticker()
    clock = WallClock(60, time_source=ticker)
    ticker.value += 30
    assert clock.now == ticker.value - 30 + 1800
    assert clock.advance(100) == clock.now == ticker.value - 30 + 1900
    with pytest.raises(ValueError):
        clock.advance(-1)
    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ValueError):
            WallClock(bad)
    assert "speed=60.0" in repr(clock)

