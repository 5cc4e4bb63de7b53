"""okru_proto.apps.verify_launch and Launch: the constructed vector (docs/protocol.md §13.5),
every way of tampering refused, any order accepted, secrets out of reprs and errors, and the
api_server allow-list of Launch.session_options."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from okru_proto import Endpoints, Error, ProtocolError, Secret, UsageError
from okru_proto.apps import OK_API_HOSTS, Launch, LaunchError, verify_launch
from okru_proto.apps import _launch as launch_module
from okru_proto.apps import _signed as signed_module
from okru_proto.errors import LaunchError as LaunchErrorFromErrors

SECRET = "EXAMPLESECRET0123456789A"
APP_KEY = "CBAEXAMPLEABABABA"
SESSION_KEY = "-s-EXAMPLEsessionKey.abc"
SESSION_SECRET = "0123456789abcdef0123456789abcdef"
#: The constructed launch of docs/protocol.md §13.5 (computed with the fake secret above).
QUERY = ("api_server=https%3A%2F%2Fapi.ok.ru%2F&apiconnection=512000000000_1718000000000"
         "&application_key=CBAEXAMPLEABABABA&authorized=1&logged_user_id=571234567890"
         "&session_key=-s-EXAMPLEsessionKey.abc&session_secret_key=0123456789abcdef0123456789abcdef"
         "&auth_sig=94c49cf84ec5605807da7aae6ba0afd6&refplace=direct&web_server=https%3A%2F%2Fok.ru"
         "&first_start=0&container=true&sig=efb1b703e4c2099470cf643478e24c78")
DECODED = {
    "api_server": "https://api.ok.ru/", "apiconnection": "512000000000_1718000000000",
    "application_key": APP_KEY, "authorized": "1", "logged_user_id": "571234567890",
    "session_key": SESSION_KEY, "session_secret_key": SESSION_SECRET,
    "auth_sig": "94c49cf84ec5605807da7aae6ba0afd6", "refplace": "direct", "web_server": "https://ok.ru",
    "first_start": "0", "container": "true", "sig": "efb1b703e4c2099470cf643478e24c78",
}


def sign(params: dict[str, str], secret: str = SECRET) -> dict[str, str]:
    """A launch signed by hand, as OK's page describes it (independent of okru's code)."""
    # Names in UTF-16 code-unit order, as OK's Java servers sort them (docs/protocol.md §2.4).
    body = "".join(f"{k}={params[k]}" for k in sorted(params, key=lambda k: k.encode("utf-16-be")) if k != "sig")
    return {**params, "sig": hashlib.md5((body + secret).encode()).hexdigest()}


def test_the_constructed_vector_verifies_in_every_input_shape() -> None:
    assert hashlib.md5(f"571234567890{SESSION_KEY}{SECRET}".encode()).hexdigest() == DECODED["auth_sig"]
    for given_params in (QUERY, "?" + QUERY, "https://game.example/app/?" + QUERY + "#top", "/app?" + QUERY,
                         DECODED, dict(reversed(DECODED.items()))):
        launch = verify_launch(given_params, app_secret_key=SECRET, application_key=APP_KEY)
        assert launch.logged_user_id == "571234567890"
        assert launch.session_key == SESSION_KEY and launch.session_secret_key == SESSION_SECRET
        assert launch.application_key == APP_KEY and launch.api_server == "https://api.ok.ru/"
        assert launch.authorized is True and launch.first_start is False and launch.container is True
        assert launch.mob is False and launch.mob_platform is None
        assert (launch.refplace, launch.referer, launch.custom_args) == ("direct", None, None)
        assert launch.web_server == "https://ok.ru"
        assert dict(launch.raw) == DECODED
    assert verify_launch(QUERY, app_secret_key=Secret(SECRET)).logged_user_id == "571234567890"


def test_optional_fields_and_flags() -> None:
    params = sign({**DECODED, "authorized": "0", "first_start": "1", "mob": "true", "mob_platform": "android",
                   "referer": "571000000009", "custom_args": "invite=42&x=привет"})
    del params["container"]
    params = sign(params)
    launch = verify_launch(urlencode(params), app_secret_key=SECRET)
    assert (launch.authorized, launch.first_start, launch.container, launch.mob) == (False, True, False, True)
    assert (launch.mob_platform, launch.referer, launch.custom_args) == ("android", "571000000009", "invite=42&x=привет")


def test_a_launch_without_api_server_uses_the_default_endpoints() -> None:
    params = sign({k: v for k, v in DECODED.items() if k != "api_server"})
    launch = verify_launch(params, app_secret_key=SECRET)
    assert launch.api_server is None
    assert launch.session_options()["endpoints"] == Endpoints()


def test_errors_are_launch_errors_under_okrus_tree() -> None:
    assert LaunchError is LaunchErrorFromErrors
    assert issubclass(LaunchError, ProtocolError) and issubclass(LaunchError, Error)


@pytest.mark.parametrize("name", ["sig", "auth_sig", "logged_user_id", "session_key", "session_secret_key",
                                  "application_key"])
def test_each_required_parameter_missing_or_empty_is_named(name: str) -> None:
    for params in ({k: v for k, v in DECODED.items() if k != name}, {**DECODED, name: ""}):
        with pytest.raises(LaunchError, match=f"{name}.* missing or empty"):
            verify_launch(params, app_secret_key=SECRET)


def test_wrong_secret_wrong_app_key_and_wrong_auth_sig() -> None:
    with pytest.raises(LaunchError, match="sig does not match"):
        verify_launch(QUERY, app_secret_key="another-secret")
    with pytest.raises(LaunchError, match="application_key is another app's"):
        verify_launch(QUERY, app_secret_key=SECRET, application_key="CBAOTHERAPP")
    with pytest.raises(LaunchError, match="application_key is another app's"):
        verify_launch(QUERY, app_secret_key=SECRET, application_key=APP_KEY.lower())  # exact, not case-folded
    # A sig recomputed over a changed auth_sig still fails: auth_sig is checked on its own.
    with pytest.raises(LaunchError, match="auth_sig does not match"):
        verify_launch(sign({**DECODED, "auth_sig": "0" * 32}), app_secret_key=SECRET)


def test_the_hex_case_of_a_signature_does_not_matter() -> None:
    upper = sign({**DECODED, "auth_sig": DECODED["auth_sig"].upper()})  # auth_sig is itself signed
    upper["sig"] = upper["sig"].upper()
    assert verify_launch(upper, app_secret_key=SECRET).logged_user_id == "571234567890"


@pytest.mark.parametrize(("query", "message"), [
    (QUERY + "&refplace=banner", "appears twice"),
    (QUERY + "&=x", "empty name"),
    (QUERY + "&custom_args=%FF%FE", "not UTF-8"),
    ("&".join(f"p{i}=1" for i in range(101)), "more than 100 parameters"),
    ("a=" + "x" * 20_000, "longer than"),
])
def test_malformed_queries_are_refused(query: str, message: str) -> None:
    with pytest.raises(LaunchError, match=message):
        verify_launch(query, app_secret_key=SECRET)


def test_bad_arguments_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="app_secret_key"):
        verify_launch(QUERY, app_secret_key="")
    with pytest.raises(LaunchError, match="mapping or a query string"):
        verify_launch(42, app_secret_key=SECRET)  # type: ignore[arg-type]
    with pytest.raises(LaunchError, match="names must be str"):
        verify_launch({**DECODED, 1: "x"}, app_secret_key=SECRET)  # type: ignore[dict-item]
    with pytest.raises(LaunchError, match="must be text"):
        verify_launch(sign({**DECODED, "logged_user_id": 571234567890}), app_secret_key=SECRET)  # type: ignore[dict-item]
    # A value that is not a str (the type says str) is signed as its text, as the wire would carry it.
    assert verify_launch({**DECODED, "authorized": 1}, app_secret_key=SECRET).authorized is True  # type: ignore[dict-item]


def test_signatures_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import hmac

    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a.encode() if isinstance(a, str) else a, b.encode() if isinstance(b, str) else b))
        return real(a, b)

    monkeypatch.setattr(signed_module.hmac, "compare_digest", spy)
    monkeypatch.setattr(launch_module, "compare_digest", spy)
    verify_launch(QUERY, app_secret_key=SECRET, application_key=APP_KEY)
    compared = {b for _, b in calls}
    assert {DECODED["sig"].encode(), DECODED["auth_sig"].encode(), APP_KEY.encode()} <= compared


def test_no_secret_in_reprs_or_errors() -> None:
    launch = verify_launch(QUERY, app_secret_key=SECRET)
    for text in (repr(launch), str(launch), repr(launch.raw)):
        assert SESSION_SECRET not in text and SESSION_KEY not in text and SECRET not in text
    assert "session_secret_key': ***" in repr(launch.raw)
    for bad in ({**DECODED, "session_key": SESSION_KEY + "x"}, {**DECODED, "sig": "1" * 32},
                {k: v for k, v in DECODED.items() if k != "auth_sig"}):
        with pytest.raises(LaunchError) as caught:
            verify_launch(bad, app_secret_key=SECRET, application_key=APP_KEY)
        text = f"{caught.value!s} {caught.value!r}"
        assert SECRET not in text and SESSION_SECRET not in text and SESSION_KEY not in text


# -- properties ------------------------------------------------------------------------------------

names = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=8).filter(
    lambda n: n not in DECODED)
values = st.text(st.characters(codec="utf-8"), max_size=12)


@given(extra=st.dictionaries(names, values, max_size=4), order=st.randoms(use_true_random=False))
def test_any_order_of_any_parameters_verifies(extra: dict[str, str], order: Any) -> None:
    params = sign({**{k: v for k, v in DECODED.items() if k != "sig"}, **extra})
    items = list(params.items())
    order.shuffle(items)
    assert dict(verify_launch(dict(items), app_secret_key=SECRET).raw) == params
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in items)
    assert dict(verify_launch(query, app_secret_key=SECRET).raw) == params


@st.composite
def tampered(draw: st.DrawFn) -> dict[str, str]:
    params = dict(DECODED)
    action = draw(st.sampled_from(["change", "drop", "add"]))
    name = draw(st.sampled_from(sorted(k for k in params if k != "sig")))
    if action == "change":
        params[name] = draw(values.filter(lambda v: v != DECODED[name]))
    elif action == "drop":
        del params[name]
    else:
        params[draw(names)] = draw(values)
    return params


@given(params=tampered())
def test_any_parameter_changed_after_signing_is_refused(params: dict[str, str]) -> None:
    with pytest.raises(LaunchError):
        verify_launch(params, app_secret_key=SECRET)


# -- calling REST as the launched user --------------------------------------------------------------

def _launch_with(api_server: str) -> Launch:
    return verify_launch(sign({**DECODED, "api_server": api_server}), app_secret_key=SECRET)


def test_session_options_hold_the_launch_session() -> None:
    options = verify_launch(QUERY, app_secret_key=SECRET).session_options()
    assert options == {"app_key": APP_KEY, "access_token": SESSION_KEY, "session_secret_key": SESSION_SECRET,
                       "endpoints": Endpoints()}
    assert OK_API_HOSTS == ("api.ok.ru", "api.odnoklassniki.ru")
    assert _launch_with("https://api.ok.ru").session_options()["endpoints"] == Endpoints()
    assert _launch_with("https://api.odnoklassniki.ru/").session_options()["endpoints"] == Endpoints(
        api="https://api.odnoklassniki.ru")
    assert _launch_with("https://API.OK.RU:443/").session_options()["endpoints"] == Endpoints()


@pytest.mark.parametrize("api_server", [
    "https://attacker.example/", "http://api.ok.ru/", "https://api.ok.ru:8443/", "https://user@api.ok.ru/",
    "https://api.ok.ru.attacker.example/", "https://xapi.ok.ru/", "https://api.ok.ru/fb.do",
    "https://api.ok.ru/?x=1", "https://[::1]/", "ftp://api.ok.ru/", "https://api.ok.ru:abc/",
])
def test_session_options_never_send_the_session_to_a_host_that_is_not_oks(api_server: str) -> None:
    launch = _launch_with(api_server)  # signed: a test server, or OK itself gone wrong
    with pytest.raises(LaunchError, match="not one of OK's API hosts") as caught:
        launch.session_options()
    assert SESSION_KEY not in str(caught.value) and SESSION_SECRET not in str(caught.value)
    # A test server is named explicitly instead:
    own = Endpoints(api="http://127.0.0.1:9")
    assert launch.session_options(endpoints=own)["endpoints"] is own
    with pytest.raises(UsageError):
        launch.session_options(endpoints="http://127.0.0.1:9")  # type: ignore[arg-type]
