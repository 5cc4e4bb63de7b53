"""The pytest plugin okru_pytest: active through its entry point, and its fixtures work.

The fixtures below are not imported anywhere in this suite: pytest finds them through the
``pytest11`` entry point of the installed distribution, as it will for a user's project.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

import okru_httpx
import okru_trio
from okru_httpx import sync
from okru_httpx.testing import FakeOKTransport
from okru_proto import UsageError
from okru_proto.adapter import API
from okru_proto.testing import FakeOK
from okru_pytest import IN_PROCESS_ENDPOINTS, OKTestApp, OKTestServer


def test_values_are_the_emulators(fake_ok: FakeOK, ok_app: OKTestApp, ok_token: dict[str, str]) -> None:
    assert (ok_app.app_id, ok_app.app_key, ok_app.app_secret_key) == (fake_ok.app_id, fake_ok.app_key,
                                                                       fake_ok.app_secret_key)
    assert (ok_app.user_login, ok_app.user_password, ok_app.user_id) == (fake_ok.user_login,
                                                                         fake_ok.user_password, fake_ok.user_id)
    assert ok_token["access_token"] in fake_ok.tokens
    # Never the real OK.ru: .invalid does not resolve.
    assert ok_app.endpoints.api.endswith(".invalid") and ok_app.endpoints.connect.endswith(".invalid")


def test_each_test_gets_a_fresh_emulator(fake_ok: FakeOK, ok_token: dict[str, str]) -> None:
    # A token issued by another test's emulator would be here too if fake_ok were shared.
    assert len(fake_ok.tokens) == 1 and not fake_ok.requests


def test_ok_session_calls_the_emulator(ok_session: Any, fake_ok: FakeOK) -> None:
    me = API(ok_session).users.getCurrentUser()
    assert me["uid"] == fake_ok.user_id
    assert [r.method for r in fake_ok.requests] == ["users.getCurrentUser"]
    assert fake_ok.requests[0].request.url.startswith(IN_PROCESS_ENDPOINTS.api)


def test_ok_client_and_transport(ok_client: httpx.Client, ok_transport: FakeOKTransport, fake_ok: FakeOK) -> None:
    assert ok_transport.fake is fake_ok
    reply = ok_client.get("https://api.ok.invalid/fb.do", params={"method": "users.getCurrentUser"})
    assert reply.status_code == 200 and "error_code" in reply.json()  # unsigned: OK's error, answered


def test_factory_sync_and_async(ok_session_factory: Callable[..., Any], ok_app: OKTestApp,
                                ok_token: dict[str, str], fake_ok: FakeOK) -> None:
    args = (ok_app.app_id, ok_app.app_key, ok_app.app_secret_key, ok_token["access_token"])
    with ok_session_factory(sync.ServerSession, *args) as session:
        assert sync.API(session).users.getLoggedInUser() == fake_ok.user_id

    async def main() -> Any:
        async with ok_session_factory(okru_httpx.ServerSession, *args) as session:
            return await okru_httpx.API(session).friends.get()

    assert asyncio.run(main()) == ["571000000002", "571000000003", "571000000004"]
    with pytest.raises(UsageError, match="fake_ok_server"):
        ok_session_factory(okru_trio.ServerSession, *args)


def test_fake_ok_server_serves_trio(fake_ok_server: OKTestServer, ok_app: OKTestApp) -> None:
    assert fake_ok_server.url.startswith("http://127.0.0.1:")
    assert fake_ok_server.endpoints.api == fake_ok_server.url

    async def main() -> Any:
        async with okru_trio.PasswordSession(ok_app.app_id, ok_app.app_key, None, ok_app.user_login,
                                             ok_app.user_password, endpoints=fake_ok_server.endpoints) as session:
            return await okru_trio.API(session).users.getLoggedInUser()

    assert trio.run(main) == ok_app.user_id
    assert fake_ok_server.fake.calls("users.getLoggedInUser")


USER_TEST = textwrap.dedent("""
    from okru_httpx.sync import API


    def test_me(ok_session, fake_ok):
        assert API(ok_session).users.getCurrentUser()["uid"] == fake_ok.user_id
""")


@pytest.mark.parametrize(("disable", "expected"), [((), "1 passed"), (("-p", "no:okru"), "fixture 'ok_session' not found")])
def test_a_users_project_needs_no_conftest(tmp_path: Path, disable: tuple[str, ...], expected: str) -> None:
    (tmp_path / "test_user.py").write_text(USER_TEST, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *disable,
                           "--rootdir", str(tmp_path), str(tmp_path / "test_user.py")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert expected in done.stdout, done.stdout + done.stderr
