"""No secret anywhere (issue 8): one walk per adapter through every grant and every call path with
distinctive secrets, capturing every log record at DEBUG on every logger, the repr/str of every
session, token, request, response and result reachable, and every exception with its whole
``__cause__``/``__context__`` chain and traceback text; then none of the secrets may appear in
anything captured.

The secrets: the app secret and a wrong secret used for a 104, the user's password, every access
token, refresh token, session secret and derived server-circuit secret the emulator issued (read
back from the emulator after the walk), every authorization code, upload ``apiToken`` and login
cookie (``AUTHCODE``) value it handed out. Each is searched for raw and URL-encoded.
"""

from __future__ import annotations

import logging
import socket
import traceback
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

import okru_proto
import okru_proto.errors
from okru_proto import Endpoints
from okru_proto.adapter import Request, Response, parse_callback, server_secret
from okru_proto.testing import FakeOK
from okru_trio.testing import run_fake_server
from tests.adapters import Adapter
from tests.security.intercept import Exchange, intercept
from tests.security.leaks import chained
from tests.security.test_echo import ENCODINGS, echo_response

APP_ID = "700000000042"
APP_KEY = "CBAWALKAPPKEYQQ"
APP_SECRET = "APPSECRET-zq8x"
WRONG_SECRET = "WRONGSECRET-p2m9"
LOGIN = "walker"
PASSWORD = "PASSWORD-k3vv"
REDIRECT = "http://localhost/callback"
SCOPE = ("VALUABLE_ACCESS", "PHOTO_CONTENT", "GROUP_CONTENT")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


@pytest.fixture
def served() -> Iterator[tuple[FakeOK, str]]:
    fake = FakeOK(seed=404)
    fake.add_app(APP_ID, APP_KEY, APP_SECRET, redirect_uris=("https://oauth.mycdn.me/blank.html", REDIRECT),
                 client_oauth=True)
    fake.add_user(LOGIN, PASSWORD, first_name="Walker", groups=[fake.group_id])
    with run_fake_server(fake) as url:
        yield fake, url


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


class Captured:
    """Everything a secret could leak into."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.recorders: list[list[Exchange]] = []  # one live list per session
        self.outcomes: list[str] = []
        #: secrets read back from the emulator during the walk (revoking deletes its tokens)
        self.secrets: set[str] = set()
        self.tokens_issued = 0

    @property
    def exchanges(self) -> list[Exchange]:
        return [e for recorder in self.recorders for e in recorder]

    def obj(self, value: Any) -> None:
        self.texts += [repr(value), str(value)]

    def exc(self, exc: BaseException) -> None:
        for e in chained(exc):
            self.texts += [str(e), repr(e), "".join(traceback.format_exception(e)),
                           *(repr(a) for a in e.args)]
            for attr in ("response", "request", "data", "msg", "error_description"):
                if getattr(e, attr, None) is not None:
                    self.obj(getattr(e, attr))

    def session(self, session: Any) -> None:
        self.obj(session)
        self.obj(session.core)
        token = session.token
        self.obj(token)
        if token is not None:
            for name in ("access_token", "session_secret_key", "refresh_token", "session_key"):
                self.obj(getattr(token, name))
        self.obj(getattr(session, "_transport", None) or session.client)


async def _walk(adapter: Adapter, fake: FakeOK, url: str, cap: Captured) -> None:
    mod = adapter.module
    endpoints = Endpoints(api=url, connect=url)
    sessions: list[Any] = []

    def make(kind: str, *args: Any, **options: Any) -> Any:
        options.setdefault("endpoints", endpoints)
        if not adapter.is_httpx:
            options.setdefault("timeout", 10.0)
        else:
            options.setdefault("timeout", 10.0)
        session = getattr(mod, kind)(*args, **options)
        cap.recorders.append(intercept(adapter, session))
        cap.obj(session)
        sessions.append(session)
        return session

    async def attempt(fn: Callable[..., Any], *args: Any, expect: type[BaseException] | None = None,
                      may_succeed: bool = False, **kwargs: Any) -> Any:
        try:
            if fn == adapter.collect:  # already adapter-aware: awaited here, never in a thread
                result = await fn(*args, **kwargs)
            else:
                result = await adapter.run(fn, *args, **kwargs)
        except okru_proto.Error as exc:
            cap.exc(exc)
            cap.outcomes.append(type(exc).__name__)
            assert expect is not None and isinstance(exc, expect), f"unexpected {exc!r}"
            return exc
        cap.obj(result)
        cap.outcomes.append("ok")
        assert expect is None or may_succeed, f"expected {expect.__name__}, got {result!r}"
        return result

    async def enter(session: Any, expect: type[BaseException] | None = None) -> None:
        try:
            await adapter.enter(session)  # runs the grant
        except okru_proto.Error as exc:
            cap.exc(exc)
            cap.outcomes.append(type(exc).__name__)
            assert expect is not None and isinstance(exc, expect), f"unexpected {exc!r}"
        else:
            cap.outcomes.append("ok")
            assert expect is None, f"expected {expect.__name__}"
        cap.session(session)

    async def close(session: Any) -> None:
        await adapter.close(session)
        cap.session(session)

    # -- grants --------------------------------------------------------------------------------
    # Authorization code: the callback, the exchange, calls in the server circuit, a replayed code.
    code = fake.authorize_code(app_id=APP_ID, login=LOGIN, redirect_uri=REDIRECT, scope=SCOPE, state="st-1")
    callback = f"{REDIRECT}?code={quote(code, safe='')}&state=st-1"
    assert parse_callback(callback, expected_state="st-1") == code
    try:
        parse_callback(callback.replace("st-1", "st-2"), expected_state="st-1")
    except okru_proto.errors.StateMismatchError as exc:
        cap.exc(exc)
    s = make("CodeSession", APP_ID, APP_KEY, APP_SECRET, code, REDIRECT)
    await enter(s)
    await attempt(s.call, "users.getCurrentUser")
    await close(s)
    s = make("CodeSession", APP_ID, APP_KEY, APP_SECRET, code, REDIRECT)
    await enter(s, expect=okru_proto.OAuthError)  # the code was used already

    # Implicit grant through the dialogs (client circuit after), a bad password, a forged state.
    s = make("ImplicitSession", APP_ID, APP_KEY, APP_SECRET, LOGIN, PASSWORD, SCOPE, state="st-3")
    await enter(s)
    await attempt(s.call, "users.getCurrentUser")
    await close(s)
    s = make("ImplicitSession", APP_ID, APP_KEY, APP_SECRET, LOGIN, PASSWORD + "-nope", SCOPE)
    await enter(s, expect=okru_proto.errors.BadCredentialsError)

    # Password grant (auth.login), a bad password.
    s = make("PasswordSession", APP_ID, APP_KEY, APP_SECRET, LOGIN, PASSWORD)
    await enter(s)
    await attempt(s.call, "users.getCurrentUser")
    await close(s)
    s = make("PasswordSession", APP_ID, APP_KEY, APP_SECRET, LOGIN, PASSWORD + "-nope")
    await enter(s, expect=okru_proto.errors.AuthLoginError)

    # Refresh grant, and a bad refresh token.
    issued = fake.issue_token(app_id=APP_ID, login=LOGIN, scope=SCOPE)
    s = make("RefreshSession", APP_ID, APP_KEY, APP_SECRET, issued["refresh_token"])
    await enter(s)
    await attempt(s.call, "users.getCurrentUser")
    await close(s)
    s = make("RefreshSession", APP_ID, APP_KEY, APP_SECRET, issued["refresh_token"] + "x")
    await enter(s, expect=okru_proto.OAuthError)

    # -- a hostile server (issue 11 item 6) ---------------------------------------------------
    # The real emulator answers, then its reply to every request carrying a credential (each
    # POST, a GET with the token) is replaced by that request's echo, in a page title, an OAuth
    # error, an error_msg, a 502 page, the Invocation-Error header, a dialog st.cmd, a token
    # reply's expires_in. Every grant and every circuit meets each; nothing may leak (_check).
    echo_modes = ("title", "http_502", "oauth_error", "api_error", "invocation_error", "dialog", "bad_json")
    for number, mode in enumerate(echo_modes):
        encoding = ENCODINGS[number % len(ENCODINGS)]

        def echoing(request: Request, response: Response, mode: str = mode, encoding: str = encoding) -> Response:
            if request.method == "POST" or "access_token=" in request.url:
                return echo_response(request, mode, encoding)
            return response

        code = fake.authorize_code(app_id=APP_ID, login=LOGIN, redirect_uri=REDIRECT, scope=SCOPE)
        refresh = fake.issue_token(app_id=APP_ID, login=LOGIN, scope=SCOPE)["refresh_token"]
        for kind, args in (("CodeSession", (code, REDIRECT)), ("ImplicitSession", (LOGIN, PASSWORD, SCOPE)),
                           ("PasswordSession", (LOGIN, PASSWORD)), ("RefreshSession", (refresh,))):
            s = make(kind, APP_ID, APP_KEY, APP_SECRET, *args)
            cap.recorders.append(intercept(adapter, s, rewrite=echoing))
            await enter(s, expect=okru_proto.Error)
        tok = fake.issue_token(app_id=APP_ID, login=LOGIN, scope=SCOPE)
        for kind, args, options in (
                ("ServerSession", (APP_SECRET, tok["access_token"]), {"refresh_token": tok["refresh_token"]}),
                ("ServerSession", (APP_SECRET, tok["access_token"]), {"http_method": "GET"}),
                ("ClientSession", (tok["access_token"], tok["session_secret_key"]), {})):
            s = make(kind, APP_ID, APP_KEY, *args, **options)
            await enter(s)
            cap.recorders.append(intercept(adapter, s, rewrite=echoing))
            await attempt(s.call, "users.getCurrentUser", expect=okru_proto.Error)
            if kind == "ServerSession" and "refresh_token" in options:
                await attempt(s.refresh, expect=okru_proto.Error)

    # -- call paths ----------------------------------------------------------------------------
    tok = fake.issue_token(app_id=APP_ID, login=LOGIN, scope=SCOPE)
    client = make("ClientSession", APP_ID, APP_KEY, tok["access_token"], tok["session_secret_key"])
    server = make("ServerSession", APP_ID, APP_KEY, APP_SECRET, tok["access_token"],
                  refresh_token=tok["refresh_token"], on_token=cap.obj)
    app = make("AppSession", APP_ID, APP_KEY, APP_SECRET)
    passing = make("ServerSession", APP_ID, APP_KEY, APP_SECRET, tok["access_token"], pass_error=True)
    getter = make("ServerSession", APP_ID, APP_KEY, APP_SECRET, tok["access_token"], http_method="GET")
    for session in (client, server, app, passing, getter):
        await enter(session)
    uid = fake.user_by_login(LOGIN).uid  # type: ignore[union-attr]
    # The three circuits (and GET, whose query carries the token).
    await attempt(client.call, "users.getCurrentUser")
    await attempt(server.call, "users.getCurrentUser")
    await attempt(app.call, "notifications.sendSimple", {"uid": uid, "text": "hello"})
    await attempt(getter.call, "users.getCurrentUser")
    # API errors: a missing parameter, an unknown method, a session-less method with a session.
    await attempt(server.call, "users.getInfo", {"uids": uid}, expect=okru_proto.errors.ParamError)
    await attempt(client.call, "users.noSuchMethod", expect=okru_proto.errors.MethodNotFoundError)
    await attempt(server.call, "notifications.sendSimple", {"uid": uid, "text": "x"},
                  expect=okru_proto.errors.NotSessionMethodError)
    await attempt(getter.call, "users.getInfo", {"uids": uid}, expect=okru_proto.errors.ParamError)
    # pass_error: the raw error object comes back as the result.
    result = await attempt(passing.call, "users.getInfo", {"uids": uid})
    assert isinstance(result, dict) and result["error_code"] == 100
    # 104: a wrong session secret, a wrong app secret.
    bad = make("ClientSession", APP_ID, APP_KEY, tok["access_token"], WRONG_SECRET)
    await enter(bad)
    await attempt(bad.call, "users.getCurrentUser", expect=okru_proto.errors.SignatureError)
    bad = make("ServerSession", APP_ID, APP_KEY, WRONG_SECRET, tok["access_token"])
    await enter(bad)
    await attempt(bad.call, "users.getCurrentUser", expect=okru_proto.errors.SignatureError)
    # Transport errors: nothing listening (POST and GET), a reset mid-exchange.
    dead = Endpoints(api=_closed_port_url(), connect=_closed_port_url())
    for method in ("POST", "GET"):
        s = make("ServerSession", APP_ID, APP_KEY, APP_SECRET, tok["access_token"], endpoints=dead,
                 http_method=method)
        await enter(s)
        await attempt(s.call, "users.getCurrentUser", expect=okru_proto.TransportError)
        await close(s)
    s = make("PasswordSession", APP_ID, APP_KEY, APP_SECRET, LOGIN, PASSWORD, endpoints=dead)
    await enter(s, expect=okru_proto.TransportError)
    for session in (server, getter):
        fake.inject("reset", method="users.getCurrentUser")
        # No adapter replays a request that was written (it may have run): always an error.
        await attempt(session.call, "users.getCurrentUser", expect=okru_proto.TransportError)
    # Protocol errors: HTML instead of JSON, a truncated body, a 502, on calls and on token.do.
    for fault in ("html", "truncated", "http_502"):
        for session in (server, getter, client):
            fake.inject(fault, method="users.getCurrentUser")
            await attempt(session.call, "users.getCurrentUser", expect=okru_proto.Error)
    # Expiry: a transparent refresh (on_token sees the new token), then one that fails, then
    # a session that cannot refresh.
    fake.expire_access_tokens()
    await attempt(server.call, "users.getCurrentUser")
    fake.expire_access_tokens()
    fake.inject("http_502", method="/oauth/token.do")
    await attempt(server.call, "users.getCurrentUser", expect=okru_proto.ProtocolError)
    fake.inject("html", method="/oauth/token.do")
    await attempt(server.call, "users.getCurrentUser", expect=okru_proto.ProtocolError)
    await attempt(client.call, "users.getCurrentUser", expect=okru_proto.SessionExpiredError)
    await attempt(server.call, "users.getCurrentUser")  # refreshes now
    cap.session(server)

    # Upload (getUploadUrl, the upload host with its apiToken, commit) and a broken upload host.
    await attempt(server.upload_photos, PNG)
    fake.inject("html", method="/uploadImage")
    await attempt(server.upload_photos, PNG, expect=okru_proto.Error)
    # Paging, pages and items, in the server and client circuits.
    pages = await attempt(adapter.collect, server.pages("group.getMembers", {"uid": fake.group_id}, count=10))
    assert len(pages) == 3
    tok2 = fake.issue_token(app_id=APP_ID, login=LOGIN, scope=SCOPE)
    getter = make("ServerSession", APP_ID, APP_KEY, APP_SECRET, tok2["access_token"], http_method="GET")
    await enter(getter)
    await attempt(adapter.collect, getter.items("group.getMembers", {"uid": fake.group_id}, count=10))
    # Revoked: 103 on every circuit (revoking deletes the tokens: note them first).
    fresh = fake.issue_token(app_id=APP_ID, login=LOGIN, scope=SCOPE)
    cap.secrets |= _secrets(fake)
    cap.tokens_issued = len([t for t in fake.tokens.values() if t.app_id == APP_ID])
    revoked = make("ClientSession", APP_ID, APP_KEY, fresh["access_token"], fresh["session_secret_key"])
    await enter(revoked)
    fake.revoke(app_id=APP_ID, login=LOGIN)
    await attempt(revoked.call, "users.getCurrentUser", expect=okru_proto.errors.InvalidSessionError)
    await attempt(server.call, "users.getCurrentUser", expect=okru_proto.ReloginRequiredError)

    for session in sessions:
        await adapter.close(session)
        cap.session(session)


def _secrets(fake: FakeOK) -> set[str]:
    found = {APP_SECRET, WRONG_SECRET, PASSWORD}
    for token in fake.tokens.values():
        if token.app_id != APP_ID:
            continue
        found.add(token.token)
        found.add(server_secret(token.token, APP_SECRET).reveal())
        if token.session_secret_key:
            found.add(token.session_secret_key)
    found |= {t.token for t in fake.refresh_tokens.values() if t.app_id == APP_ID}
    found |= set(fake.codes)
    found |= set(fake.uploads)
    found |= set(fake.dialog_sessions)  # the AUTHCODE login cookie values
    return found


def _check(cap: Captured, caplog: pytest.LogCaptureFixture, secrets: set[str]) -> None:
    handler_format = logging.Formatter("%(name)s %(levelname)s %(message)s")
    texts = list(cap.texts)
    for record in caplog.records:
        texts.append(handler_format.format(record))  # message, args and any exc_info/stack
        texts.append(repr(record.args))
    for exchange in cap.exchanges:
        texts += [repr(exchange.request), str(exchange.request), repr(exchange.response)]
        if exchange.error is not None:
            cap.exc(exchange.error)
    texts += cap.texts[len(texts):]
    blob = "\n".join(texts)
    leaks = []
    for secret in sorted(secrets):
        for form in {secret, quote_plus(secret), quote(secret, safe="")}:
            if form in blob:
                at = blob.index(form)
                leaks.append(f"{secret!r} in …{blob[max(0, at - 120):at + len(form) + 40]!r}")
    assert not leaks, "secrets leaked:\n" + "\n".join(leaks)


@pytest.mark.anyio
@pytest.mark.network
@pytest.mark.timeout(120)
async def test_sec_no_secret_in_logs_reprs_or_errors(adapter: Adapter, served: tuple[FakeOK, str],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    fake, url = served
    caplog.set_level(logging.DEBUG)
    for name in ("okru", "httpx", "httpcore", "trio", "h11", "anyio", "asyncio", "hpack"):
        caplog.set_level(logging.DEBUG, logger=name)
    cap = Captured()
    await _walk(adapter, fake, url, cap)
    secrets = cap.secrets | _secrets(fake)
    # The walk really produced what it should have: tokens of every grant, cookies, codes, uploads.
    assert cap.tokens_issued >= 7
    assert fake.dialog_sessions and fake.codes and fake.uploads
    assert any(r.name == "okru" for r in caplog.records), "the okru DEBUG lines were not captured"
    assert len(cap.exchanges) > 60
    _check(cap, caplog, secrets)
    print(f"\n[{adapter.name}] {len(cap.outcomes)} operations "
          f"({sum(o != 'ok' for o in cap.outcomes)} typed errors: {sorted(set(cap.outcomes) - {'ok'})}); "
          f"{len(cap.exchanges)} HTTP exchanges; {len(caplog.records)} log records; "
          f"{len(secrets)} secrets searched in {sum(map(len, cap.texts)) // 1024} KiB of text")
