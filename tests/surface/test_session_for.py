"""session_for on every adapter: the session class for credentials already held, chosen by the
circuit rule once in the core (docs/protocol.md §2.2; the CLI's need). circuit_for_signing, the
pure half, is tested in tests/core/wire/test_circuit.py."""

from __future__ import annotations

import hashlib

import pytest

import okru_httpx.sync
import okru_trio
from okru_proto import UsageError
from okru_proto.adapter import SESSION_CLASSES, session_for


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
@pytest.mark.parametrize("module", [okru_httpx.sync, okru_trio], ids=lambda m: m.__name__)
def test_session_for_builds_the_circuits_session(module, creds, circuit) -> None:
    session = session_for(module, app_id="512", app_key="KEY", **creds)
    assert type(session) is getattr(module, SESSION_CLASSES[circuit])
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
