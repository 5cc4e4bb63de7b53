"""Fault injection and robustness: handle() never raises, whatever arrives."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from okru_proto.adapter import Request
from okru_proto.testing import FAULTS, Action, FakeOK
from tests.emulator.helpers import BASE, body, call, error_code


@pytest.mark.parametrize(("fault", "code"), [("flood", 8), ("service", 2)])
def test_api_faults(fake: FakeOK, token: dict[str, str], fault: str, code: int) -> None:
    fake.inject(fault, method="friends.get")
    assert error_code(call(fake, "users.getLoggedInUser", token=token)) is None
    assert error_code(call(fake, "friends.get", token=token)) == code
    assert error_code(call(fake, "friends.get", token=token)) is None  # times=1 used up


def test_flood_message(fake: FakeOK, token: dict[str, str]) -> None:
    fake.inject("flood")
    assert body(call(fake, "friends.get", token=token))["error_msg"] == \
        "FLOOD_BLOCKED : Call blocked due to flood protection"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_http_5xx(fake: FakeOK, token: dict[str, str], status: int) -> None:
    fake.inject(f"http_{status}", times=2)
    for _ in range(2):
        response = call(fake, "friends.get", token=token)
        assert response.status == status and (response.header("content-type") or "").startswith("text/html")
    assert call(fake, "friends.get", token=token).status == 200


def test_html_and_truncated(fake: FakeOK, token: dict[str, str]) -> None:
    fake.inject("html")
    response = call(fake, "friends.get", token=token)
    assert response.status == 200 and response.body.lstrip().startswith(b"<!DOCTYPE html>")
    full = call(fake, "friends.get", token=token).body
    fake.inject("truncated")
    cut = call(fake, "friends.get", token=token)
    assert cut.status == 200 and cut.body == full[: len(full) // 2]


def test_transport_actions_visible_in_handle_ex(fake: FakeOK, token: dict[str, str]) -> None:
    request = Request("GET", f"{BASE}/fb.do?method=friends.get")
    fake.inject("slow", seconds=3.5)
    _, action = fake.handle_ex(request)
    assert action == Action(delay=3.5)
    fake.inject("reset")
    assert fake.handle_ex(request)[1].reset
    fake.inject("truncated")
    response, action = fake.handle_ex(request)
    assert action.truncate_at == len(response.body) // 2
    assert fake.handle_ex(request)[1].is_plain


def test_only_the_service_fault_draws_from_the_seeded_generator() -> None:
    # A seed replays a run only if a fault's answer draws from the generator exactly when it
    # says so: error 2 carries a random log id, no other fault draws anything.
    request = Request("GET", f"{BASE}/fb.do?method=friends.get")

    def token_after(fault: str | None) -> str:
        fake = FakeOK(seed=7)
        if fault is not None:
            fake.inject(fault, method="friends.get")
        fake.handle(request)
        return fake.issue_token()["access_token"]

    plain = token_after(None)
    for fault in FAULTS:
        assert (token_after(fault) == plain) == (fault != "service"), fault


def test_fault_targets_paths_and_forever(fake: FakeOK) -> None:
    fake.inject("http_503", method="/oauth/token.do", times=None)
    for _ in range(3):
        assert fake.handle(Request("POST", f"{BASE}/oauth/token.do")).status == 503
    fake.clear_faults()
    assert fake.handle(Request("POST", f"{BASE}/oauth/token.do")).status == 400
    fake.inject("flood")  # API faults with method=None only hit REST calls
    assert fake.handle(Request("POST", f"{BASE}/oauth/token.do")).status == 400


def test_inject_validates(fake: FakeOK) -> None:
    with pytest.raises(ValueError):
        fake.inject("meteor")
    with pytest.raises(ValueError):
        fake.inject("flood", times=0)
    with pytest.raises(ValueError):
        fake.fault_rates(flood=2.0)
    assert "reset" in FAULTS


def _outcomes(seed: int) -> list[object]:
    fake = FakeOK(seed=seed)
    tok = fake.issue_token()
    fake.fault_rates(flood=0.2, http_502=0.2, reset=0.2)
    out: list[object] = []
    for _ in range(50):
        response, action = fake.handle_ex(Request("GET", f"{BASE}/fb.do?method=friends.get"))
        out.append((response.status, response.header("invocation-error"), action.reset))
    del tok
    return out


def test_fault_rates_are_seeded() -> None:
    first = _outcomes(1)
    assert first == _outcomes(1)
    kinds = {o for o in first}
    assert (200, "8", False) in kinds and (502, None, False) in kinds and any(o[2] for o in first)  # type: ignore[index]


_METHODS = st.sampled_from(["GET", "POST", "HEAD", "PUT"])
_PATHS = st.sampled_from(["/fb.do", "/api/users/getInfo", "/api/x", "/oauth/token.do", "/oauth/authorize", "/dk",
                          "/uploadImage", "/", "/%ff%fe"])
_QUERY = st.text(st.characters(codec="utf-8", exclude_characters="#"), max_size=80)
_HEADERS = st.lists(
    st.tuples(st.sampled_from(["content-type", "cookie", "host", "x-any"]),
              st.one_of(st.sampled_from(["application/x-www-form-urlencoded", "multipart/form-data; boundary=b",
                                         "multipart/form-data", "AUTHCODE=x"]),
                        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40))),
    max_size=3,
)


@pytest.mark.fuzz
@given(method=_METHODS, path=_PATHS, query=_QUERY, headers=_HEADERS, data=st.binary(max_size=200))
def test_handle_never_raises(method: str, path: str, query: str, headers: list[tuple[str, str]],
                             data: bytes) -> None:
    fake = FakeOK()
    response = fake.handle(Request(method, f"{BASE}{path}?{query}", tuple(headers), data))
    assert 200 <= response.status < 500


@pytest.mark.fuzz
@given(params=st.dictionaries(st.sampled_from(["method", "application_key", "sig", "access_token", "session_key",
                                               "uids", "fields", "attachment", "anchor", "count", "photos",
                                               "grant_type", "client_id", "code", "st.cmd", "st.client_id"]),
                              st.text(max_size=30), max_size=8),
       path=_PATHS)
def test_handle_never_raises_on_params(params: dict[str, str], path: str) -> None:
    from urllib.parse import urlencode

    fake = FakeOK()
    tok = fake.issue_token()
    params = {k: (tok["access_token"] if v == "" and k == "access_token" else v) for k, v in params.items()}
    try:
        encoded = urlencode(params).encode()
    except UnicodeEncodeError:
        return
    response = fake.handle(Request("POST", f"{BASE}{path}",
                                   (("content-type", "application/x-www-form-urlencoded"),), encoded))
    assert 200 <= response.status < 500


def test_huge_and_malformed(fake: FakeOK) -> None:
    many = "&".join(f"k{i}=v" for i in range(20_000))
    assert fake.handle(Request("GET", f"{BASE}/fb.do?{many}")).status == 400
    bad_utf8 = Request("POST", f"{BASE}/fb.do", (("content-type", "application/x-www-form-urlencoded"),),
                       b"method=users.getInfo&application_key=\xff\xfe&uids=%ff")
    assert error_code(fake.handle(bad_utf8)) == 101


def test_reset_in_pure_handle_and_bad_host(fake: FakeOK) -> None:
    fake.inject("reset")
    response = fake.handle(Request("GET", f"{BASE}/fb.do"))
    assert response.status == 499 and response.body == b""
    assert fake.handle(Request("GET", "http://[::1/fb.do")).status == 400
    assert fake.handle(Request("GET", "http://127.0.0.1:99999/fb.do")).status == 400


def test_nameless_param_is_ignored(fake: FakeOK, token: dict[str, str]) -> None:
    from tests.emulator.helpers import md5_hex, signature

    params = {"application_key": fake.app_key, "method": "users.getLoggedInUser"}
    sig = signature(params, md5_hex(token["access_token"] + fake.app_secret_key))
    url = f"{BASE}/fb.do?application_key={fake.app_key}&method=users.getLoggedInUser&=junk&sig={sig}"
    assert body(fake.handle(Request("GET", url + f"&access_token={token['access_token']}"))) == fake.user_id
