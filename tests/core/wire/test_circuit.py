"""The circuit rule, once in the core (docs/protocol.md §2.2): circuit_for, signing_secret, and
circuit_for_signing for the CLI's needs (a sig computed by hand)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from okru_proto import Secret, Token, UsageError
from okru_proto.adapter import (
    CIRCUITS,
    ServerSessionSpec,
    SessionCore,
    circuit_for,
    circuit_for_signing,
    signing_secret,
)


def test_each_circuit_from_its_credentials():
    assert circuit_for(access_token="t", session_secret_key="s", app_secret_key="A") == "client"
    assert circuit_for(access_token="t", app_secret_key="A") == "server"
    assert circuit_for(app_secret_key="A") == "app"
    assert circuit_for() == "public"
    assert circuit_for(app_secret_key="A", authorizing=True) == "unauthorized"
    # Secrets and plain strings alike; an empty one counts as absent.
    assert circuit_for(access_token=Secret("t"), session_secret_key=Secret("")) == "server"


def test_signing_secret_per_circuit():
    assert signing_secret("client", access_token="t", session_secret_key="s").reveal() == "s"
    expected = hashlib.md5(b"tokAppSecret").hexdigest()
    assert signing_secret("server", access_token="tok", app_secret_key="AppSecret").reveal() == expected
    assert signing_secret("app", app_secret_key="A").reveal() == "A"
    assert signing_secret("public") is None
    assert signing_secret("unauthorized", app_secret_key="A") is None


@pytest.mark.parametrize(("circuit", "creds", "needle"), [
    ("server", {"access_token": "t"}, "app_secret_key"),
    ("client", {"access_token": "t"}, "session_secret_key"),
    ("app", {}, "app_secret_key"),
    ("nonsense", {}, "unknown circuit"),
])
def test_signing_secret_says_what_is_missing(circuit, creds, needle):
    with pytest.raises(UsageError, match=needle):
        signing_secret(circuit, **creds)  # type: ignore[arg-type]


def test_circuits_lists_every_answer():
    assert set(CIRCUITS) == {"client", "server", "app", "public", "unauthorized"}


@given(st.booleans(), st.booleans(), st.booleans())
def test_session_core_uses_the_rule(has_token, has_session_secret, has_app_secret):
    # SessionCore's circuit and signing secret are exactly circuit_for/signing_secret's.
    token = Token(access_token=Secret("tok"), session_secret_key=Secret("sss") if has_session_secret else None) \
        if has_token else None
    app_secret = "AppSecret" if has_app_secret else None
    if has_token and not has_session_secret and not has_app_secret:
        with pytest.raises(UsageError, match="app_secret_key"):
            SessionCore(app_key="K", app_secret_key=app_secret, token=token, clock=lambda: 0.0)
        return
    core = SessionCore(app_key="K", app_secret_key=app_secret, token=token, clock=lambda: 0.0)
    expected = circuit_for(access_token=token.access_token if token else None,
                           session_secret_key=token.session_secret_key if token else None,
                           app_secret_key=app_secret)
    assert core.circuit == expected
    secret = signing_secret(expected, access_token="tok" if token else None,
                            session_secret_key="sss" if has_session_secret else None, app_secret_key=app_secret)
    assert core._secret == (None if secret is None else secret.reveal())


def test_server_session_spec_reports_server_circuit():
    class S(ServerSessionSpec):
        def _init_transport(self, **options):
            pass

        def _clock(self):
            return 0.0

    assert S(1, "K", "AppSecret", "tok").core.circuit == "server"


maybe = st.one_of(st.none(), st.just(""), st.text(alphabet="abcXYZ019", min_size=1, max_size=8))


def test_a_session_secret_alone_signs_client_server() -> None:
    # The client circuit's secret is the session secret key; the token is not part of it.
    assert circuit_for_signing(session_secret_key="s") == "client"
    assert signing_secret("client", session_secret_key="s").reveal() == "s"  # type: ignore[union-attr]
    assert circuit_for_signing(session_secret_key="s", app_secret_key="A", access_token="t") == "client"
    assert circuit_for_signing(access_token="t", app_secret_key="A") == "server"
    assert circuit_for_signing(app_secret_key="A") == "app"
    assert circuit_for_signing() == "public"


@given(maybe, maybe, maybe)
def test_circuit_for_signing_agrees_with_circuit_for_when_a_token_is_held(token, session_secret, app_secret):
    by_hand = circuit_for_signing(access_token=token, session_secret_key=session_secret, app_secret_key=app_secret)
    called = circuit_for(access_token=token, session_secret_key=session_secret, app_secret_key=app_secret)
    if token or not session_secret:
        assert by_hand == called
    else:
        assert (by_hand, called) == ("client", "app" if app_secret else "public")
