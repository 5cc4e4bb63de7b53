"""`okru call` through the real entry point against the emulator: circuits, parameters, errors."""

from __future__ import annotations

import json

from okru_proto.testing import FakeOK

from .conftest import Runner, assert_no_secrets, assert_one_error_line

Server = tuple[FakeOK, str]


def test_client_circuit_from_flags(okru: Runner, server: Server) -> None:
    fake, url = server
    issued = fake.issue_token()
    result = okru("call", "users.getCurrentUser", "--api-url", url, "--app-key", fake.app_key,
                  "--access-token", issued["access_token"], "--session-secret-key", issued["session_secret_key"])
    assert result.returncode == 0, result.output
    assert json.loads(result.stdout)["uid"] == fake.user_id
    assert_no_secrets(result.output, issued["access_token"], issued["session_secret_key"])


def test_server_circuit_from_environment(okru: Runner, server: Server) -> None:
    fake, url = server
    issued = fake.issue_token()
    env = {"OKRU_APP_ID": fake.app_id, "OKRU_APP_KEY": fake.app_key, "OKRU_APP_SECRET_KEY": fake.app_secret_key,
           "OKRU_ACCESS_TOKEN": issued["access_token"], "OKRU_API_URL": url}
    result = okru("call", "friends.get", env=env)
    assert result.returncode == 0, result.output
    assert len(json.loads(result.stdout)) == 3
    sent = fake.calls("friends.get")[-1].params
    assert sent["access_token"] == issued["access_token"] and "sig" in sent
    assert_no_secrets(result.output, issued["access_token"])


def test_session_less_circuit_with_cyrillic(okru: Runner, server: Server) -> None:
    fake, url = server
    result = okru("call", "notifications.sendSimple", f"uid={fake.user_id}", "text=Привет, мир!",
                  "--api-url", url, "--app-id", fake.app_id, "--app-key", fake.app_key,
                  "--app-secret-key", fake.app_secret_key, script=True)
    assert result.returncode == 0, result.output
    assert json.loads(result.stdout) is True
    assert fake.notifications[-1] == (fake.user_id, "Привет, мир!")
    assert "access_token" not in fake.calls("notifications.sendSimple")[-1].params


def test_json_values_lists_bools_zero_and_get(okru: Runner, server: Server) -> None:
    fake, url = server
    issued = fake.issue_token()
    friend = "571000000003"
    result = okru("call", "users.getInfo", f"uids:=[{fake.user_id},{friend}]", "fields=name,gender",
                  "emptyPictures:=false", "offset:=0", "--get", "--api-url", url, "--app-key", fake.app_key,
                  "--access-token", issued["access_token"], "--session-secret-key", issued["session_secret_key"])
    assert result.returncode == 0, result.output
    users = json.loads(result.stdout)
    assert [u["uid"] for u in users] == [fake.user_id, friend]
    assert "Мария Иванова" in result.stdout  # printed as text, not \u escapes
    received = fake.calls("users.getInfo")[-1]
    assert received.request.method == "GET"  # type: ignore[attr-defined]
    assert received.params["uids"] == f"{fake.user_id},{friend}"
    assert received.params["emptyPictures"] == "false" and received.params["offset"] == "0"


def test_json_object_parameter(okru: Runner, server: Server) -> None:
    fake, url = server
    issued = fake.issue_token()
    attachment = {"media": [{"type": "text", "text": "Привет & = %20"}]}
    result = okru("call", "mediatopic.post", "type=USER", f"attachment:={json.dumps(attachment, ensure_ascii=False)}",
                  "--api-url", url, "--app-key", fake.app_key, "--access-token", issued["access_token"],
                  "--session-secret-key", issued["session_secret_key"])
    assert result.returncode == 0, result.output
    assert fake.topics[-1].attachment == attachment


def test_wrong_secret_gives_104_with_the_signed_string_and_a_sign_hint(okru: Runner, server: Server) -> None:
    fake, url = server
    wrong = "WRONG-secret-5f1a9c0d7e"
    result = okru("call", "notifications.sendSimple", f"uid={fake.user_id}", "text=hi", "--api-url", url,
                  "--app-key", fake.app_key, "--app-secret-key", wrong)
    line = assert_one_error_line(result, 3, "104", "calculated by string application_key=", "okru sign --method "
                                 "notifications.sendSimple", "--app-secret-key …")
    assert "SECRET KEY" in line
    assert_no_secrets(result.output, wrong)
    assert result.stdout == ""


def test_api_error_exit_1(okru: Runner, server: Server) -> None:
    fake, url = server
    issued = fake.issue_token()
    result = okru("call", "users.noSuchMethod", "--api-url", url, "--app-key", fake.app_key,
                  "--access-token", issued["access_token"], "--session-secret-key", issued["session_secret_key"])
    assert_one_error_line(result, 1, "error 3", "check the method name")


def test_expired_token_without_refresh_is_an_auth_error(okru: Runner, server: Server) -> None:
    fake, url = server
    issued = fake.issue_token()
    fake.expire_access_tokens()
    result = okru("call", "users.getCurrentUser", "--api-url", url, "--app-key", fake.app_key,
                  "--access-token", issued["access_token"], "--session-secret-key", issued["session_secret_key"])
    assert_one_error_line(result, 3, "102", "okru login")
    assert_no_secrets(result.output, issued["access_token"])


def test_bad_input_is_one_line_and_exit_2(okru: Runner, server: Server) -> None:
    fake, url = server
    keys = ("--api-url", url, "--app-key", fake.app_key)
    assert_one_error_line(okru("frobnicate"), 2, "invalid choice")
    assert_one_error_line(okru("call", "users.getInfo", "uids", *keys), 2, "bad parameter 'uids'")
    assert_one_error_line(okru("call", "users.getInfo", "uids:=[1,", *keys), 2, "bad JSON")
    assert_one_error_line(okru("call", "users.getInfo", "=1", *keys), 2, "bad parameter")
    assert_one_error_line(okru("call", "users.getInfo", "a=1", "a=2", *keys), 2, "given twice")
    assert_one_error_line(okru("call", "users.getCurrentUser", "--api-url", url), 2, "no credentials", "okru login")
    token_only = okru("call", "users.getCurrentUser", *keys, "--access-token", "tok-3c9f2a7b1d0e4f56")
    assert_one_error_line(token_only, 2, "--session-secret-key", "--app-secret-key")
    assert "tok-3c9f2a7b1d0e4f56" not in token_only.output
    assert_one_error_line(okru("call", "users.getCurrentUser", "--api-url", "http://api.example.com",
                               "--app-key", "K", "--app-secret-key", "S"), 2, "plain http://")
    assert_one_error_line(okru("call", "bad method!", *keys, "--app-secret-key", "S"), 2)
    assert fake.requests == []  # none of these reached the server


def test_unreachable_server_exit_4(okru: Runner) -> None:
    result = okru("call", "users.getInfo", "--api-url", "http://127.0.0.1:9", "--app-key", "K",
                  "--app-secret-key", "S", "--timeout", "5")
    assert_one_error_line(result, 4, "could not reach", "--api-url")


def test_debug_shows_traceback_and_log_but_no_secret(okru: Runner, server: Server) -> None:
    fake, url = server
    issued = fake.issue_token()
    result = okru("--debug", "call", "users.noSuchMethod", "--api-url", url, "--app-key", fake.app_key,
                  "--access-token", issued["access_token"], "--session-secret-key", issued["session_secret_key"])
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "MethodNotFoundError" in result.stderr
    assert "okru: DEBUG: users.noSuchMethod" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("okru: error: ")
    assert_no_secrets(result.output, issued["access_token"], issued["session_secret_key"])


def test_help_and_version(okru: Runner) -> None:
    result = okru("--help")
    assert result.returncode == 0
    for code in ("0 ", "1 ", "2 ", "3 ", "4 ", "5 "):
        assert f"\n  {code}" in result.stdout
    assert "OKRU_APP_SECRET_KEY" in result.stdout
    version = okru("--version", script=True)
    assert version.returncode == 0 and version.stdout.startswith("okru ")
