"""Fuzz every parser of the core (issue 8): response parsers (REST, token.do, auth.login, the
implicit fragment, upload and commit, paging), the HTML form parser, the cookie parser, the
redirect handling of the dialogs, the code callback parser, and the call flow under arbitrary
replies. Only our errors escape (``okru_proto.Error``), and every flow ends within its bound.

Every test is ``@pytest.mark.fuzz`` and carries no ``@settings``: the example count is the
active Hypothesis profile's (dev 100 / ci 200 in the normal run, fuzz 100,000 under
``nox -s fuzz``). ``test_fuzz_profile_gives_100k`` guards that.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import okru_proto
from okru_proto import Endpoints, RetryPolicy, Token
from okru_proto import Secret as S
from okru_proto._photos import UploadedPhoto
from okru_proto.adapter import (
    MAX_DIALOG_STEPS,
    CookieJar,
    Pager,
    Request,
    Response,
    SessionCore,
    implicit_flow,
    parse_call_response,
    parse_callback,
    parse_commit,
    parse_forms,
    parse_fragment_token,
    parse_json_body,
    parse_password_login,
    parse_token_response,
    parse_upload_reply,
    parse_upload_url,
    run_sync,
)

pytestmark = pytest.mark.fuzz

# -- strategies ----------------------------------------------------------------------------------

header_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"), max_size=60)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
#: Objects shaped like OK's replies: known keys with arbitrary values, plus noise.
KEYS = ["error_code", "error_msg", "error_data", "error", "error_description", "access_token",
        "refresh_token", "session_key", "session_secret_key", "expires_in", "token_type", "uid",
        "api_server", "upload_url", "photo_ids", "photos", "token", "status", "assigned_photo_id",
        "anchor", "has_more", "hasMore", "members", "users", "result"]
ok_objects = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=8)
json_bodies = (json_values | ok_objects).map(lambda v: json.dumps(v).encode())
bodies = st.one_of(
    json_bodies,
    json_bodies.flatmap(lambda b: st.integers(0, len(b)).map(lambda n: b[:n])),  # truncated
    st.binary(max_size=200),
    st.sampled_from([b"", b"<html><title>502</title></html>", b"\xff\xfe", b"[" * 5000, b"null",
                     b'{"error_code": "x"}', b'{"error_code": 102}', b'"str"', b"1e999"]),
)
content_types = st.sampled_from(["application/json;charset=utf-8", "text/html", "text/plain", "", "json"])
statuses = st.sampled_from([200, 200, 200, 201, 204, 301, 302, 400, 401, 403, 404, 499, 500, 502, 503]) | \
    st.integers(100, 999)


@st.composite
def responses(draw: Any) -> Response:
    headers = [("content-type", draw(content_types))]
    if draw(st.booleans()):
        headers.append(("invocation-error", draw(st.sampled_from(["8", "102", "x", "", "104"]) | header_text)))
    headers += [(draw(st.sampled_from(["set-cookie", "location", "x-any"])), draw(header_text))
                for _ in range(draw(st.integers(0, 2)))]
    return Response(draw(statuses), tuple(headers), draw(bodies))


def _only_ours(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except okru_proto.Error:
        return None


# -- the profile ---------------------------------------------------------------------------------

def test_fuzz_profile_gives_100k() -> None:
    """``nox -s fuzz`` loads the ``fuzz`` profile: >= 100,000 examples for each test here, none of
    which overrides the count with its own ``@settings``."""
    assert settings.get_profile("fuzz").max_examples >= 100_000
    if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz":
        assert settings.default.max_examples >= 100_000
    targets = [v for n, v in globals().items() if n.startswith("test_fuzz_") and hasattr(v, "hypothesis")]
    assert len(targets) >= 12
    for target in targets:
        used = target._hypothesis_internal_use_settings
        assert used.max_examples == settings.default.max_examples, f"{target.__name__} overrides the count"


# -- response parsers ----------------------------------------------------------------------------

@given(responses(), st.booleans())
def test_fuzz_parse_call_response(response: Response, pass_error: bool) -> None:
    result = _only_ours(parse_call_response, response, "users.getInfo", pass_error=pass_error,
                        secrets=["SECRETVALUE"])
    if result is not None and not pass_error:
        assert not (type(result) is dict and "error_code" in result)


@given(responses())
def test_fuzz_parse_json_body(response: Response) -> None:
    _only_ours(parse_json_body, response, "x")


@given(responses(), st.floats(0, 2e9), st.booleans())
def test_fuzz_parse_token_response(response: Response, now: float, with_previous: bool) -> None:
    previous = Token(S("a"), refresh_token=S("r"), uid="1") if with_previous else None
    token = _only_ours(parse_token_response, response, now, previous=previous)
    if token is not None:
        assert token.access_token and "***" in repr(token.access_token)
        assert token.expires_at is None or math.isfinite(token.expires_at)


@given(responses(), st.floats(0, 2e9))
def test_fuzz_parse_password_login(response: Response, now: float) -> None:
    token = _only_ours(parse_password_login, response, now)
    if token is not None:
        assert token.access_token and token.session_secret_key


query_text = st.lists(st.tuples(st.sampled_from(["access_token", "session_secret_key", "expires_in", "state",
                                                 "error", "error_description", "code", "x", "&", "="]),
                                st.text(max_size=20)), max_size=6).map(
    lambda pairs: "&".join(f"{k}={v}" for k, v in pairs)) | st.text(max_size=80)


@given(query_text, st.none() | st.sampled_from(["st", ""]), st.floats(0, 2e9))
def test_fuzz_parse_fragment_token(fragment: str, state: str | None, now: float) -> None:
    token = _only_ours(parse_fragment_token, fragment, now, expected_state=state)
    if token is not None and state is not None:
        assert token.state == state


@given(st.sampled_from(["", "http://localhost/cb?", "https://app.example/cb#", "/cb?", "?"]), query_text,
       st.none() | st.sampled_from(["st", ""]))
def test_fuzz_parse_callback(prefix: str, query: str, state: str | None) -> None:
    code = _only_ours(parse_callback, prefix + query, expected_state=state)
    assert code is None or (isinstance(code, str) and code)


@given(json_values | ok_objects, st.integers(1, 5))
def test_fuzz_parse_upload_url(result: object, count: int) -> None:
    parsed = _only_ours(parse_upload_url, result, count)
    if parsed is not None:
        ids, url = parsed
        assert len(ids) == count
        parts = urlsplit(url)
        assert parts.scheme == "https" or parts.hostname in ("localhost", "127.0.0.1", "::1")


@given(responses(), st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=3, unique=True))
def test_fuzz_parse_upload_reply(response: Response, ids: list[str]) -> None:
    photos = _only_ours(parse_upload_reply, response, ids)
    assert photos is None or len(photos) == len(ids)


@given(json_values | ok_objects)
def test_fuzz_parse_commit(result: object) -> None:
    photos = [UploadedPhoto("p1", "t1"), UploadedPhoto("p2", "t2")]
    _only_ours(parse_commit, result, photos)


@given(st.lists(json_values | ok_objects, max_size=8))
def test_fuzz_pager_feed_ends(results: list[object]) -> None:
    pager = Pager("group.getMembers", {"uid": "1"}, count=10, max_pages=5)
    fed = 0
    for result in results:
        if pager.done:
            break
        pager.next_params()
        if _only_ours(pager.feed, result) is None:
            break
        fed += 1
    assert fed <= 5


# -- HTML forms and cookies ----------------------------------------------------------------------

html_fragments = st.lists(st.sampled_from([
    "<form", "<form action=/dk?st.cmd=x method=post>", "<FORM ACTION='https://evil/x'>", "</form>",
    "<input name=fr.email>", "<input type=password name=fr.password value='x'>", "<input type=submit name=s>",
    "<button name=button_accept_request>", "<input type=checkbox name=c checked>", "<select name=s>",
    "<textarea name=t>", "<!--", "-->", "<![CDATA[", "<script>", "</script>", "&amp;", "&#0;", "&#x110000;",
    "<input name=\"a\" value=\"&quot;\">", "<", ">", "\"", "'", "=", "\x00",
]) | st.text(max_size=30), max_size=30).map("".join)


@given(html_fragments)
def test_fuzz_parse_forms_never_raises(html: str) -> None:
    forms = parse_forms(html)  # tolerant: not even our errors
    for form in forms:
        assert isinstance(form.action, str) and form.method == form.method.upper()
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in form.fields)


cookie_headers = st.lists(st.tuples(st.sampled_from(["AUTHCODE", "a", "", " b ", "=", "c;d"]),
                                    st.text(max_size=20).filter(lambda t: not any(c in t for c in "\r\n\x00")),
                                    st.lists(st.sampled_from(["Path=/", "HttpOnly", "Max-Age=0", "Max-Age=-1",
                                                              "Max-Age=x", "Max-Age=99999999999999999999",
                                                              "Expires=Wed, 21 Oct 2015 07:28:00 GMT",
                                                              "Expires=Wed, 21 Oct 9999 07:28:00 GMT",
                                                              "Expires=garbage", "Domain=evil.example",
                                                              "Secure", "expires=Thu, 01-Jan-1970 00:00:00 GMT"]),
                                             max_size=3)), max_size=5).map(
    lambda items: [f"{n}={v}" + "".join(f"; {a}" for a in attrs) for n, v, attrs in items]) | \
    st.lists(header_text, max_size=4)


@given(cookie_headers, st.floats(0, 4e9))
def test_fuzz_cookie_jar_never_raises_and_stays_host_only(headers: list[str], now: float) -> None:
    jar = CookieJar()
    jar.store("connect.ok.ru", Response(200, tuple(("set-cookie", h) for h in headers)), now)
    assert jar.header("evil.example") is None  # Domain= is ignored: host-only
    header = jar.header("connect.ok.ru")
    assert header is None or not any(c in header for c in "\r\n\x00")
    assert repr(jar) in ("CookieJar(hosts=[])", "CookieJar(hosts=['connect.ok.ru'])")  # never a value


# -- redirect handling and the dialog flow -------------------------------------------------------

LOGIN_PAGE = ('<form action="/dk?st.cmd=OAuth2Login" method="post"><input name="fr.email">'
              '<input type="password" name="fr.password"></form>')
PERMS_PAGE = ('<form action="/dk?st.cmd=OAuth2Permissions&cmd=OAuth2Permissions" method="post">'
              '<input type=hidden name=fr.token value=t><button name=button_accept_request>OK</button></form>')
BLANK = "https://oauth.mycdn.me/blank.html"
locations = st.sampled_from([
    None, "/dk?st.cmd=OAuth2Login", "/dk?st.cmd=OAuth2Permissions", BLANK + "#access_token=t&session_secret_key=s",
    BLANK + "#access_token=t&state=st", BLANK + "?error=access_denied", BLANK + "#error=x",
    "https://evil.example/x", "http://connect.ok.ru/dk", "//evil.example/dk", "javascript:alert(1)",
    "https://connect.ok.ru/dk?st.cmd=X", "https://connect.ok.ru:444/dk", "https://CONNECT.OK.RU/dk",
    "https://connect.ok.ru@evil.example/", "https://evil.example\\@connect.ok.ru/", " /dk ", "", "../../x",
]) | header_text
pages = st.sampled_from(["", LOGIN_PAGE, PERMS_PAGE, "<html>captcha</html>", '{"error":"x"}', "{}",
                         LOGIN_PAGE.replace("/dk?", "https://evil.example/dk?"),
                         PERMS_PAGE.replace("/dk?", "http://connect.ok.ru/dk?")]) | html_fragments


@given(st.lists(st.tuples(st.sampled_from([200, 301, 302, 303, 307, 308, 401, 500]) | statuses, pages, locations,
                          cookie_headers), max_size=MAX_DIALOG_STEPS + 2),
       st.none() | st.just("st"))
def test_fuzz_dialog_redirects_bounded_and_credentials_stay_home(script: list[Any], state: str | None) -> None:
    replies = []
    for status, body, location, cookies in script:
        headers = [("content-type", "application/json" if body.startswith("{") else "text/html")]
        if location is not None:
            headers.append(("location", location))
        headers += [("set-cookie", c) for c in cookies]
        replies.append(Response(status, tuple(headers), body.encode()))
    sent: list[Request] = []

    def send(request: Request) -> Response:
        sent.append(request)
        assert len(sent) <= MAX_DIALOG_STEPS
        parts = urlsplit(request.url)
        # Every request stays on OK's dialog host, over https: no cookie, no password elsewhere.
        assert parts.scheme == "https" and parts.netloc == "connect.ok.ru", request.url
        if not replies:
            raise okru_proto.TransportError("script exhausted")
        return replies.pop(0)

    token = _only_ours(run_sync, implicit_flow("512", "someone", "PASSWORD-k3vv", state=state, now=0.0),
                       send, lambda s: None)
    assert token is None or isinstance(token, Token)
    assert len(sent) <= MAX_DIALOG_STEPS


# -- the call flow: retries and refresh are bounded ----------------------------------------------

@given(st.lists(responses() | st.just(None), max_size=12), st.integers(0, 3), st.booleans())
def test_fuzz_call_flow_bounded(replies: list[Response | None], attempts: int, can_refresh: bool) -> None:
    core = SessionCore(app_id="512", app_key="KEY", app_secret_key="SECRET",
                       token=Token(S("tok"), refresh_token=S("ref") if can_refresh else None),
                       clock=lambda: 0.0, endpoints=Endpoints(), retry=RetryPolicy(attempts=attempts, base=0.0))
    sent: list[Request] = []
    slept: list[float] = []

    def send(request: Request) -> Response:
        sent.append(request)
        # one try + ``attempts`` retries per call, one replay after a refresh, the refresh itself
        assert len(sent) <= 2 * (attempts + 1) + 1
        reply = replies.pop(0) if replies else None
        if reply is None:
            raise okru_proto.TransportError("no reply")
        return reply

    _only_ours(run_sync, core.call_flow("users.getInfo", {"uids": "1"}), send, slept.append)
    assert len(slept) <= 2 * attempts
