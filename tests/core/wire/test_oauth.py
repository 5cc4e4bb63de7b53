"""Each OAuth step's prepare/parse on exact requests and canned replies, and the grant flows."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

import pytest

from okru_proto import (
    APIError,
    Endpoints,
    HTTPStatusError,
    OAuthError,
    ProtocolError,
    Secret,
    Token,
    UsageError,
    authorize_url,
)
from okru_proto.adapter import (
    Response,
    code_flow,
    parse_callback,
    parse_fragment_token,
    parse_password_login,
    parse_token_response,
    password_flow,
    prepare_code_exchange,
    prepare_password_login,
    prepare_refresh,
    refresh_flow,
    run_sync,
)
from okru_proto.errors import (
    AuthLoginError,
    CaptchaRequiredError,
    HumanCheckRequiredError,
    StateMismatchError,
)

JSON = (("content-type", "application/json;charset=utf-8"),)
HTML = (("content-type", "text/html;charset=utf-8"),)


def reply(payload, status=200, headers=JSON):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return Response(status, headers, body)


def form(request):
    return dict(parse_qsl(request.body.decode(), keep_blank_values=True))


def test_authorize_url_code():
    url = authorize_url(512000, redirect_uri="https://app.example/cb", scope=["VALUABLE_ACCESS", "GROUP_CONTENT"],
                        state="s t", layout="m")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "connect.ok.ru", "/oauth/authorize")
    assert dict(parse_qsl(parts.query)) == {"client_id": "512000", "scope": "VALUABLE_ACCESS;GROUP_CONTENT",
                                            "response_type": "code", "redirect_uri": "https://app.example/cb",
                                            "layout": "m", "state": "s t"}


@pytest.mark.parametrize("kwargs", [dict(layout="x"), dict(response_type="id_token"), dict(redirect_uri=""),
                                    dict(scope=["A;B"])])
def test_authorize_url_usage_errors(kwargs):
    args = dict(redirect_uri="https://a/cb") | kwargs
    with pytest.raises(UsageError):
        authorize_url("1", **args)


def test_authorize_url_needs_numeric_app_id():
    with pytest.raises(UsageError):
        authorize_url("CBAXXXX", redirect_uri="https://a/cb")


def test_parse_callback():
    assert parse_callback("https://app/cb?code=someCode/1&state=xyz", expected_state="xyz") == "someCode/1"
    assert parse_callback("?code=c1&state=xyz", expected_state="xyz") == "c1"
    with pytest.raises(StateMismatchError):
        parse_callback("https://app/cb?code=c&state=evil", expected_state="xyz")
    with pytest.raises(StateMismatchError):
        parse_callback("https://app/cb?code=c", expected_state="xyz")
    with pytest.raises(OAuthError) as info:
        parse_callback("https://app/cb?error=some_error&error_description=Nope&state=xyz", expected_state="xyz")
    assert (info.value.error, info.value.error_description) == ("some_error", "Nope")
    with pytest.raises(OAuthError) as cancel:
        parse_callback("https://app/cb#error=access_denied", expected_state=None)
    assert cancel.value.error == "access_denied"
    with pytest.raises(OAuthError):
        parse_callback("https://app/cb?state=xyz", expected_state="xyz")


def test_prepare_code_exchange_exact():
    request = prepare_code_exchange(512, "SECRET", "the-code", "https://app/cb", Endpoints(api="http://127.0.0.1:9"))
    assert request.method == "POST" and request.url == "http://127.0.0.1:9/oauth/token.do"
    assert request.header("content-type") == "application/x-www-form-urlencoded"
    assert form(request) == {"code": "the-code", "client_id": "512", "client_secret": "SECRET",
                             "redirect_uri": "https://app/cb", "grant_type": "authorization_code"}
    assert "SECRET" not in repr(request) and "the-code" not in repr(request)
    with pytest.raises(UsageError):
        prepare_code_exchange(512, "", "code", "https://app/cb")


def test_prepare_refresh_exact():
    request = prepare_refresh("512", "SECRET", "RT")
    assert form(request) == {"refresh_token": "RT", "client_id": "512", "client_secret": "SECRET",
                             "grant_type": "refresh_token"}
    with pytest.raises(UsageError):
        prepare_refresh("512", "", "RT")


def test_parse_token_response_real_capture():
    body = {"access_token": "dwipa.7912dvrsxji0049e565qh4a3k3d",
            "refresh_token": "971547395341_382ca2a1321d0c24cfd1ef1964e2f4ea0d_573991092e",
            "token_type": "session", "expires_in": "1800"}
    token = parse_token_response(reply(body), now=1000.0)
    assert token.access_token.reveal() == body["access_token"]
    assert token.refresh_token is not None and token.refresh_token.reveal() == body["refresh_token"]
    assert (token.token_type, token.expires_in, token.expires_at) == ("session", 1800, 2800.0)
    assert body["access_token"] not in repr(token) and body["refresh_token"] not in repr(token)


def test_parse_token_response_missing_expires_and_refresh_keeps_old():
    token = parse_token_response(reply({"token_type": "session", "access_token": "A"}), now=0)
    assert token.expires_in is None and token.expires_at is None
    old = Token(access_token=token.access_token, refresh_token=Secret("OLD-RT"))
    new = parse_token_response(reply({"access_token": "B", "token_type": "session", "expires_in": 1800}), 5,
                               previous=old)
    assert new.refresh_token is not None and new.refresh_token.reveal() == "OLD-RT"
    assert new.expires_at == 1805


@pytest.mark.parametrize(("response", "kind"), [
    (reply({"error": "invalid_grant", "error_description": "Expired code"}, 400), OAuthError),
    (reply({"error": "invalid_client"}), OAuthError),
    (reply(b"<html><head><title>HTTP Status 400 - Provide OAUTH request parameters!</title></head></html>",
           400, HTML), ProtocolError),
    (reply(b"Error : Failed to convert value of type [java.lang.String] to required type [java.lang.Long]",
           200, HTML), ProtocolError),
    (reply({"token_type": "session"}), ProtocolError),
    (reply({"access_token": "A", "expires_in": "soon"}), ProtocolError),
    (reply([1, 2]), ProtocolError),
    (reply(b'{"access_token": "A", "refr'), ProtocolError),
    (reply(b"", 503), HTTPStatusError),
])
def test_parse_token_response_errors(response, kind):
    with pytest.raises(kind):
        parse_token_response(response, now=0)


def test_html_400_names_the_page():
    page = b"<html><head><title>HTTP Status 400 - Provide OAUTH request parameters!</title></head></html>"
    with pytest.raises(ProtocolError) as info:
        parse_token_response(reply(page, 400, HTML), now=0)
    assert "Provide OAUTH request parameters" in str(info.value)


def test_password_login_exact_and_parse():
    request = prepare_password_login("APPKEY", "user@example.com", "p@ss")
    assert request.method == "POST" and request.url == "https://api.ok.ru/fb.do"
    assert form(request) == {"application_key": "APPKEY", "format": "json", "method": "auth.login",
                             "password": "p@ss", "user_name": "user@example.com", "verification_supported": "1",
                             "verification_supported_v": "1"}
    assert "p@ss" not in repr(request)
    token = parse_password_login(reply({"uid": "577", "session_key": "SK", "session_secret_key": "SSK",
                                        "api_server": "https://api.ok.ru/"}), now=0)
    assert token.session_key.reveal() == "SK" and token.session_secret_key is not None
    assert token.session_secret_key.reveal() == "SSK" and token.uid == "577"


@pytest.mark.parametrize(("code", "kind"), [(401, AuthLoginError), (402, CaptchaRequiredError),
                                            (403, HumanCheckRequiredError)])
def test_password_login_errors_are_distinct(code, kind):
    body = {"error_code": code, "error_msg": "AUTH_LOGIN : x", "error_data": None}
    with pytest.raises(kind) as info:
        parse_password_login(reply(body, headers=(*JSON, ("invocation-error", str(code)))), now=0)
    assert info.value.needs_relogin


def test_fragment_token():
    frag = "access_token=AT&session_secret_key=SSK&expires_in=1800&permissions_granted=VALUABLE_ACCESS;GROUP_CONTENT&state=st"
    token = parse_fragment_token(frag, 10, expected_state="st")
    assert token.permissions == ("VALUABLE_ACCESS", "GROUP_CONTENT")
    assert token.permission_granted == token.permissions_granted == "VALUABLE_ACCESS;GROUP_CONTENT"
    assert token.expires_at == 1810 and token.state == "st"
    with pytest.raises(StateMismatchError):
        parse_fragment_token(frag, 10, expected_state="other")
    with pytest.raises(OAuthError):
        parse_fragment_token("error=access_denied", 0, expected_state=None)


def _drive(flow, replies):
    sent = []

    def send(request):
        sent.append(request)
        return replies.pop(0)

    return run_sync(flow, send, lambda s: None), sent


def test_code_flow_end_to_end():
    token, sent = _drive(code_flow(1, "S", "C", "https://a/cb", None, 100.0),
                         [reply({"access_token": "A", "refresh_token": "R", "token_type": "session",
                                 "expires_in": "1800"})])
    assert len(sent) == 1 and form(sent[0])["grant_type"] == "authorization_code"
    assert token.expires_at == 1900.0


def test_refresh_flow_keeps_refresh_token():
    old = Token(access_token=Secret("A"), refresh_token=Secret("R"))
    token, sent = _drive(refresh_flow(1, "S", old, None, 0.0),
                         [reply({"access_token": "A2", "token_type": "session", "expires_in": "1800"})])
    assert form(sent[0])["refresh_token"] == "R"
    assert token.access_token.reveal() == "A2" and token.refresh_token is not None
    assert token.refresh_token.reveal() == "R"


def test_password_flow():
    token, _ = _drive(password_flow("K", "u", "p", None, 0.0),
                      [reply({"uid": "1", "session_key": "SK", "session_secret_key": "SSK"})])
    assert token.access_token.reveal() == "SK"


@pytest.mark.parametrize("body", [b'{"error_code":Infinity}', b'{"error_code":-Infinity,"error_msg":"x"}',
                                  b'{"error_code":1e400}', b'{"error_code":NaN}'])
def test_non_finite_error_codes_are_unknown_errors(body):
    # found by the nightly fuzz run: int(inf) raised a bare OverflowError
    with pytest.raises(APIError) as info:
        parse_password_login(reply(body), now=0)
    assert info.value.code == 1


@pytest.mark.parametrize("expires", [b"Infinity", b"1e400", b"NaN", b"-Infinity"])
def test_non_finite_expires_in_is_a_protocol_error(expires):
    body = b'{"access_token":"A","expires_in":' + expires + b"}"
    with pytest.raises(ProtocolError):
        parse_token_response(reply(body), now=0)
