"""Calling REST as the launched user is one line on every adapter:
``ClientSession(app_id, **launch.session_options(...))``, against the emulator on loopback; and a
launch naming a host that is not OK's never gets its session sent there."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from okru_proto import Endpoints
from okru_proto.adapter import API
from okru_proto.apps import LaunchError, verify_launch
from okru_proto.testing import FakeOK
from okru_trio.testing import run_fake_server
from tests.adapters import Adapter

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def loopback() -> Iterator[tuple[FakeOK, str]]:
    fake = FakeOK(seed=5)
    with run_fake_server(fake) as url:
        yield fake, url


@pytest.mark.anyio
async def test_one_line_calls_rest_as_the_launched_user(adapter: Adapter, loopback: tuple[FakeOK, str]) -> None:
    fake, url = loopback
    launch = verify_launch(fake.payments.launch_url("https://game.example/"), app_secret_key=fake.app_secret_key,
                           application_key=fake.app_key)
    before = len(fake.requests)
    session = adapter.module.ClientSession(fake.app_id, **launch.session_options(
        endpoints=Endpoints(api=url, connect=url)))
    await adapter.enter(session)
    try:
        me = await adapter.run(API(session).users.getCurrentUser)
    finally:
        await adapter.close(session)
    assert me["uid"] == launch.logged_user_id == fake.user_id
    sent = fake.requests[before:]
    assert [r.method for r in sent] == ["users.getCurrentUser"]
    # The client-server circuit: the session key goes as the token, signed with the session secret.
    assert sent[0].params["access_token"] == launch.session_key
    assert session.core.circuit == "client"


def test_a_signed_launch_naming_another_host_sends_nothing_anywhere(loopback: tuple[FakeOK, str]) -> None:
    import okru_httpx.sync

    fake, url = loopback
    query = fake.payments.launch_url(url, api_server=url + "/")  # the emulator signs what it is told
    launch = verify_launch(query, app_secret_key=fake.app_secret_key)
    before = len(fake.requests)
    with pytest.raises(LaunchError, match="not one of OK's API hosts"):
        okru_httpx.sync.ClientSession(fake.app_id, **launch.session_options())
    assert len(fake.requests) == before
