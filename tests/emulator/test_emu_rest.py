"""REST: OK's checks and error replies, and the result shapes of docs/protocol.md §4/§9."""

from __future__ import annotations

import pytest

from okru_proto.adapter import Request
from okru_proto.testing import FakeOK
from tests.emulator.helpers import BASE, body, call, error_code, md5_hex, rest_request, signature


def test_demo_values(fake: FakeOK) -> None:
    assert fake.app_id.isdigit()
    assert (fake.app_key, fake.app_secret_key) == ("CBADEMOAPPKEYBABA", "0D1E2M3O4S5E6C7R8E9T0A1B")
    assert (fake.user_login, fake.user_password, fake.user_id) == ("demo", "demo-password", "571000000001")
    assert fake.now == 1_704_067_200.0


@pytest.mark.parametrize("circuit", ["client", "server"])
@pytest.mark.parametrize("http", ["GET", "POST"])
def test_get_current_user(fake: FakeOK, token: dict[str, str], circuit: str, http: str) -> None:
    response = call(fake, "users.getCurrentUser", token=token, circuit=circuit, http=http)
    user = body(response)
    assert user["uid"] == fake.user_id and user["name"] == "Demo User"
    assert user["location"]["countryCode"] == "RU"
    assert "email" not in user  # needs GET_EMAIL
    assert response.header("invocation-error") is None


def test_get_current_user_fields_and_email(fake: FakeOK) -> None:
    tok = fake.issue_token(scope=("VALUABLE_ACCESS", "GET_EMAIL"))
    user = body(call(fake, "users.getCurrentUser", {"fields": "FIRST_NAME,email"}, token=tok))
    assert user == {"uid": fake.user_id, "first_name": "Demo", "email": "demo@example.com"}


def test_logged_in_user_is_json_string(fake: FakeOK) -> None:
    tok = fake.issue_token(scope=())  # no scope needed (docs/protocol.md §6)
    response = call(fake, "users.getLoggedInUser", token=tok)
    assert response.body == f'"{fake.user_id}"'.encode()


def test_path_form_without_method_param(fake: FakeOK, token: dict[str, str]) -> None:
    params = {"application_key": fake.app_key}
    secret = md5_hex(token["access_token"] + fake.app_secret_key)
    request = rest_request(params, sig=signature(params, secret), access_token=token["access_token"],
                           http="GET", path="/api/users/getLoggedInUser")
    assert body(fake.handle(request)) == fake.user_id


def test_query_and_form_merged(fake: FakeOK, token: dict[str, str]) -> None:
    params = {"application_key": fake.app_key, "method": "friends.get", "format": "json"}
    sig = signature(params, token["session_secret_key"])
    request = Request(
        "POST", f"{BASE}/fb.do?method=friends.get&application_key={fake.app_key}",
        (("content-type", "application/x-www-form-urlencoded"),),
        f"format=json&sig={sig}&access_token={token['access_token']}".encode(),
    )
    assert body(fake.handle(request)) == ["571000000002", "571000000003", "571000000004"]


def test_users_get_info(fake: FakeOK, token: dict[str, str]) -> None:
    result = body(call(fake, "users.getInfo", {"uids": "571000000002,571000000003,1", "fields": "name,gender"},
                       token=token))
    assert result == [
        {"uid": "571000000002", "name": "Ivan Petrov", "gender": "male"},
        {"uid": "571000000003", "name": "Мария Иванова", "gender": "female"},
    ]


def test_users_get_info_limits(fake: FakeOK, token: dict[str, str]) -> None:
    uids = ",".join(str(i) for i in range(101))
    assert error_code(call(fake, "users.getInfo", {"uids": uids, "fields": "name"}, token=token)) == 100
    missing = body(call(fake, "users.getInfo", {"uids": "1"}, token=token))
    assert missing["error_msg"] == "PARAM : Missed required parameter: fields"


def test_friends_get_sessionless_needs_uid(fake: FakeOK) -> None:
    response = call(fake, "friends.get")
    assert body(response) == {"error_code": 100, "error_data": 1,
                              "error_msg": "PARAM : Either session_key or uid must be specified"}
    assert body(call(fake, "friends.get", {"uid": "571000000002"})) == [fake.user_id]
    assert error_code(call(fake, "friends.get", {"uid": "999"})) == 110


def test_group_get_info(fake: FakeOK, token: dict[str, str]) -> None:
    groups = body(call(fake, "group.getInfo", {"uids": fake.group_id, "fields": "name,members_count"}, token=token))
    assert groups == [{"uid": fake.group_id, "name": "Demo group", "members_count": 25}]


def test_events_calls_left_touch(fake: FakeOK, token: dict[str, str]) -> None:
    events = body(call(fake, "events.get", {"types": "MESSAGES"}, token=token))
    assert events == [{"uid": fake.user_id, "type": "MESSAGES", "number": 0}]
    left = body(call(fake, "users.getCallsLeft", {"methods": "notifications.sendSimple,friends.get"}, token=token))
    assert [x["name"] for x in left] == ["notifications.sendSimple", "friends.get"]
    assert body(call(fake, "auth.touchSession", token=token)) == {"result": True}


def test_notifications_send_simple(fake: FakeOK, token: dict[str, str]) -> None:
    assert body(call(fake, "notifications.sendSimple", {"uid": fake.user_id, "text": "hi"})) is True
    assert fake.notifications == [(fake.user_id, "hi")]
    response = call(fake, "notifications.sendSimple", {"uid": fake.user_id, "text": "hi"}, token=token)
    assert error_code(response) == 451


def test_session_required(fake: FakeOK) -> None:
    assert error_code(call(fake, "users.getCurrentUser")) == 453


def test_application_key_errors(fake: FakeOK) -> None:
    response = fake.handle(rest_request({"method": "users.getInfo"}, sig="x"))
    assert body(response) == {"error_code": 101, "error_msg": "PARAM_API_KEY : No application key", "error_data": None}
    response = fake.handle(rest_request({"method": "users.getInfo", "application_key": "NOPE"}, sig="x"))
    assert body(response)["error_msg"] == "PARAM_API_KEY : Application not exist"


def test_unknown_method(fake: FakeOK) -> None:
    assert error_code(call(fake, "users.noSuchThing")) == 3
    assert error_code(fake.handle(rest_request({"application_key": fake.app_key}, sig="x"))) == 100


def test_expired_and_unknown_token(fake: FakeOK, token: dict[str, str]) -> None:
    fake.clock.advance(1799)
    assert error_code(call(fake, "users.getLoggedInUser", token=token)) is None
    fake.clock.advance(1)
    response = call(fake, "users.getLoggedInUser", token=token)
    assert body(response)["error_msg"] == "PARAM_SESSION_EXPIRED : Session expired"
    bogus = dict(token, access_token="nope.nope")
    assert body(call(fake, "users.getLoggedInUser", token=bogus))["error_msg"] == \
        "PARAM_SESSION_KEY : Invalid session key"


def test_expire_and_revoke_helpers(fake: FakeOK, token: dict[str, str]) -> None:
    fake.expire_access_tokens()
    assert error_code(call(fake, "users.getLoggedInUser", token=token)) == 102
    fake.revoke()
    assert error_code(call(fake, "users.getLoggedInUser", token=token)) == 103


def test_token_of_other_app_is_invalid(fake: FakeOK) -> None:
    fake.add_app("700000000009", "OTHERKEY", "OTHERSECRET")
    other = fake.issue_token(app_id="700000000009")
    assert error_code(call(fake, "users.getLoggedInUser", token=other)) == 103


def test_permission_denied(fake: FakeOK) -> None:
    tok = fake.issue_token(scope=())
    response = call(fake, "friends.get", token=tok)
    assert body(response) == {
        "error_code": 10, "error_data": "valuable_access",
        "error_msg": "PERMISSION_DENIED : User must grant an access to permission 'VALUABLE_ACCESS'",
    }
    assert body(call(fake, "photosV2.getUploadUrl", token=fake.issue_token()))["error_data"] == "photo_content"


def test_code_grant_token_signs_only_server_circuit(fake: FakeOK) -> None:
    code = fake.authorize_code(redirect_uri="http://localhost/callback")
    token_request = Request(
        "POST", f"{BASE}/oauth/token.do", (("content-type", "application/x-www-form-urlencoded"),),
        ("grant_type=authorization_code&client_id=" + fake.app_id + "&client_secret=" + fake.app_secret_key
         + "&redirect_uri=http%3A%2F%2Flocalhost%2Fcallback&code=" + code.replace("/", "%2F")).encode(),
    )
    issued = body(fake.handle(token_request))
    tok = {"access_token": issued["access_token"], "session_secret_key": "not-a-session-secret"}
    assert error_code(call(fake, "users.getLoggedInUser", token=tok, circuit="server")) is None
    assert error_code(call(fake, "users.getLoggedInUser", token=tok, circuit="client")) == 104


def test_session_key_param_and_auth_login(fake: FakeOK) -> None:
    params = {"application_key": fake.app_key, "method": "auth.login", "user_name": fake.user_login,
              "password": fake.user_password, "verification_supported": "1", "verification_supported_v": "1",
              "format": "json"}
    session = body(fake.handle(rest_request(params, sig=None, http="GET")))
    assert session["uid"] == fake.user_id and session["api_server"] == "https://api.ok.ru/"
    assert session["auth_sig"] == md5_hex(fake.user_id + session["session_key"] + fake.app_secret_key)
    signed = {"application_key": fake.app_key, "method": "users.getLoggedInUser",
              "session_key": session["session_key"]}
    for variant in (signed, {k: v for k, v in signed.items() if k != "session_key"}):
        sig = signature(variant, session["session_secret_key"])
        assert body(fake.handle(rest_request(signed, sig=sig))) == fake.user_id


@pytest.mark.parametrize(
    ("login", "password", "flags", "code"),
    [("demo", "wrong", {}, 401), ("nobody", "x", {}, 401), ("cap", "pw", {"captcha": True}, 402),
     ("human", "pw", {"human_check": True}, 403)],
)
def test_auth_login_errors(fake: FakeOK, login: str, password: str, flags: dict[str, bool], code: int) -> None:
    fake.add_user("cap", "pw", captcha=True)
    fake.add_user("human", "pw", human_check=True)
    params = {"application_key": fake.app_key, "method": "auth.login", "user_name": login, "password": password}
    assert error_code(fake.handle(rest_request(params, sig=None))) == code


def test_long_access_token_sliding(fake: FakeOK) -> None:
    tok = fake.issue_token(long=True)
    assert tok["expires_in"] == str(30 * 86400)
    record = fake.tokens[tok["access_token"]]
    for _ in range(40):  # a call every day keeps it alive past 30 days
        fake.clock.advance(86400)
        assert error_code(call(fake, "users.getLoggedInUser", token=tok)) is None
    first = record.expires_at
    fake.clock.advance(3600)
    call(fake, "users.getLoggedInUser", token=tok)
    assert record.expires_at == first  # at most once per day
    call(fake, "auth.touchSession", token=tok)
    assert record.expires_at == fake.now + 30 * 86400
    fake.clock.advance(30 * 86400)
    assert error_code(call(fake, "users.getLoggedInUser", token=tok)) == 102


def test_request_log(fake: FakeOK, token: dict[str, str]) -> None:
    call(fake, "friends.get", token=token)
    call(fake, "users.getInfo", {"uids": "1", "fields": "name"}, token=token)
    (entry,) = fake.calls("users.getInfo")
    assert entry.params["uids"] == "1" and entry.path == "/fb.do" and entry.time == fake.now
    assert [r.method for r in fake.requests] == ["friends.get", "users.getInfo"]


def test_unknown_path_404(fake: FakeOK) -> None:
    response = fake.handle(Request("GET", f"{BASE}/nothing"))
    assert response.status == 404
    assert (response.header("content-type") or "").startswith("text/html")


def test_seeded_determinism() -> None:
    assert FakeOK(seed=5).issue_token() == FakeOK(seed=5).issue_token()
    assert FakeOK(seed=5).issue_token() != FakeOK(seed=6).issue_token()
