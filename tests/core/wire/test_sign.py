"""The OK.ru signature: every vector of docs/protocol.md §2.7, and its invariants under Hypothesis."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from okru_proto import Endpoints, Secret, UsageError, sign
from okru_proto.adapter import canonical_string, prepare_call, server_secret, wire_params, wire_value

# --- docs/protocol.md §2.7, exactly -------------------------------------------------------------

TV1_PARAMS = {"application_key": "ABCDEFGHIGKLMNOPK", "format": "json", "method": "events.get",
              "access_token": "-s-84W-s3egarWUsbkq-IWTucuedzTKT8VUXIA.s4Xx8IW7"}


def test_tv1_server_server():
    secret = server_secret(TV1_PARAMS["access_token"], "ABC123DEF456GHI789JKL123")
    assert secret.reveal() == "b1a2b89707a94624c43afae67d59274c"
    assert canonical_string(TV1_PARAMS) == "application_key=ABCDEFGHIGKLMNOPKformat=jsonmethod=events.get"
    assert sign(TV1_PARAMS, secret) == "232c8eb921951c4dba9b72606f9ddb4c"


def test_tv2_client_server():
    assert sign(TV1_PARAMS, "ae5362b5b588cc7294c2414d71b74d5d") == "03a41413523ea8092507949d6e711963"


def test_tv3_official_calculator():
    params = {"application_key": "1", "format": "json", "method": "friends.get", "access_token": "3"}
    secret = server_secret("3", "2")
    assert secret.reveal() == "6364d3f0f495b6ab9dcf8d3b5c6e0b01"
    assert sign(params, secret) == "d7348fe0d7d735aa2156fa5c596ab8cc"


def test_tv4_pyodnoklassniki_three_circuits():
    base = {"application_key": "app key", "method": "users.getCurrentUser"}
    assert sign(base, "app secret key") == "a6a34ee469a3aa62199c9d174966c7c8"
    with_session = dict(base, session_key="session key")
    assert canonical_string(with_session) == (
        "application_key=app keymethod=users.getCurrentUsersession_key=session key")
    assert sign(with_session, "session secret key") == "cb30c5ea3e44779299dbc90e81bd3d36"
    oauth = dict(base, access_token="access token")
    assert sign(oauth, server_secret("access token", "app secret key")) == "8a41a73bcef600b6a3464158b2059549"


def test_tv5_unordered_int_value():
    params = {"bbb": "opka", "aaa": 7, "access_token": "accesssss_tokkken"}
    assert canonical_string(params) == "aaa=7bbb=opka"
    assert sign(params, server_secret("accesssss_tokkken", "ClienTSECRET")) == "01a36a2aa93eb052cbabc18febbaa992"


def test_tv6_real_ruby_traffic():
    assert sign({"application_key": "application_key", "access_token": "token"},
                server_secret("token", "client_secret")) == "4784959f6620c78221bff139d6cf9309"
    body = ("access_token=token&application_key=application_key&client_id=client_id&"
            "client_secret=client_secret&grant_type=refresh_token&refresh_token=token")
    assert sign(dict(parse_qsl(body)), server_secret("token", "client_secret")) == "c40601c8f1fdd56139160d7140af3ed0"


TV7 = {"method": "friends.get", "fields": "uid,first_name,last_name,pic_2",
       "application_key": "AAAAAAAAAAAAAAAA", "format": "json"}
TV7_SECRET = server_secret("d3iwa.403gvrs194740652m1k4w2a503k3c", "CCCCCCCCCCCCCCCCCCCCCCCC")


def test_tv7_scribejava():
    assert TV7_SECRET.reveal() == "129ea5bb368dfb321dc90f63da01b742"
    # The URL carried fields=uid%2Cfirst_name...: the server signs the decoded commas.
    decoded = dict(parse_qsl(urlsplit(
        "https://api.ok.ru/fb.do?method=friends.get&fields=uid%2Cfirst_name%2Clast_name%2Cpic_2"
        "&application_key=AAAAAAAAAAAAAAAA&format=json").query))
    assert decoded == TV7
    assert sign(TV7, TV7_SECRET) == "96127f5ca29a8351399e94bbd284ab16"
    assert sign(dict(TV7, testsimpleparam="simplevalue"), TV7_SECRET) == "b5355cfc4683869e802747d8aa8acf3f"
    # A literal value is signed raw, never re-decoded.
    assert sign(dict(TV7, testsimpleparam="complex+value%20"), TV7_SECRET) == "229fd8a3fbc42cf545627e6ea719c57d"


def test_tv8_session_key_excluded_variant():
    assert sign({"application_key": "app key", "method": "users.getCurrentUser"},
                "session secret key") == "55318f1777f42beb5cc6d6e2e3079e2c"


def test_tv9_boolean_spelling():
    params = {"application_key": "K", "emptyPictures": True, "fields": ["uid", "name"],
              "method": "users.getInfo", "uids": [1, 2]}
    assert canonical_string(params) == "application_key=KemptyPictures=truefields=uid,namemethod=users.getInfouids=1,2"
    assert sign(params, "S") == "487c4d619c32f1b3427cab254d7abb27"
    assert sign(dict(params, emptyPictures="True"), "S") == "e3bcd23717cbdce2c307dddda0d05d3e"


def test_tv10_utf8_json_attachment():
    secret = server_secret("tkn-test.1", "APPSECRET0123")
    assert secret.reveal() == "8a8788eb1d2cf9d32cc30c7532b5207c"
    params = {"application_key": "CBAXXXXXXXXXXXXXX",
              "attachment": {"media": [{"type": "text", "text": "Привет, мир!"}]},
              "format": "json", "method": "mediatopic.post", "type": "USER"}
    assert wire_value(params["attachment"]) == '{"media":[{"type":"text","text":"Привет, мир!"}]}'
    assert sign(params, secret) == "af71dac5e24491c9fbd40613bff017e3"


def test_tv10_through_prepare_call_body():
    request = prepare_call(
        "mediatopic.post", {"attachment": {"media": [{"type": "text", "text": "Привет, мир!"}]}, "type": "USER"},
        app_key="CBAXXXXXXXXXXXXXX", endpoints=Endpoints(), secret=server_secret("tkn-test.1", "APPSECRET0123"),
        access_token="tkn-test.1",
    )
    form = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
    assert form["sig"] == "af71dac5e24491c9fbd40613bff017e3"
    assert form["access_token"] == "tkn-test.1"


def test_tv11_iframe_auth_sig():
    # auth_sig = md5(logged_user_id + session_key + application_secret_key): plain md5, no sorting.
    assert hashlib.md5(b"12345session-keya-secret-key").hexdigest() == "cf855bc0e344799edbb4abf1b07f3293"


# --- wire values ---------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "wire"), [
    ("x", "x"), ("", ""), (0, "0"), (-5, "-5"), (False, "false"), (True, "true"), (1.5, "1.5"),
    ([1, 2, 3], "1,2,3"), (("a", "b"), "a,b"), ({"b", "a"}, "a,b"), ([], ""), ([True, 0], "true,0"),
    ({"k": "Привет"}, '{"k":"Привет"}'), ([{"a": 1}], '[{"a":1}]'), ([[1, 2]], "[[1,2]]"),
    ({"t": True, "n": None}, '{"t":true,"n":null}'),
])
def test_wire_value(value, wire):
    assert wire_value(value) == wire


def test_none_is_omitted_but_falsy_values_are_sent():
    assert wire_params({"a": None, "b": 0, "c": False, "d": ""}) == {"b": "0", "c": "false", "d": ""}


@pytest.mark.parametrize("bad", [b"bytes", object(), float("nan"), float("inf"), [None], {1: object()}])
def test_unsendable_values_are_usage_errors(bad):
    with pytest.raises(UsageError):
        wire_value(bad, "p")


def test_bad_keys_are_usage_errors():
    with pytest.raises(UsageError):
        wire_params({"": "x"})
    with pytest.raises(UsageError):
        wire_params({1: "x"})  # type: ignore[dict-item]


def test_lone_surrogate_is_a_usage_error():
    with pytest.raises(UsageError):
        sign({"a": "\ud800"}, "s")
    with pytest.raises(UsageError):
        prepare_call("users.get", {"a": "\udfff"}, app_key="K", endpoints=Endpoints(), secret="s")


def test_excluded_keys():
    base = {"application_key": "K", "method": "users.getInfo"}
    expected = sign(base, "S")
    assert sign(dict(base, sig="whatever", access_token="t", resig="r"), "S") == expected
    assert sign(dict(base, session_key="t"), "S") != expected


def test_secret_is_never_shown():
    secret = server_secret("token", "app-secret")
    assert "***" in repr(secret) and secret.reveal() not in repr(secret)
    assert str(secret) == "***" and f"{secret}" == "***" and f"{secret:>10}" == "***"
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b")


# --- Hypothesis: a request built by the core, decoded by a server, verifies -----------------

keys = st.text(min_size=1, max_size=12).filter(lambda k: k not in {
    "sig", "access_token", "resig", "method", "application_key", "format"})
scalars = st.one_of(st.text(max_size=20), st.integers(-10**12, 10**12), st.booleans(),
                    st.floats(allow_nan=False, allow_infinity=False))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8,
)
values = st.one_of(
    scalars,
    st.lists(st.one_of(st.text(max_size=8), st.integers(-100, 100), st.booleans()), max_size=4),
    st.dictionaries(st.text(max_size=6), json_values, max_size=3),
    st.lists(st.dictionaries(st.text(max_size=4), json_values, max_size=2), min_size=1, max_size=2),
)


def _encodable(params):
    try:
        for k, v in wire_params(params).items():
            (k + v).encode("utf-8")
    except (UnicodeEncodeError, UsageError):
        return False
    return True


@given(st.dictionaries(keys, values, max_size=6).filter(_encodable), st.text(min_size=1, max_size=16).filter(
    lambda s: s == s.encode("utf-8", "ignore").decode()), st.sampled_from(["POST", "GET"]))
@example({"\ue000": "", "\U00010000": ""}, "0", "POST")  # Java order differs from code-point order
def test_server_view_verifies(params, secret, http_method):
    request = prepare_call("group.method", params, app_key="APPKEY", endpoints=Endpoints(),
                           secret=secret, access_token="tok", http_method=http_method)
    if http_method == "POST":
        received = parse_qsl(request.body.decode("ascii"), keep_blank_values=True)
        assert request.header("content-type") == "application/x-www-form-urlencoded"
    else:
        received = parse_qsl(urlsplit(request.url).query, keep_blank_values=True)
        assert request.body == b""
    server = dict(received)
    assert len(server) == len(received), "a parameter was sent twice"
    sig = server.pop("sig")
    assert server.pop("access_token") == "tok"
    # The server re-signs exactly what it decoded, with the same secret, sorting names as Java's
    # String.compareTo does: by UTF-16 code unit (docs/protocol.md §2.1).
    text = "".join(f"{k}={server[k]}" for k in sorted(server, key=lambda k: k.encode("utf-16-be", "surrogatepass")))
    assert hashlib.md5((text + secret).encode()).hexdigest() == sig
    assert sign(server, secret) == sig
    assert server["method"] == "group.method" and server["format"] == "json"
    assert server == {**wire_params(params), "application_key": "APPKEY", "format": "json", "method": "group.method"}


@given(st.dictionaries(keys, scalars, max_size=8).filter(_encodable), st.randoms())
def test_order_does_not_matter(params, rnd):
    items = list(params.items())
    rnd.shuffle(items)
    assert sign(dict(items), "S") == sign(params, "S")


@given(st.dictionaries(keys, scalars, max_size=5).filter(_encodable),
       st.text(max_size=10), st.text(max_size=10), st.text(max_size=10))
def test_excluded_keys_never_change_the_signature(params, a, b, c):
    assume_ok = _encodable({"x": a + b + c})
    if not assume_ok:
        return
    assert sign(dict(params, sig=a, access_token=b, resig=c), "S") == sign(params, "S")


@given(json_values)
def test_json_values_round_trip(value):
    if isinstance(value, (dict, list)) and value and (isinstance(value, dict) or any(
            isinstance(i, (dict, list)) for i in value)):
        assert json.loads(wire_value(value)) == value


# --- Java's key order (UTF-16 code units), issue 11 item 9 ---------------------------------

def _java_compare_order(names: list[str]) -> list[str]:
    """Java's ``String.compareTo`` written out: compare UTF-16 code units one by one (no
    encode-to-bytes shortcut, so the test does not repeat the implementation)."""
    import functools

    def units(text: str) -> list[int]:
        out: list[int] = []
        for ch in text:
            cp = ord(ch)
            if cp > 0xFFFF:
                cp -= 0x10000
                out += [0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF)]
            else:
                out.append(cp)
        return out

    def compare(a: str, b: str) -> int:
        ua, ub = units(a), units(b)
        for x, y in zip(ua, ub):
            if x != y:
                return x - y
        return len(ua) - len(ub)

    return sorted(names, key=functools.cmp_to_key(compare))


def test_key_order_is_javas_utf16_not_code_points():
    # U+1F600 is the pair D83D DE00; U+E000 is one unit E000. Java: D83D < E000, so the emoji
    # name comes FIRST; code point order (0x1F600 > 0xE000) would put it last.
    params = {"\U0001F600": "a", "\uE000": "b"}
    assert canonical_string(params) == "\U0001F600=a\uE000=b"
    assert sorted(params) == ["\uE000", "\U0001F600"]  # what the old code signed
    expected = hashlib.md5(("\U0001F600=a\uE000=b" + "s3cret").encode("utf-8")).hexdigest()
    assert sign(params, "s3cret") == expected
    # prepare_call signs through the same function (sign_pairs): the same vector.
    request = prepare_call("a.b", params, app_key=None, endpoints=Endpoints(), secret="s3cret")
    sent = dict(parse_qsl(request.body.decode()))
    order = _java_compare_order(["\U0001F600", "\uE000", "format", "method"])
    text = "".join(f"{k}={ {'format': 'json', 'method': 'a.b'}.get(k) or params[k] }" for k in order)
    assert order == ["format", "method", "\U0001F600", "\uE000"]
    assert sent["sig"] == hashlib.md5((text + "s3cret").encode("utf-8")).hexdigest()


_NAMES = st.text(alphabet=st.sampled_from(["a", "z", "\uE000", "\uFFFD", "\uFF21", "\U0001F600",
                                           "\U00010000", "\U0010FFFF", "\u00e9", "_"]),
                 min_size=1, max_size=4)


@given(st.lists(_NAMES, min_size=1, max_size=8, unique=True))
def test_key_order_property_equals_utf16_code_unit_sort(names):
    params = {name: str(i) for i, name in enumerate(names)}
    order = _java_compare_order(names)
    assert canonical_string(params) == "".join(f"{k}={params[k]}" for k in order)
    request = prepare_call("a.b", params, app_key=None, endpoints=Endpoints(), secret="k")
    full = {**params, "format": "json", "method": "a.b"}
    text = "".join(f"{k}={full[k]}" for k in _java_compare_order(list(full)))
    assert dict(parse_qsl(request.body.decode()))["sig"] == hashlib.md5((text + "k").encode()).hexdigest()


@given(st.lists(st.text(alphabet=st.characters(max_codepoint=0x7F, exclude_categories=("Cs",)),
                        min_size=1, max_size=6), min_size=1, max_size=8, unique=True))
def test_ascii_names_keep_plain_sort(names):
    params = {name: "v" for name in names}
    assert canonical_string(params) == "".join(f"{k}=v" for k in sorted(names)
                                               if k not in ("sig", "access_token", "resig"))


@given(st.dictionaries(keys, values, max_size=6).filter(_encodable), st.text(min_size=1, max_size=16).filter(
    lambda s: s == s.encode("utf-8", "ignore").decode()))
def test_one_signer_for_sign_and_prepare_call(params, secret):
    # Signing lives once (issue 12): sign(), sign_pairs() and prepare_call's sig agree on every input.
    from okru_proto._wire.sign import java_key_order, sign_pairs

    assert sign_pairs(java_key_order(wire_params(params)), secret) == sign(params, secret)
    request = prepare_call("group.method", params, app_key="APPKEY", endpoints=Endpoints(), secret=secret)
    sent = dict(parse_qsl(request.body.decode("ascii"), keep_blank_values=True))
    sig = sent.pop("sig")
    assert sig == sign(sent, secret)
