"""okru_trio sessions: options, a user's own transport, and closing what they opened."""

from __future__ import annotations

import pytest
import trio

import okru_trio
from okru_proto import Endpoints, UsageError
from okru_proto.adapter import prepare_call
from okru_proto.testing import FakeOK
from okru_trio.testing import serve_fake


def test_unknown_option_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as caught:
        okru_trio.ServerSession("1", "K", "S", "T", client=object())
    assert "client" in str(caught.value) and "ssl_context" in str(caught.value)


def test_user_transport_is_used_and_left_open() -> None:
    fake = FakeOK()
    token = fake.issue_token()

    async def main() -> None:
        async with serve_fake(fake) as url:
            transport = okru_trio.H11Transport(read_timeout=5.0)
            endpoints = Endpoints(api=url, connect=url)
            args = (fake.app_id, fake.app_key, fake.app_secret_key, token["access_token"])
            async with okru_trio.ServerSession(*args, transport=transport, endpoints=endpoints) as session:
                assert (await okru_trio.API(session).users.getCurrentUser())["uid"] == fake.user_id
            # the session is closed, the user's transport is not: a second session reuses it
            async with okru_trio.ServerSession(*args, transport=transport, endpoints=endpoints) as again:
                assert await okru_trio.API(again).users.getLoggedInUser() == fake.user_id
            await transport.aclose()
            with pytest.raises(UsageError):  # closed by its owner, not by the sessions
                await transport.send(prepare_call("users.getLoggedInUser", {}, app_key=fake.app_key,
                                                  endpoints=endpoints, secret="x"))

    trio.run(main)


def test_own_transport_is_closed_on_exit() -> None:
    fake = FakeOK()
    token = fake.issue_token()

    async def main() -> None:
        async with serve_fake(fake) as url:
            endpoints = Endpoints(api=url, connect=url)
            session = okru_trio.ServerSession(fake.app_id, fake.app_key, fake.app_secret_key,
                                              token["access_token"], endpoints=endpoints)
            async with session:
                await okru_trio.API(session).users.getLoggedInUser()
            with pytest.raises(UsageError):  # the session's own transport is closed
                await okru_trio.API(session).users.getLoggedInUser()

    trio.run(main)
