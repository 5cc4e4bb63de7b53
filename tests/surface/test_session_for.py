"""circuit_for_signing and session_for: the circuit rule, once in the core, for the CLI's needs
(a sig computed by hand; the session class for credentials already held; docs/protocol.md §2.2)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

import okru_httpx.sync
import okru_trio
from okru_proto import UsageError
from okru_proto.adapter import (
    SESSION_CLASSES,
    circuit_for,
    circuit_for_signing,
    session_for,
    signing_secret,
)

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


def test_session_classes_cover_every_circuit_that_holds_credentials() -> None:
    assert set(SESSION_CLASSES) == {"client", "server", "app", "public"}
    for name in SESSION_CLASSES.values():
        assert name in okru_httpx.sync.__all__ and name in okru_trio.__all__


@pytest.mark.parametrize(("creds", "circuit"), [
    ({"access_token": "tok", "session_secret_key": "sss"}, "client"),
    ({"access_token": "tok", "app_secret_key": "AppSecret", "refresh_token": "rrr"}, "server"),
    ({"app_secret_key": "AppSecret"}, "app"),
    ({}, "public"),
])
@pytest.mark.parametrize("adapter", [okru_httpx.sync, okru_trio], ids=lambda m: m.__name__)
def test_session_for_builds_the_circuits_session(adapter, creds, circuit) -> None:
    session = session_for(adapter, app_id="512", app_key="KEY", **creds)
    assert type(session) is getattr(adapter, SESSION_CLASSES[circuit])
    assert session.core.circuit == circuit
    assert session.core.app_key == "KEY"
    if circuit == "server":
        assert session.core._secret == hashlib.md5(b"tokAppSecret").hexdigest()
        assert session.token.refresh_token.reveal() == "rrr"
    if circuit == "client":
        assert session.core._secret == "sss"
    assert "tok" not in repr(session) and "AppSecret" not in repr(session)


def test_session_for_passes_options() -> None:
    seen = []
    session = session_for(okru_httpx.sync, app_id="512", app_key="KEY", access_token="tok",
                          app_secret_key="A", http_method="GET", on_token=seen.append)
    assert session.core.http_method == "GET"
    assert session.core.on_token == seen.append


def test_session_for_refuses_a_token_alone() -> None:
    with pytest.raises(UsageError, match="app_secret_key"):
        session_for(okru_httpx.sync, app_id="512", app_key="KEY", access_token="tok")
