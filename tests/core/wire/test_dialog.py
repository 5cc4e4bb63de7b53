"""The implicit grant through OK's dialogs, driven with canned pages (docs/protocol.md §3.6)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from okru_proto import Endpoints, Error, OAuthError, ProtocolError
from okru_proto.adapter import (
    MAX_DIALOG_STEPS,
    CookieJar,
    Request,
    Response,
    implicit_flow,
    parse_forms,
    run_sync,
)
from okru_proto.errors import BadCredentialsError, DialogError, StateMismatchError

HTML = (("content-type", "text/html;charset=utf-8"),)
BLANK = "https://oauth.mycdn.me/blank.html"

LOGIN_PAGE = """<html><body><div id="hook_Block_OAuth2Login">
<FORM Method="post" action="/dk?cmd=OAuth2Login&amp;st.cmd=OAuth2Login">
  <input type="hidden" name="fr.posted" value="set">
  <label>Логин, адрес почты или телефон</label><INPUT name="fr.email" TYPE="text" value="">
  <div><input type="password" name="fr.password"></div>
  <input name="fr.remember" type="checkbox" value="on" checked>
  <input name="fr.unchecked" type="checkbox" value="on">
  <input type="submit" value="Войти">
</FORM></div></body></html>"""

PERMS_PAGE = """<html><body><div id="hook_Block_OAuth2Permissions">
<form method="POST" action="/dk?st.cmd=OAuth2Permissions&amp;cmd=OAuth2Permissions">
<input type="hidden" name="fr.posted" value="set"><input value="o176W4DYRip1ge0wQtgFmxsIDnUxkwFj" name="fr.token" type="hidden">
<button name="button_accept_request" class="button-pro">Войти</button>
<a href="https://oauth.mycdn.me/blank.html#error=access_denied">Отменить</a>
</form></div></body></html>"""

CAPTCHA_PAGE = """<html><body><form method="post" action="/dk?st.cmd=OAuth2Captcha"><input name="fr.captcha"></form></body></html>"""


def page(html: str) -> Response:
    return Response(200, HTML, html.encode())


def redirect(location: str, *cookies: str, status: int = 302) -> Response:
    headers = [("location", location)] + [("set-cookie", c) for c in cookies]
    return Response(status, tuple(headers), b"")


def run(replies, **kwargs):
    sent: list[Request] = []
    replies = list(replies)

    def send(request):
        sent.append(request)
        if not replies:
            raise AssertionError("flow sent more requests than scripted")
        return replies.pop(0)

    args = dict(scope=["VALUABLE_ACCESS"], state="st8", now=1000.0)
    args.update(kwargs)
    result = run_sync(implicit_flow("512", "user@example.com", "pa$$word", **args), send, lambda s: None)
    return result, sent


FINAL = (BLANK + "#access_token=AT&session_secret_key=SSK&expires_in=1800"
         "&permissions_granted=VALUABLE_ACCESS&state=st8")


def full_dialog():
    return [
        redirect("/dk?st.cmd=OAuth2Login&st.client_id=512"),
        page(LOGIN_PAGE),
        redirect("/dk?st.cmd=OAuth2Permissions", "AUTHCODE=abc123; Path=/; HttpOnly", "JSESSIONID=j1; Path=/"),
        page(PERMS_PAGE),
        redirect(FINAL),
    ]


def test_full_dialog():
    token, sent = run(full_dialog())
    assert token.access_token.reveal() == "AT" and token.session_secret_key is not None
    assert token.session_secret_key.reveal() == "SSK"
    assert (token.expires_in, token.expires_at, token.state, token.permissions_granted) == (
        1800, 2800.0, "st8", "VALUABLE_ACCESS")
    first = urlsplit(sent[0].url)
    assert first.netloc == "connect.ok.ru" and first.path == "/oauth/authorize"
    assert dict(parse_qsl(first.query))["response_type"] == "token"
    assert dict(parse_qsl(first.query))["redirect_uri"] == BLANK
    assert sent[1].url == "https://connect.ok.ru/dk?st.cmd=OAuth2Login&st.client_id=512"
    login = sent[2]
    assert login.method == "POST" and login.url == "https://connect.ok.ru/dk?cmd=OAuth2Login&st.cmd=OAuth2Login"
    assert dict(parse_qsl(login.body.decode())) == {"fr.posted": "set", "fr.remember": "on",
                                                    "fr.email": "user@example.com", "fr.password": "pa$$word"}
    assert sent[3].header("cookie") == "AUTHCODE=abc123; JSESSIONID=j1"
    perms = sent[4]
    assert dict(parse_qsl(perms.body.decode(), keep_blank_values=True)) == {
        "fr.posted": "set", "fr.token": "o176W4DYRip1ge0wQtgFmxsIDnUxkwFj", "button_accept_request": ""}
    assert perms.header("cookie") == "AUTHCODE=abc123; JSESSIONID=j1"
    assert all(not r.url.startswith(BLANK) for r in sent), "the redirect URI itself is never requested"


def test_already_granted_skips_permissions():
    replies = full_dialog()
    replies[2] = redirect(FINAL, "AUTHCODE=x; Path=/")
    token, sent = run(replies[:3])
    assert token.access_token.reveal() == "AT" and len(sent) == 3


def test_absolute_redirects_and_303():
    replies = full_dialog()
    replies[0] = redirect("https://connect.ok.ru/dk?st.cmd=OAuth2Login", status=303)
    token, _ = run(replies)
    assert token.state == "st8"


def test_bad_password_shows_login_again():
    replies = [redirect("/dk?st.cmd=OAuth2Login"), page(LOGIN_PAGE), page(LOGIN_PAGE)]
    with pytest.raises(BadCredentialsError):
        run(replies)


def test_unknown_page_names_st_cmd():
    replies = [redirect("/dk?st.cmd=OAuth2Login"), page(LOGIN_PAGE), redirect("/dk?st.cmd=OAuth2Captcha"),
               page(CAPTCHA_PAGE)]
    with pytest.raises(DialogError) as info:
        run(replies)
    assert info.value.st_cmd == "OAuth2Captcha" and "OAuth2Captcha" in str(info.value)


def test_access_denied_and_state_mismatch():
    with pytest.raises(OAuthError) as info:
        run([redirect(BLANK + "#error=access_denied")])
    assert info.value.error == "access_denied"
    with pytest.raises(StateMismatchError):
        run([redirect(BLANK + "#access_token=A&session_secret_key=S&state=other")])


def test_credentials_never_go_to_a_foreign_host():
    # a redirect to another host is refused before anything is sent there
    with pytest.raises(DialogError) as info:
        run([redirect("https://evil.example/dk?st.cmd=OAuth2Login")])
    assert "evil.example" in str(info.value)
    # a login form posting elsewhere is refused: the password is never sent
    evil_form = LOGIN_PAGE.replace('action="/dk?', 'action="https://evil.example/dk?')
    sent_holder = []
    with pytest.raises(DialogError):
        _, sent_holder = run([redirect("/dk?st.cmd=OAuth2Login"), page(evil_form)])
    assert sent_holder == []


def test_cookies_stay_with_their_host():
    endpoints = Endpoints(api="https://api.ok.ru", connect="https://connect.ok.ru")
    replies = [redirect("/dk?st.cmd=OAuth2Login", "C=connect-only"), redirect("https://api.ok.ru/dk?st.cmd=X"),
               page(LOGIN_PAGE), redirect(FINAL)]
    _, sent = run(replies, endpoints=endpoints)
    assert sent[1].header("cookie") == "C=connect-only"
    assert sent[2].header("cookie") is None  # api.ok.ru never sees connect.ok.ru's cookie


def test_redirect_loop_is_bounded():
    with pytest.raises(DialogError):
        run([redirect("/dk?st.cmd=Loop")] * (MAX_DIALOG_STEPS + 1))


def test_redirect_without_location_and_5xx():
    with pytest.raises(ProtocolError):
        run([Response(302, (), b"")])
    with pytest.raises(ProtocolError):
        run([Response(502, HTML, b"<html>bad gateway</html>")])


def test_json_error_from_authorize():
    body = b'{"error":"invalid_client","error_description":"unknown app"}'
    with pytest.raises(OAuthError) as info:
        run([Response(401, (("content-type", "application/json"),), body)])
    assert info.value.error == "invalid_client"


def test_forms_parser_tolerance():
    forms = parse_forms('<div><form ACTION=/x method=POST><p><input NAME=a VALUE=1><select name=s></select>'
                        '<textarea name=t></textarea><input type=radio name=r value=v checked>'
                        '<button type=button name=nb>x</button><input type=image name=i></form>'
                        '<form><input name=outside')
    assert forms[0].action == "/x" and forms[0].method == "POST"
    assert forms[0].fields == [("a", "1"), ("s", ""), ("t", ""), ("r", "v")]
    assert forms[0].buttons == []
    assert forms[1].method == "GET"


def test_cookie_jar_expiry_and_deletion():
    jar = CookieJar()
    jar.store("h", Response(200, (("set-cookie", "a=1; Path=/"), ("set-cookie", "b=2; Max-Age=0"),
                                   ("set-cookie", "c=3; Expires=Wed, 21 Oct 2015 07:28:00 GMT"),
                                   ("set-cookie", "d=4; Expires=Wed, 21 Oct 2099 07:28:00 GMT"),
                                   ("set-cookie", "broken"), ("set-cookie", "=novalue"))), now=1.7e9)
    assert jar.header("h") == "a=1; d=4"
    jar.store("h", Response(200, (("set-cookie", "a=gone; Max-Age=-1"),)), now=1.7e9)
    assert jar.header("h") == "d=4" and jar.header("other") is None
    assert "d=4" not in repr(jar)


@given(st.lists(st.tuples(st.sampled_from([200, 301, 302, 303, 307, 401, 500]),
                          st.sampled_from(["", LOGIN_PAGE, PERMS_PAGE, CAPTCHA_PAGE, "<form", "{}", '{"error":1}']),
                          st.sampled_from([None, "/dk?st.cmd=A", FINAL, BLANK + "#error=x", "https://evil/x",
                                           "javascript:alert(1)", "//connect.ok.ru/dk", BLANK + "?x=1"]),
                          st.lists(st.text(max_size=20).filter(lambda t: not any(c in t for c in "\r\n\x00")),
                                   max_size=2)),
                min_size=0, max_size=MAX_DIALOG_STEPS + 2))
def test_fuzz_dialog_ends_within_bound_with_our_errors(script):
    replies = []
    for status, body, location, cookies in script:
        headers = [("content-type", "application/json" if body.startswith("{") else "text/html")]
        if location:
            headers.append(("location", location))
        headers += [("set-cookie", c) for c in cookies]
        replies.append(Response(status, tuple(headers), body.encode()))
    count = 0

    def send(request):
        nonlocal count
        count += 1
        assert count <= MAX_DIALOG_STEPS
        assert "evil" not in request.url
        if not replies:
            raise ProtocolError("script exhausted")
        return replies.pop(0)

    try:
        run_sync(implicit_flow("512", "u", "p", state="st8", now=0.0), send, lambda s: None)
    except Error:
        pass


def test_host_case_is_canonicalised():
    # found by the 100k fuzz run: a Location spelling the dialog host in capitals
    replies = full_dialog()
    replies[0] = redirect("https://CONNECT.OK.RU/dk?st.cmd=OAuth2Login")
    token, sent = run(replies)
    assert token.access_token.reveal() == "AT"
    assert all(urlsplit(r.url).netloc == "connect.ok.ru" for r in sent)


def test_the_password_never_goes_into_a_url():
    # run() logs in as "user@example.com" / "pa$$word".
    for location in ("/dk?st.cmd=pa%24%24word", "/dk?x=pa$$word", "/dk?st.cmd=OAuth2Login&e=pa%24%24word"):
        with pytest.raises(DialogError, match="password") as info:
            run([redirect("/dk?st.cmd=OAuth2Login"), page(LOGIN_PAGE), redirect(location)])
        assert "pa$$word" not in str(info.value) and "pa%24%24word" not in str(info.value)
    # A login form that would GET the password in its query is refused before anything is sent.
    get_form = LOGIN_PAGE.replace('Method="post"', 'Method="get"')
    requests: list[Request] = []

    def send(request: Request) -> Response:
        requests.append(request)
        return [redirect("/dk?st.cmd=OAuth2Login"), page(get_form)][len(requests) - 1]

    with pytest.raises(DialogError, match="GET"):
        run_sync(implicit_flow("512", "user@example.com", "pa$$word", now=0.0), send, lambda s: None)
    assert len(requests) == 2 and not any("word" in r.url for r in requests)
