"""`okru sign`: the canonical string and the sig, exactly as okru_proto computes and sends them."""

from __future__ import annotations

import re

from okru_proto import Endpoints, sign
from okru_proto.adapter import canonical_string, prepare_call, server_secret

from .conftest import Runner, assert_one_error_line

SECRET = "S3CR3T-for-sign-test-9b7e"


def _field(stdout: str, name: str) -> str:
    match = re.search(rf"^{name}:\s+(.*)$", stdout, re.MULTILINE)
    assert match, stdout
    return match.group(1)


def test_sign_matches_the_core(okru: Runner) -> None:
    result = okru("sign", "b=2", "a=1", "uids:=[1,2]", "flag:=true", "text=Привет", "--secret", SECRET)
    assert result.returncode == 0, result.output
    params: dict[str, object] = {"b": "2", "a": "1", "uids": [1, 2], "flag": True, "text": "Привет"}
    assert _field(result.stdout, "canonical string") == canonical_string(params)
    assert _field(result.stdout, "sig") == sign(params, SECRET)
    assert SECRET not in result.output
    assert "<secret>" in result.stdout


def test_sign_with_method_is_what_call_sends(okru: Runner) -> None:
    result = okru("sign", "--method", "users.getInfo", "--app-key", "CBAKEY", "uids:=[1,2]", "--secret", SECRET)
    assert result.returncode == 0, result.output
    request = prepare_call("users.getInfo", {"uids": [1, 2]}, app_key="CBAKEY", endpoints=Endpoints(), secret=SECRET)
    assert f"sig={_field(result.stdout, 'sig')}" in request.body.decode()
    assert _field(result.stdout, "canonical string") == "application_key=CBAKEYformat=jsonmethod=users.getInfouids=1,2"


def test_sign_server_circuit_tv3(okru: Runner) -> None:
    # docs/protocol.md TV-3 (the OK request calculator): app secret 2, access token 3.
    result = okru("sign", "application_key=1", "format=json", "method=friends.get", "--access-token", "3",
                  "--app-secret-key", "2")
    assert result.returncode == 0, result.output
    assert _field(result.stdout, "sig") == "d7348fe0d7d735aa2156fa5c596ab8cc"
    assert "server-server" in result.stdout


def test_sign_secret_from_environment(okru: Runner) -> None:
    token, app_secret = "tkn-env-7f3e9a1c5b", "APPSECRET-env-2d8c"
    result = okru("sign", "a=1", env={"OKRU_ACCESS_TOKEN": token, "OKRU_APP_SECRET_KEY": app_secret})
    assert result.returncode == 0, result.output
    assert _field(result.stdout, "sig") == sign({"a": "1"}, server_secret(token, app_secret))
    assert token not in result.output and app_secret not in result.output
    assert server_secret(token, app_secret).reveal() not in result.output


def test_sign_without_a_secret_is_a_usage_error(okru: Runner) -> None:
    assert_one_error_line(okru("sign", "a=1"), 2, "needs a secret")
