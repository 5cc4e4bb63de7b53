"""Contract: every grant end to end, calls in every circuit, parameters as the emulator sees them."""

from __future__ import annotations

import pytest

from okru_proto import Token
from okru_proto.errors import MethodNotFoundError, SignatureError
from tests.adapters import Env

pytestmark = pytest.mark.anyio

REDIRECT = "http://localhost/callback"


# -- grants: in-process and over the loopback server ------------------------------------------

async def test_code_grant(wired_env: Env) -> None:
    fake = wired_env.fake
    code = fake.authorize_code(redirect_uri=REDIRECT)
    tokens: list[Token] = []
    # app_id as an int, as aiookru takes it.
    session = wired_env.session("CodeSession", int(fake.app_id), fake.app_key, fake.app_secret_key,
                                code, REDIRECT, on_token=tokens.append)
    async with wired_env.adapter.entered(session):
        assert session.access_token and session.access_token in fake.tokens
        assert session.session_key == session.access_token
        assert session.refresh_token in fake.refresh_tokens
        assert session.token_type and session.expires_in and session.expires_in > 0
        assert session.core.circuit == "server"
        assert tokens and tokens[-1].access_token.reveal() == session.access_token
        me = await wired_env.adapter.api(session, "users.getCurrentUser")
        assert me["uid"] == fake.user_id
    sent = fake.calls("/oauth/token.do")[-1].params
    assert sent["grant_type"] == "authorization_code" and sent["code"] == code


async def test_implicit_grant(wired_env: Env) -> None:
    fake = wired_env.fake
    session = wired_env.session("ImplicitSession", fake.app_id, fake.app_key, fake.app_secret_key,
                                fake.user_login, fake.user_password, ["VALUABLE_ACCESS", "PHOTO_CONTENT"],
                                state="st-42")
    async with wired_env.adapter.entered(session):
        assert session.access_token in fake.tokens
        assert session.session_secret_key
        assert session.state == "st-42"
        granted = session.permissions_granted or ""
        assert "VALUABLE_ACCESS" in granted and session.permission_granted == granted
        assert session.core.circuit == "client"
        me = await wired_env.adapter.call(session, "users.getCurrentUser")
        assert me["uid"] == fake.user_id


async def test_password_grant(wired_env: Env) -> None:
    fake = wired_env.fake
    session = wired_env.session("PasswordSession", fake.app_id, fake.app_key, fake.app_secret_key,
                                fake.user_login, fake.user_password)
    async with wired_env.adapter.entered(session):
        assert session.access_token in fake.tokens
        assert session.session_secret_key
        assert await wired_env.adapter.call(session, "users.getLoggedInUser") == fake.user_id


async def test_refresh_grant(wired_env: Env) -> None:
    fake = wired_env.fake
    issued = fake.issue_token()
    session = wired_env.session("RefreshSession", fake.app_id, fake.app_key, fake.app_secret_key,
                                issued["refresh_token"])
    async with wired_env.adapter.entered(session):
        assert session.access_token in fake.tokens
        assert session.access_token != issued["access_token"]
        assert session.refresh_token == issued["refresh_token"]
        me = await wired_env.adapter.call(session, "users.getCurrentUser")
        assert me["uid"] == fake.user_id


async def test_bad_code_is_an_oauth_error(wired_env: Env) -> None:
    from okru_proto import OAuthError

    fake = wired_env.fake
    session = wired_env.session("CodeSession", fake.app_id, fake.app_key, fake.app_secret_key,
                                "not-a-code/00", REDIRECT)
    with pytest.raises(OAuthError):
        await wired_env.adapter.enter(session)


async def test_bad_password_raises_and_nothing_is_left_authorized(wired_env: Env) -> None:
    from okru_proto import Error

    fake = wired_env.fake
    session = wired_env.session("PasswordSession", fake.app_id, fake.app_key, fake.app_secret_key,
                                fake.user_login, "wrong-password")
    with pytest.raises(Error):
        await wired_env.adapter.enter(session)
    assert session.access_token is None


# -- the three circuits (and unsigned) ----------------------------------------------------------

async def test_client_circuit(wired_env: Env) -> None:
    fake = wired_env.fake
    issued = fake.issue_token()
    session = wired_env.session("ClientSession", fake.app_id, fake.app_key, issued["access_token"],
                                issued["session_secret_key"])
    async with wired_env.adapter.entered(session):
        me = await wired_env.adapter.api(session, "users.getCurrentUser")
    assert me["uid"] == fake.user_id
    assert session.core.circuit == "client"


async def test_server_circuit(wired_env: Env) -> None:
    fake = wired_env.fake
    issued = fake.issue_token()
    session = wired_env.session("ServerSession", fake.app_id, fake.app_key, fake.app_secret_key,
                                issued["access_token"])
    async with wired_env.adapter.entered(session):
        me = await wired_env.adapter.api(session, "users.getCurrentUser")
    assert me["uid"] == fake.user_id
    assert session.core.circuit == "server"


async def test_app_circuit_session_less_call(env: Env) -> None:
    fake = env.fake
    session = env.session("AppSession", fake.app_id, fake.app_key, fake.app_secret_key)
    async with env.adapter.entered(session):
        assert session.access_token is None
        ok = await env.adapter.api(session, "notifications.sendSimple", uid=fake.user_id, text="Привет!")
    assert ok is True
    assert fake.notifications[-1] == (fake.user_id, "Привет!")
    assert "access_token" not in fake.calls("notifications.sendSimple")[-1].params


async def test_public_session_sends_unsigned(env: Env) -> None:
    fake = env.fake
    session = env.session("PublicSession", app_key=fake.app_key)
    async with env.adapter.entered(session):
        with pytest.raises(SignatureError):  # the emulator, like OK, wants a sig here
            await env.adapter.call(session, "users.getInfo", uids=fake.user_id, fields="name")
    sent = fake.calls("users.getInfo")[-1].params
    assert "sig" not in sent and "access_token" not in sent
    assert sent["application_key"] == fake.app_key


# -- parameters, as the emulator received (and verified the signature of) them ----------------

def _server_session(env: Env, **options: object) -> object:
    fake = env.fake
    issued = fake.issue_token(scope=["VALUABLE_ACCESS", "PHOTO_CONTENT"])
    return env.session("ServerSession", fake.app_id, fake.app_key, fake.app_secret_key,
                       issued["access_token"], refresh_token=issued["refresh_token"], **options)


async def test_list_bool_zero_params(wired_env: Env) -> None:
    fake = wired_env.fake
    friend = "571000000003"
    session = _server_session(wired_env)
    async with wired_env.adapter.entered(session):
        users = await wired_env.adapter.api(session, "users.getInfo", uids=[fake.user_id, friend],
                                            fields=["first_name", "last_name"], emptyPictures=True, offset=0)
    assert [u["uid"] for u in users] == [fake.user_id, friend]
    assert users[1]["first_name"] == "Мария"
    sent = fake.calls("users.getInfo")[-1].params
    assert sent["uids"] == f"{fake.user_id},{friend}"
    assert sent["fields"] == "first_name,last_name"
    assert sent["emptyPictures"] == "true"
    assert sent["offset"] == "0"


async def test_cyrillic_json_param(wired_env: Env) -> None:
    fake = wired_env.fake
    session = _server_session(wired_env)
    attachment = {"media": [{"type": "text", "text": "Привет, мир! & = + %20 ?"}]}
    async with wired_env.adapter.entered(session):
        topic_id = await wired_env.adapter.call(session, "mediatopic.post", type="USER", attachment=attachment)
    assert isinstance(topic_id, str)
    topic = fake.topics[-1]
    assert topic.topic_id == topic_id and topic.attachment == attachment


async def test_get_requests_work_too(env: Env) -> None:
    fake = env.fake
    session = _server_session(env, http_method="GET")
    async with env.adapter.entered(session):
        users = await env.adapter.call(session, "users.getInfo", {"uids": fake.user_id, "fields": "name"})
    assert users[0]["uid"] == fake.user_id
    assert fake.calls("users.getInfo")[-1].request.method == "GET"  # type: ignore[attr-defined]


async def test_unknown_method_error_and_pass_error(env: Env) -> None:
    session = _server_session(env)
    async with env.adapter.entered(session):
        with pytest.raises(MethodNotFoundError) as caught:
            await env.adapter.api(session, "nothing.here")
    assert caught.value.code == 3 and caught.value.method == "nothing.here"
    passing = _server_session(env, pass_error=True)
    async with env.adapter.entered(passing):
        raw = await env.adapter.api(passing, "nothing.here")
    assert raw["error_code"] == 3 and "error_msg" in raw


async def test_authorized_token_is_the_token_after_the_grant_and_an_error_before(wired_env: Env) -> None:
    from okru_proto import UsageError

    fake = wired_env.fake
    session = wired_env.session("PasswordSession", fake.app_id, fake.app_key, fake.app_secret_key,
                                fake.user_login, fake.user_password)
    with pytest.raises(UsageError, match="not authorized yet"):
        session.authorized_token  # noqa: B018
    async with wired_env.adapter.entered(session):
        token = session.authorized_token
        assert token is session.token
        assert token.access_token.reveal() == session.access_token
    app = wired_env.session("AppSession", fake.app_id, fake.app_key, fake.app_secret_key)
    with pytest.raises(UsageError, match="holds no token: its calls are signed with the app secret"):
        app.authorized_token  # noqa: B018
