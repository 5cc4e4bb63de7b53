"""The emulator accepts every request vector of docs/protocol.md §2.7 and rejects one-character changes."""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from okru_proto.adapter import Request
from okru_proto.testing import FakeOK
from tests.emulator.helpers import body, error_code, md5_hex, rest_request, signature

APP_ID = "700000000001"


@dataclass
class Vector:
    name: str
    app_key: str
    app_secret: str
    params: dict[str, str]
    sig: str
    access_token: str | None = None
    session_key: str | None = None
    session_secret: str | None = None
    path: str = "/fb.do"
    expect: int | None = None  # None: success; else the error code after the signature passed
    scope: tuple[str, ...] = field(default=("VALUABLE_ACCESS",))


VECTORS = [
    Vector("TV-1", "ABCDEFGHIGKLMNOPK", "ABC123DEF456GHI789JKL123",
           {"application_key": "ABCDEFGHIGKLMNOPK", "format": "json", "method": "events.get"},
           "232c8eb921951c4dba9b72606f9ddb4c", access_token="-s-84W-s3egarWUsbkq-IWTucuedzTKT8VUXIA.s4Xx8IW7",
           session_secret="ae5362b5b588cc7294c2414d71b74d5d"),
    Vector("TV-2", "ABCDEFGHIGKLMNOPK", "ABC123DEF456GHI789JKL123",
           {"application_key": "ABCDEFGHIGKLMNOPK", "format": "json", "method": "events.get"},
           "03a41413523ea8092507949d6e711963", access_token="-s-84W-s3egarWUsbkq-IWTucuedzTKT8VUXIA.s4Xx8IW7",
           session_secret="ae5362b5b588cc7294c2414d71b74d5d"),
    Vector("TV-3", "1", "2", {"application_key": "1", "format": "json", "method": "friends.get"},
           "d7348fe0d7d735aa2156fa5c596ab8cc", access_token="3"),
    # No session on a session-only method: the signature passes, then 453.
    Vector("TV-4a", "app key", "app secret key",
           {"application_key": "app key", "method": "users.getCurrentUser"},
           "a6a34ee469a3aa62199c9d174966c7c8", expect=453),
    Vector("TV-4b", "app key", "app secret key",
           {"application_key": "app key", "method": "users.getCurrentUser", "session_key": "session key"},
           "cb30c5ea3e44779299dbc90e81bd3d36", session_key="session key", session_secret="session secret key"),
    Vector("TV-8", "app key", "app secret key",
           {"application_key": "app key", "method": "users.getCurrentUser", "session_key": "session key"},
           "55318f1777f42beb5cc6d6e2e3079e2c", session_key="session key", session_secret="session secret key"),
    Vector("TV-4c", "app key", "app secret key",
           {"application_key": "app key", "method": "users.getCurrentUser"},
           "8a41a73bcef600b6a3464158b2059549", access_token="access token"),
    Vector("TV-6a", "application_key", "client_secret", {"application_key": "application_key"},
           "4784959f6620c78221bff139d6cf9309", access_token="token", path="/api/users/getCurrentUser"),
    Vector("TV-7a", "AAAAAAAAAAAAAAAA", "CCCCCCCCCCCCCCCCCCCCCCCC",
           {"method": "friends.get", "fields": "uid,first_name,last_name,pic_2",
            "application_key": "AAAAAAAAAAAAAAAA", "format": "json"},
           "96127f5ca29a8351399e94bbd284ab16", access_token="d3iwa.403gvrs194740652m1k4w2a503k3c"),
    Vector("TV-7b", "AAAAAAAAAAAAAAAA", "CCCCCCCCCCCCCCCCCCCCCCCC",
           {"method": "friends.get", "fields": "uid,first_name,last_name,pic_2",
            "application_key": "AAAAAAAAAAAAAAAA", "format": "json", "testsimpleparam": "simplevalue"},
           "b5355cfc4683869e802747d8aa8acf3f", access_token="d3iwa.403gvrs194740652m1k4w2a503k3c"),
    Vector("TV-7c", "AAAAAAAAAAAAAAAA", "CCCCCCCCCCCCCCCCCCCCCCCC",
           {"method": "friends.get", "fields": "uid,first_name,last_name,pic_2",
            "application_key": "AAAAAAAAAAAAAAAA", "format": "json", "testsimpleparam": "complex+value%20"},
           "229fd8a3fbc42cf545627e6ea719c57d", access_token="d3iwa.403gvrs194740652m1k4w2a503k3c"),
    Vector("TV-9", "K", "S",
           {"application_key": "K", "emptyPictures": "true", "fields": "uid,name", "method": "users.getInfo",
            "uids": "1,2"}, "487c4d619c32f1b3427cab254d7abb27"),
    Vector("TV-9-True", "K", "S",
           {"application_key": "K", "emptyPictures": "True", "fields": "uid,name", "method": "users.getInfo",
            "uids": "1,2"}, "e3bcd23717cbdce2c307dddda0d05d3e"),
    Vector("TV-10", "CBAXXXXXXXXXXXXXX", "APPSECRET0123",
           {"application_key": "CBAXXXXXXXXXXXXXX",
            "attachment": '{"media":[{"type":"text","text":"Привет, мир!"}]}',
            "format": "json", "method": "mediatopic.post", "type": "USER"},
           "af71dac5e24491c9fbd40613bff017e3", access_token="tkn-test.1"),
]


def _fake_for(v: Vector) -> FakeOK:
    fake = FakeOK()
    fake.add_app(APP_ID, v.app_key, v.app_secret, permissions=("VALUABLE_ACCESS",))
    token = v.access_token or v.session_key
    if token is not None:
        fake.add_token(token, app_id=APP_ID, scope=v.scope, session_secret_key=v.session_secret)
    return fake


def _request(v: Vector, sig: str, params: dict[str, str] | None = None, http: str = "GET") -> Request:
    return rest_request(params or v.params, sig=sig, access_token=v.access_token, http=http, path=v.path)


@pytest.mark.parametrize("http", ["GET", "POST"])
@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v.name)
def test_vector_accepted(v: Vector, http: str) -> None:
    response = _fake_for(v).handle(_request(v, v.sig, http=http))
    assert error_code(response) == v.expect, body(response)


def _one_char_changes(text: str) -> list[str]:
    out = []
    for i in (0, len(text) // 2, len(text) - 1):
        for c in ("0", "f", "A"):
            if text[i] != c:
                out.append(text[:i] + c + text[i + 1 :])
                break
    return out


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v.name)
def test_vector_one_char_sig_change_rejected(v: Vector) -> None:
    fake = _fake_for(v)
    for bad in [*_one_char_changes(v.sig), v.sig.upper(), v.sig[:-1], v.sig + "0"]:
        response = fake.handle(_request(v, bad))
        assert error_code(response) == 104, bad
        msg = body(response)["error_msg"]
        assert msg.startswith(f"PARAM_SIGNATURE : Invalid signature {bad}, calculated by string ")
        assert msg.endswith("********SECRET KEY*******")
        for secret in (v.app_secret, v.access_token, v.session_key, v.session_secret):
            if secret and len(secret) > 4:
                assert secret not in msg


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v.name)
def test_vector_one_char_param_change_rejected(v: Vector) -> None:
    fake = _fake_for(v)
    for key, value in v.params.items():
        if key in ("application_key", "session_key", "method"):
            continue
        changed = dict(v.params, **{key: value[:-1] + ("x" if value[-1] != "x" else "y")})
        assert error_code(fake.handle(_request(v, v.sig, changed))) == 104, key


def test_104_message_shows_string_without_tokens() -> None:
    v = VECTORS[4]  # TV-4b: session_key in the params
    response = _fake_for(v).handle(_request(v, "0" * 32))
    assert body(response)["error_msg"] == (
        "PARAM_SIGNATURE : Invalid signature 00000000000000000000000000000000, calculated by string "
        "application_key=app keymethod=users.getCurrentUser********SECRET KEY*******"
    )


def test_missing_sig(fake: FakeOK) -> None:
    response = fake.handle(rest_request({"application_key": fake.app_key, "method": "users.getInfo"}, sig=None))
    assert body(response) == {"error_code": 104, "error_msg": "PARAM_SIGNATURE : No signature specified",
                              "error_data": None}


def test_auth_sig_tv11(fake: FakeOK) -> None:
    app = fake.add_app("700000000002", "k11", "a-secret-key")
    assert fake.auth_sig("12345", "session-key", app) == "cf855bc0e344799edbb4abf1b07f3293"


def test_signature_helper_matches_core_vectors() -> None:
    # Guard: the tests' own signer reproduces TV-3 and TV-7c.
    assert signature({"application_key": "1", "format": "json", "method": "friends.get"},
                     md5_hex("32")) == "d7348fe0d7d735aa2156fa5c596ab8cc"


# -- Hypothesis: correct signatures verify, any other is rejected ------------------------------------

_KEYS = st.text(string.ascii_letters + string.digits + "_.", min_size=1, max_size=12).filter(
    lambda k: k not in ("sig", "access_token", "session_key", "method", "application_key", "format", "resig",
                        "methods")
)
_VALUES = st.text(st.characters(codec="utf-8"), max_size=20)
_PARAMS = st.dictionaries(_KEYS, _VALUES, max_size=6)


def _signed_call(fake: FakeOK, extra: dict[str, str], secret: str, *, token: str | None,
                 http: str, sig: str | None = None) -> Request:
    params = {"application_key": fake.app_key, "method": "users.getCallsLeft", "methods": "friends.get",
              **extra}
    return rest_request(params, sig=sig or signature(params, secret), access_token=token, http=http)


@pytest.mark.fuzz
@given(extra=_PARAMS, circuit=st.sampled_from(["none", "client", "server"]), http=st.sampled_from(["GET", "POST"]))
def test_any_correct_signature_verifies(extra: dict[str, str], circuit: str, http: str) -> None:
    fake = FakeOK()
    tok = fake.issue_token()
    secret = {
        "none": fake.app_secret_key,
        "client": tok["session_secret_key"],
        "server": md5_hex(tok["access_token"] + fake.app_secret_key),
    }[circuit]
    token = None if circuit == "none" else tok["access_token"]
    response = fake.handle(_signed_call(fake, extra, secret, token=token, http=http))
    assert body(response) == [{"available": True, "callsLeft": 1000, "name": "friends.get"}]


@pytest.mark.fuzz
@given(extra=_PARAMS, bad=st.text("0123456789abcdefABCDEF", min_size=0, max_size=40))
def test_any_other_signature_rejected(extra: dict[str, str], bad: str) -> None:
    fake = FakeOK()
    good = signature({"application_key": fake.app_key, "method": "users.getCallsLeft",
                      "methods": "friends.get", **extra}, fake.app_secret_key)
    if bad == good:
        return
    response = fake.handle(_signed_call(fake, extra, "", token=None, http="POST", sig=bad or "x"))
    assert error_code(response) == 104


@given(extra=_PARAMS)
def test_wrong_secret_rejected(extra: dict[str, str]) -> None:
    fake = FakeOK()
    tok = fake.issue_token()
    # The app secret alone is the wrong secret once a session is sent.
    response = fake.handle(_signed_call(fake, extra, fake.app_secret_key, token=tok["access_token"], http="POST"))
    assert error_code(response) == 104
    assert tok["access_token"] not in json.dumps(body(response))
