"""No secret leaves through a server's echo (issue 11 item 6).

A hostile server (or a proxy) echoes the whole request it got (body + query + cookies) into
every kind of text okru copies into its errors: an HTML error page's ``<title>``, token.do's
``error``/``error_description``, an OK ``error_msg``/``error_data``, a 5xx page, the
``Invocation-Error`` header, a dialog URL's ``st.cmd``, the upload host's reply. Each grant and
REST call path is driven through the core's own flows (the ones every adapter runs) against it;
then no secret the session holds may appear, in any spelling a server could use (plain,
``quote``, ``quote_plus``, JSON-escaped), in ``str``/``repr``/``args`` of the error and its chain,
nor in the ``okru`` logger's DEBUG output. The secrets hold characters whose spellings differ
(space, ``/``, ``+``, ``=``, ``"``, non-ASCII), so every spelling is really exercised.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

import pytest

from okru_proto import Endpoints as _Endpoints
from okru_proto import Error, Secret, Token, UploadError
from okru_proto.adapter import (
    CodeGrant,
    ImplicitGrant,
    PasswordGrant,
    RefreshGrant,
    Request,
    Response,
    SessionCore,
    run_sync,
    upload_photos_flow,
)
from tests.security.leaks import chained, spellings

E = _Endpoints(api="http://127.0.0.1:8080", connect="http://127.0.0.1:8080")
APP_ID = "512000000001"
APP_KEY = "CBAECHOAPPKEY"
APP_SECRET = "APPSEC/+=é9 \"x"
PASSWORD = 'pa$s w/rd+é"x1'
CODE = "code/+=é42 zz"
ACCESS = "-s-acc/ess+tok=é 5"
SESSION_SECRET = 'ssk/+"é7 qq'
REFRESH = "ref+/=é-77 rr"
API_TOKEN = "apiTok/+=é 99"
COOKIE = "cookieVal/+é 31"
SECRETS = (APP_SECRET, PASSWORD, CODE, ACCESS, SESSION_SECRET, REFRESH, API_TOKEN, COOKIE)

HTML = "text/html;charset=utf-8"
JSON = "application/json;charset=utf-8"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


# -- the hostile server ----------------------------------------------------------------------

def _echo(request: Request, encoding: str) -> str:
    """The whole request as text: every query and body parameter (values first, so a title cut
    at 120 characters still holds them), then the raw query, body and cookies."""
    parts = urlsplit(request.url)
    form = (request.header("content-type") or "").startswith("application/x-www-form-urlencoded")
    body = request.body.decode("ascii") if form else ""
    pairs = parse_qsl(parts.query, keep_blank_values=True) + parse_qsl(body, keep_blank_values=True)
    secret_first = sorted(pairs, key=lambda kv: kv[0] not in (
        "password", "fr.password", "client_secret", "code", "refresh_token", "access_token", "apiToken"))
    values = [v for _, v in secret_first]
    cookie = request.header("cookie") or ""
    values += [c.partition("=")[2] for c in cookie.split("; ") if c]
    if encoding == "plain":
        text = " ".join(values)
    elif encoding == "quote":
        text = " ".join(quote(v, safe="") for v in values)
    elif encoding == "quote_plus":
        text = " ".join(quote_plus(v, safe="") for v in values)
    else:  # json: a server that JSON-encodes the echo inside its message
        text = " ".join(json.dumps(v)[1:-1] for v in values)
    return f"{text} || {parts.query} || {body} || {cookie}"


def _page(status: int, text: str) -> Response:
    html = f"<html><head><title>{text}</title></head><body><h1>{text}</h1></body></html>"
    return Response(status, (("content-type", HTML),), html.encode("utf-8"))


def _json(status: int, payload: object) -> Response:
    return Response(status, (("content-type", JSON),), json.dumps(payload).encode())


def echo_response(request: Request, mode: str, encoding: str) -> Response:
    """The hostile reply to ``request``: its own echo (``encoding``) in the place ``mode`` names."""
    text = _echo(request, encoding)
    path = urlsplit(request.url).path
    if mode == "title":
        return _page(400, text)
    if mode == "title_200":
        return _page(200, text)
    if mode == "http_502":
        return _page(502, text)
    if mode == "oauth_error":
        return _json(400, {"error": text, "error_description": text})
    if mode == "api_error":
        return _json(200, {"error_code": 100, "error_msg": text, "error_data": {"echo": [text]}})
    if mode == "invocation_error":
        header = text.replace("\r", " ").replace("\n", " ")
        return Response(200, (("content-type", JSON), ("invocation-error", header)), b'{"ok":1}')
    if mode == "dialog":
        # Send the browser to a page named by the echo: DialogError quotes OK's st.cmd.
        return Response(302, (("location", f"/dk?st.cmd={quote(text, safe='')}"),))
    if mode == "bad_json":
        if "/oauth/" in path or "/dk" in path or b"auth.login" in request.body:
            # A token reply whose expires_in is the echo: the error quotes an excerpt.
            return _json(200, {"access_token": "x", "session_key": "x", "session_secret_key": "y",
                               "expires_in": text})
        return Response(200, (("content-type", JSON),), f'{{"echo": "{text}"'.encode())
    raise AssertionError(mode)


def hostile(mode: str, encoding: str) -> Callable[[Request], Response]:
    """A send() answering every request with its own echo in ``mode``."""

    def send(request: Request) -> Response:
        path = urlsplit(request.url).path
        if path == "/oauth/authorize":
            # The dialog starts normally: a login cookie, the login form, then the echo.
            return Response(302, (("location", "/dk?st.cmd=OAuth2Login"),
                                  ("set-cookie", f"AUTHCODE={COOKIE}; Path=/")))
        if path == "/dk" and request.method == "GET" and "st.cmd=OAuth2Login" in request.url:
            form = ('<form method="post" action="/dk?st.cmd=OAuth2Login"><input name="fr.email">'
                    '<input type="password" name="fr.password"></form>')
            return Response(200, (("content-type", HTML),), form.encode())
        if path == "/dk" and request.method == "GET":
            return _page(200, "no form here")  # the dialog mode's last page: DialogError(st.cmd)
        if request.method == "POST" and b"photosV2.getUploadUrl" in request.body:
            return _json(200, {"photo_ids": ["p1"],
                               "upload_url": f"{E.api}/upload?apiToken={quote(API_TOKEN, safe='')}"})
        return echo_response(request, mode, encoding)

    return send


MODES = ["title", "title_200", "http_502", "oauth_error", "api_error", "invocation_error", "dialog", "bad_json"]
ENCODINGS = ["plain", "quote", "quote_plus", "json"]


# -- the checks ------------------------------------------------------------------------------

def _texts(exc: BaseException) -> list[str]:
    out: list[str] = []
    for e in chained(exc):
        out += [str(e), repr(e), repr(e.args), "".join(traceback.format_exception_only(type(e), e))]
        for name, value in vars(e).items():
            if name != "response":
                out.append(repr(value))
    return out


def assert_clean(exc: BaseException, caplog: pytest.LogCaptureFixture, secrets: tuple[str, ...]) -> None:
    texts = _texts(exc)
    texts += [r.getMessage() for r in caplog.records if r.name.startswith("okru")]
    blob = "\n".join(texts)
    leaks = [f"{s!r} as {form!r}" for s in secrets for form in spellings(s) if form in blob]
    assert not leaks, f"secrets in {blob[:2000]!r}: {leaks}"


def _core(grant: object | None = None, token: Token | None = None) -> SessionCore:
    return SessionCore(app_id=APP_ID, app_key=APP_KEY, app_secret_key=APP_SECRET, grant=grant,  # type: ignore[arg-type]
                       token=token, clock=lambda: 1000.0, endpoints=E)


GRANTS = {
    "code": lambda: CodeGrant(Secret(CODE), "http://localhost/cb"),
    "implicit": lambda: ImplicitGrant("walker", Secret(PASSWORD), ("VALUABLE_ACCESS",)),
    "password": lambda: PasswordGrant("walker", Secret(PASSWORD)),
    "refresh": lambda: RefreshGrant(Secret(REFRESH)),
}


@pytest.fixture
def okru_debug(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="okru")
    return caplog


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("grant", sorted(GRANTS))
def test_grant_errors_never_echo_a_secret(grant: str, mode: str, encoding: str,
                                          okru_debug: pytest.LogCaptureFixture) -> None:
    core = _core(grant=GRANTS[grant]())
    with pytest.raises(Error) as info:
        run_sync(core.authorize_flow(), hostile(mode, encoding), lambda s: None)
    assert_clean(info.value, okru_debug, SECRETS)


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("mode", [m for m in MODES if m != "dialog"])
@pytest.mark.parametrize("circuit", ["server", "client", "server_get", "refresh"])
def test_call_errors_never_echo_a_secret(circuit: str, mode: str, encoding: str,
                                         okru_debug: pytest.LogCaptureFixture) -> None:
    if circuit == "client":
        token = Token(access_token=Secret(ACCESS), session_secret_key=Secret(SESSION_SECRET))
    else:
        token = Token(access_token=Secret(ACCESS), refresh_token=Secret(REFRESH))
    core = _core(token=token)
    if circuit == "server_get":
        core.http_method = "GET"
    if circuit == "refresh":
        # 102 on the call, then the refresh (token.do with the refresh token and app secret)
        # meets the echo.
        replies = [_json(200, {"error_code": 102, "error_msg": "PARAM_SESSION_EXPIRED : expired"})]
        echo = hostile(mode, encoding)

        def send(request: Request) -> Response:
            return replies.pop(0) if replies else echo(request)
    else:
        send = hostile(mode, encoding)
    with pytest.raises(Error) as info:
        run_sync(core.call_flow("users.getCurrentUser"), send, lambda s: None)
    assert_clean(info.value, okru_debug, (*SECRETS, *core.secret_values()))
    assert any(r.name == "okru" for r in okru_debug.records)


def test_pass_error_result_is_scrubbed_too() -> None:
    core = _core(token=Token(access_token=Secret(ACCESS), refresh_token=Secret(REFRESH)))
    core.pass_error = True
    result = run_sync(core.call_flow("users.getCurrentUser"), hostile("api_error", "quote_plus"), lambda s: None)
    blob = json.dumps(result, ensure_ascii=False)
    assert result["error_code"] == 100 and "***" in result["error_msg"]
    assert not [f for s in SECRETS for f in spellings(s) if f in blob]


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("mode", ["title", "http_502", "api_error", "bad_json"])
def test_upload_host_echo_never_shows_the_api_token(mode: str, encoding: str,
                                                   okru_debug: pytest.LogCaptureFixture) -> None:
    core = _core(token=Token(access_token=Secret(ACCESS), refresh_token=Secret(REFRESH)))
    echo = hostile(mode, encoding)

    def send(request: Request) -> Response:
        if urlsplit(request.url).path == "/upload":
            return echo(request)
        if b"photosV2.getUploadUrl" in request.body:
            return echo(request)
        raise AssertionError(request)

    with pytest.raises(Error) as info:
        run_sync(upload_photos_flow(core, [PNG], boundary="b0undary"), send, lambda s: None)
    assert isinstance(info.value, (UploadError, Error))
    assert_clean(info.value, okru_debug, SECRETS)


def test_a_dialog_echo_reaches_st_cmd_masked_and_the_password_is_never_followed() -> None:
    # The echo of the login POST holds the password: the redirect is refused outright (the
    # password would be sent in a request line, which transports log).
    core = _core(grant=GRANTS["implicit"]())
    with pytest.raises(Error, match="holding the password"):
        run_sync(core.authorize_flow(), hostile("dialog", "plain"), lambda s: None)
    # An echo of the login cookie alone is followed; the DialogError quoting st.cmd masks it.
    echo = hostile("dialog", "plain")

    def send(request: Request) -> Response:
        if request.method == "POST":
            return Response(302, (("location", f"/dk?st.cmd=Echo-{quote(COOKIE, safe='')}"),))
        return echo(request)

    core = _core(grant=GRANTS["implicit"]())
    with pytest.raises(Error) as info:
        run_sync(core.authorize_flow(), send, lambda s: None)
    assert "st.cmd=Echo-***" in str(info.value) and info.value.st_cmd == "Echo-***"  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", ["title", "oauth_error", "api_error", "invocation_error"])
def test_the_echo_really_reached_the_error(mode: str) -> None:
    """The tests above would pass vacuously if the echo never got into the message: here it
    does, masked (``***`` where the secret was)."""
    grant = GRANTS["code"]()
    core = _core(grant=grant) if mode != "invocation_error" else _core(
        token=Token(access_token=Secret(ACCESS), refresh_token=Secret(REFRESH)))
    flow = core.authorize_flow() if mode != "invocation_error" else core.call_flow("users.getCurrentUser")
    with pytest.raises(Error) as info:
        run_sync(flow, hostile(mode, "plain"), lambda s: None)
    assert "***" in str(info.value), str(info.value)


@pytest.mark.parametrize("cut", [4, 7, len(PASSWORD) - 1])
def test_a_secret_cut_by_the_title_excerpt_is_masked_by_its_beginning(cut: int) -> None:
    # The title is cut at 120 characters; the password starts 120 - cut characters in, so only
    # its first ``cut`` characters are in the message.
    title = "x" * (120 - cut) + " " + PASSWORD
    title = title[1:]  # keep exactly 120 - cut characters before the password
    body = f"<html><title>{title} tail</title></html>".encode()

    def send(request: Request) -> Response:
        return Response(400, (("content-type", HTML),), body)

    core = _core(grant=GRANTS["password"]())
    with pytest.raises(Error) as info:
        run_sync(core.authorize_flow(), send, lambda s: None)
    message = str(info.value)
    assert "***…" in message and PASSWORD[:cut] not in message, message


def test_scrub_error_covers_args_attributes_data_and_the_chain() -> None:
    from okru_proto import APIError, OAuthError
    from okru_proto.adapter import scrub_error

    cause = OAuthError("bad", f"desc {quote_plus(REFRESH)}")
    exc = APIError(100, f"PARAM : {PASSWORD}", {"echo": [json.dumps(CODE)]}, method="a.b")
    exc.__cause__ = cause
    assert scrub_error(exc, [Secret(PASSWORD), CODE, REFRESH, None, "ab"]) is exc
    blob = "\n".join(_texts(exc))
    assert not [f for s in (PASSWORD, CODE, REFRESH) for f in spellings(s) if f in blob]
    assert exc.msg == "PARAM : ***" and exc.data == {"echo": ['"***"']}
    assert cause.error_description == "desc ***" and exc.symbol == "PARAM"
