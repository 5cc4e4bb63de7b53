"""Request/Response/Endpoints validation, REST prepare/parse, and the core's purity."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

import okru_proto
from okru_proto import (
    APIError,
    Endpoints,
    Error,
    HTTPStatusError,
    ProtocolError,
    SessionExpiredError,
    UsageError,
)
from okru_proto.adapter import Request, Response, parse_call_response, prepare_call, server_secret
from okru_proto.errors import FloodBlockedError, PermissionDeniedError, SignatureError

JSON = (("content-type", "application/json;charset=utf-8"),)


def ok(body: bytes | str, status: int = 200, headers=JSON) -> Response:
    return Response(status, headers, body.encode() if isinstance(body, str) else body)


def _loaded_after(statement: str, modules: tuple[str, ...]) -> str:
    code = (f"import sys\n{statement}\n"
            f"print(','.join(m for m in {modules!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_core_imports_no_io_library():
    assert _loaded_after("import okru_proto", ("httpx", "trio", "h11", "anyio", "asyncio", "socket", "ssl")) == ""


def test_emulator_imports_no_transport_library():
    # the pure emulator uses the stdlib's email parser (which pulls in socket), never a transport
    assert _loaded_after("import okru_proto.testing", ("httpx", "trio", "h11", "anyio", "asyncio")) == ""


def test_public_names_are_exported():
    for name in okru_proto.__all__:
        assert hasattr(okru_proto, name), name
    assert issubclass(okru_proto.TransportTimeout, okru_proto.TransportError)
    for cls in (APIError, ProtocolError, UsageError, okru_proto.OAuthError, okru_proto.TransportError):
        assert issubclass(cls, Error)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://127.5.6.7", "http://[::1]:1", "http://localhost:9",
                                 "https://api.ok.ru", "https://example.com/api/"])
def test_endpoints_accept(url):
    e = Endpoints(api=url, connect=url)
    assert e.rest_url == url.rstrip("/") + "/fb.do"
    assert e.token_url.endswith("/oauth/token.do") and e.authorize_url.endswith("/oauth/authorize")


@pytest.mark.parametrize("url", ["http://api.ok.ru", "http://10.0.0.1", "ftp://x", "api.ok.ru", "https://", "",
                                 "https://api.ok.ru/?x=1", "http://localhost.evil.com"])
def test_endpoints_refuse(url):
    with pytest.raises(UsageError):
        Endpoints(api=url)
    with pytest.raises(UsageError):
        Endpoints(connect=url)


def test_endpoints_defaults():
    e = Endpoints()
    assert (e.api, e.connect) == ("https://api.ok.ru", "https://connect.ok.ru")


def test_request_validation_and_repr():
    r = Request("GET", "https://api.ok.ru/fb.do?method=x&access_token=SECRETTOKEN&session_key=SK1234", {"X-A": "1"})
    assert r.headers == (("x-a", "1"),) and r.header("X-A") == "1"
    assert "SECRETTOKEN" not in repr(r) and "SK1234" not in repr(r) and "method=x" in repr(r)
    for bad in [dict(method="BREW", url="https://x"), dict(method="GET", url="/relative"),
                dict(method="GET", url="https://x", body="str")]:
        with pytest.raises(UsageError):
            Request(**bad)
    with pytest.raises(UsageError):
        Request("GET", "https://x", (("a", "b\r\nInjected: 1"),))
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.method = "POST"  # type: ignore[misc]


def test_response_validation_and_repr():
    r = Response(200, [("Set-Cookie", "a=1"), ("set-cookie", "b=2")], b'{"access_token":"TOPSECRET"}')
    assert r.header_values("set-cookie") == ["a=1", "b=2"]
    assert "TOPSECRET" not in repr(r)
    with pytest.raises(UsageError):
        Response(99)
    with pytest.raises(UsageError):
        Response(200, (), "text")  # type: ignore[arg-type]


def test_prepare_post_and_get():
    secret = server_secret("tok", "APPSECRET")
    post = prepare_call("users.getInfo", {"uids": [1, 2], "fields": ("name",), "flag": False, "zero": 0, "empty": "",
                                          "skip": None}, app_key="K", endpoints=Endpoints(), secret=secret,
                        access_token="tok")
    assert post.method == "POST" and post.url == "https://api.ok.ru/fb.do"
    form = dict(parse_qsl(post.body.decode(), keep_blank_values=True))
    assert form == {"application_key": "K", "empty": "", "fields": "name", "flag": "false", "format": "json",
                    "method": "users.getInfo", "uids": "1,2", "zero": "0", "sig": form["sig"], "access_token": "tok"}
    assert "tok" not in post.url
    get = prepare_call("users.getInfo", {"uids": [1, 2]}, app_key="K", endpoints=Endpoints(), secret=secret,
                       access_token="tok", http_method="GET")
    assert get.body == b"" and dict(parse_qsl(urlsplit(get.url).query))["uids"] == "1,2"
    assert "access_token=***" in repr(get)


@pytest.mark.parametrize("bad", ["users", "users.", ".x", "users get", "", "users.get;x", 5])
def test_prepare_rejects_bad_method_names(bad):
    with pytest.raises(UsageError):
        prepare_call(bad, {}, app_key="K", endpoints=Endpoints(), secret="s")


@pytest.mark.parametrize("key", ["method", "application_key", "sig", "access_token", "format"])
def test_prepare_rejects_reserved_params(key):
    with pytest.raises(UsageError):
        prepare_call("users.get", {key: "x"}, app_key="K", endpoints=Endpoints(), secret="s")


def test_unsigned_call_has_no_sig():
    r = prepare_call("auth.login", {"user_name": "u"}, app_key="K", endpoints=Endpoints(), secret=None)
    assert "sig" not in dict(parse_qsl(r.body.decode()))


@pytest.mark.parametrize(("body", "value"), [
    ('{"uid":"1"}', {"uid": "1"}), ('["1","2"]', ["1", "2"]), ('"63784035699550"', "63784035699550"),
    ("42", 42), ("true", True), ("", None), ("  ", None), ("[]", []), ('{"result":true}', {"result": True}),
])
def test_parse_success_shapes(body, value):
    assert parse_call_response(ok(body), "m.x") == value


def test_parse_api_errors():
    body = '{"error_code":102,"error_data":null,"error_msg":"PARAM_SESSION_EXPIRED : Session expired"}'
    with pytest.raises(SessionExpiredError) as info:
        parse_call_response(ok(body, headers=(*JSON, ("invocation-error", "102"))), "users.get")
    err = info.value
    assert (err.code, err.symbol, err.method, err.needs_refresh) == (102, "PARAM_SESSION_EXPIRED", "users.get", True)
    assert "users.get" in str(err) and "Session expired" in str(err)
    assert parse_call_response(ok(body), "users.get", pass_error=True) == json.loads(body)
    perm = '{"error_data":"publish_to_stream","error_code":10,"error_msg":"PERMISSION_DENIED : x"}'
    with pytest.raises(PermissionDeniedError) as p:
        parse_call_response(ok(perm), "m.x")
    assert p.value.permission == "PUBLISH_TO_STREAM"
    with pytest.raises(FloodBlockedError) as f:
        parse_call_response(ok('{"error_code":8,"error_msg":"FLOOD_BLOCKED : Call blocked"}'), "m.x")
    assert f.value.retryable
    with pytest.raises(APIError) as unknown:
        parse_call_response(ok('{"error_code":77777,"error_msg":"NEW_THING : hm"}'), "m.x")
    assert unknown.value.symbol == "NEW_THING"


def test_signature_error_scrubs_secrets():
    msg = "PARAM_SIGNATURE : Invalid signature abc, calculated by string session_key=THE-TOKEN-1method=x****"
    with pytest.raises(SignatureError) as info:
        parse_call_response(ok(json.dumps({"error_code": 104, "error_msg": msg})), "m.x", secrets=["THE-TOKEN-1"])
    assert "THE-TOKEN-1" not in str(info.value) and "calculated by string" in str(info.value)


def test_invocation_error_header_without_error_body():
    with pytest.raises(APIError) as info:
        parse_call_response(ok("{}", headers=(*JSON, ("invocation-error", "2"))), "m.x")
    assert info.value.code == 2


@pytest.mark.parametrize(("response", "kind"), [
    (ok("<html><title>Bad Gateway</title></html>", 502, (("content-type", "text/html"),)), HTTPStatusError),
    (ok("<html><head><title>Oops</title></head></html>", 200, (("content-type", "text/html"),)), ProtocolError),
    (ok('{"uid": "1", "na'), ProtocolError),
    (ok(b'"\xff\xfe"'), ProtocolError),
    (ok("not json"), ProtocolError),
    (ok("", 404), HTTPStatusError),
])
def test_parse_broken_replies(response, kind):
    with pytest.raises(kind) as info:
        parse_call_response(response, "users.getInfo")
    assert "users.getInfo" in str(info.value)
    assert str(response.status) in str(info.value)


def test_5xx_is_retryable_4xx_is_not():
    for status, retryable in [(500, True), (502, True), (404, False)]:
        with pytest.raises(HTTPStatusError) as info:
            parse_call_response(ok("x", status), "m.x")
        assert info.value.retryable is retryable


@given(st.integers(100, 999), st.lists(st.tuples(st.sampled_from(["content-type", "invocation-error", "x"]),
                                                 st.text(max_size=30).filter(lambda v: not any(c in v for c in "\r\n\x00")))),
       st.binary(max_size=300), st.booleans())
def test_fuzz_parse_call_response_only_our_errors(status, headers, body, pass_error):
    try:
        parse_call_response(Response(status, tuple(headers), body), "m.x", pass_error=pass_error)
    except Error:
        pass


@given(st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
                    lambda i: st.one_of(st.lists(i, max_size=3), st.dictionaries(st.text(max_size=6), i, max_size=3)),
                    max_leaves=10))
def test_fuzz_json_error_objects(value):
    body = json.dumps({"error_code": value, "error_msg": value, "error_data": value}).encode()
    try:
        parse_call_response(Response(200, JSON, body), "m.x")
    except APIError as exc:
        assert isinstance(exc.code, int)


@given(st.lists(st.tuples(st.text(min_size=1), st.text())))
def test_form_encode_is_urlencode(pairs: list[tuple[str, str]]) -> None:
    # form_encode's fast paths (safe text as is, ASCII through a translate table) must give
    # exactly what the standard library gives.
    from urllib.parse import urlencode

    from okru_proto.adapter import form_encode

    pairs = [(k, v) for k, v in pairs
             if not any("\ud800" <= c <= "\udfff" for c in k + v)]  # lone surrogates: a UsageError
    assert form_encode(pairs) == urlencode(pairs)


def test_form_encode_every_ascii_character() -> None:
    from urllib.parse import quote_plus

    from okru_proto.adapter import form_encode

    for code in range(128):
        assert form_encode([("k", chr(code) + ",x")]) == "k=" + quote_plus(chr(code) + ",x", safe="")
