"""Contract: broken replies, transport failures, expiry and refresh, retries, the user's client."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest

from okru_proto import (
    Error,
    HTTPStatusError,
    ProtocolError,
    RetryPolicy,
    SessionExpiredError,
    Token,
    TransportError,
    TransportTimeout,
)
from okru_proto.errors import FloodBlockedError
from tests.adapters import HTTPX_ADAPTERS, Env

pytestmark = pytest.mark.anyio

ME = "users.getCurrentUser"


def server_session(env: Env, **options: Any) -> Any:
    fake = env.fake
    issued = fake.issue_token()
    return env.session("ServerSession", fake.app_id, fake.app_key, fake.app_secret_key,
                       issued["access_token"], refresh_token=issued["refresh_token"], **options)


def no_jitter_retry(attempts: int = 3) -> RetryPolicy:
    # Delay before retry n = d/2 + random()*d/2 with d = min(cap, base * 2**n): 0.5, 1.0, 2.0...
    return RetryPolicy(attempts=attempts, base=1.0, cap=8.0, random=lambda: 0.0)


# -- malformed replies and transport failures --------------------------------------------------

@pytest.mark.parametrize(("fault", "error"), [
    ("html", ProtocolError),
    ("truncated", ProtocolError),
    ("http_502", HTTPStatusError),
    ("reset", TransportError),
])
async def test_broken_replies_raise_our_errors(env: Env, fault: str, error: type[Error]) -> None:
    if fault == "truncated" and env.over_socket:
        # In process the short body arrives whole (cut JSON: a protocol error); on a socket the
        # server closes before Content-Length is met, which the transport reports itself.
        error = TransportError
    session = server_session(env)
    env.fake.inject(fault, method=ME)
    async with env.adapter.entered(session):
        with pytest.raises(error) as caught:
            await env.adapter.call(session, ME)
        # The next call is fine: a failure leaves the session usable.
        assert (await env.adapter.call(session, ME))["uid"] == env.fake.user_id
    assert isinstance(caught.value, Error)
    if fault == "http_502":
        assert caught.value.status == 502  # type: ignore[attr-defined]
    if fault == "reset":
        assert caught.value.__cause__ is not None  # the transport's own exception
    assert session.access_token not in str(caught.value)


async def test_timeout_is_transport_timeout(env: Env) -> None:
    session = server_session(env, timeout=1.0)
    env.fake.inject("slow", method=ME, seconds=30.0)
    async with env.adapter.entered(session):
        with pytest.raises(TransportTimeout) as caught:
            await env.adapter.call(session, ME)
    assert caught.value.__cause__ is not None
    assert urlsplit(session.core.endpoints.api).netloc in str(caught.value)  # names the host...
    assert session.access_token not in str(caught.value)  # ...never the token


# -- expiry and transparent refresh ---------------------------------------------------------------

async def test_expiry_then_transparent_refresh(wired_env: Env) -> None:
    tokens: list[Token] = []
    session = server_session(wired_env, on_token=tokens.append)
    fake = wired_env.fake
    async with wired_env.adapter.entered(session):
        old = session.access_token
        refreshes = len(fake.calls("/oauth/token.do"))
        fake.advance(3600)  # the 30-minute token is now expired on the server
        me = await wired_env.adapter.call(session, ME)
        assert me["uid"] == fake.user_id
        assert session.access_token != old and session.access_token in fake.tokens
        assert len(fake.calls("/oauth/token.do")) == refreshes + 1
        assert [t.access_token.reveal() for t in tokens] == [session.access_token]


async def test_one_refresh_for_50_concurrent_calls(wired_env: Env) -> None:
    session = server_session(wired_env)
    fake = wired_env.fake
    results: list[Any] = []
    async with wired_env.adapter.entered(session):
        refreshes = len(fake.calls("/oauth/token.do"))
        fake.advance(3600)

        async def one() -> None:
            results.append(await wired_env.adapter.call(session, ME))

        async with anyio.create_task_group() as tg:
            for _ in range(50):
                tg.start_soon(one)
    assert len(results) == 50 and all(r["uid"] == fake.user_id for r in results)
    assert len(fake.calls("/oauth/token.do")) == refreshes + 1


async def test_auto_refresh_off_raises_expired(env: Env) -> None:
    session = server_session(env, auto_refresh=False)
    async with env.adapter.entered(session):
        env.fake.advance(3600)
        with pytest.raises(SessionExpiredError) as caught:
            await env.adapter.call(session, ME)
    assert caught.value.code == 102
    assert env.fake.calls("/oauth/token.do") == []


# -- retries (with a fake sleep) --------------------------------------------------------------------

async def test_retries_back_off_then_succeed(env: Env) -> None:
    slept: list[float] = []
    session = server_session(env, retry=no_jitter_retry())
    env.adapter.set_fake_sleep(session, slept)
    env.fake.inject("flood", method=ME, times=1)
    env.fake.inject("http_502", method=ME, times=1)
    async with env.adapter.entered(session):
        me = await env.adapter.call(session, ME)
    assert me["uid"] == env.fake.user_id
    assert slept == [0.5, 1.0]
    assert len(env.fake.calls(ME)) == 3


async def test_transport_failures_are_retried(env: Env) -> None:
    slept: list[float] = []
    session = server_session(env, retry=no_jitter_retry())
    env.adapter.set_fake_sleep(session, slept)
    env.fake.inject("reset", method=ME, times=1)
    async with env.adapter.entered(session):
        assert (await env.adapter.call(session, ME))["uid"] == env.fake.user_id
    assert slept == [0.5]


async def test_retries_are_bounded(env: Env) -> None:
    slept: list[float] = []
    session = server_session(env, retry=no_jitter_retry(attempts=2))
    env.adapter.set_fake_sleep(session, slept)
    env.fake.inject("flood", method=ME, times=None)
    async with env.adapter.entered(session):
        with pytest.raises(FloodBlockedError):
            await env.adapter.call(session, ME)
    assert slept == [0.5, 1.0]
    assert len(env.fake.calls(ME)) == 3


async def test_no_retry_by_default(env: Env) -> None:
    slept: list[float] = []
    session = server_session(env)
    env.adapter.set_fake_sleep(session, slept)
    env.fake.inject("flood", method=ME)
    async with env.adapter.entered(session):
        with pytest.raises(FloodBlockedError):
            await env.adapter.call(session, ME)
    assert slept == [] and len(env.fake.calls(ME)) == 1


# -- the user's own client --------------------------------------------------------------------------

@pytest.mark.parametrize("adapter_name", HTTPX_ADAPTERS)
async def test_user_client_is_honoured_and_left_open(env: Env) -> None:
    client, seen = env.adapter.recording_client(env.fake, {"x-trace": "t-1", "user-agent": "my-app/1.0"}, 7.0)
    session = server_session(env, client=client)
    async with env.adapter.entered(session):
        assert (await env.adapter.call(session, ME))["uid"] == env.fake.user_id
    headers, read_timeout = seen[-1]
    assert headers["x-trace"] == "t-1" and headers["user-agent"] == "my-app/1.0"
    assert read_timeout == 7.0
    assert not env.adapter.is_closed(client)
    # Still usable by a second session, whose per-request read_timeout= wins without touching it.
    again = server_session(env, client=client, read_timeout=2.5)
    async with env.adapter.entered(again):
        await env.adapter.call(again, ME)
    assert seen[-1][1] == 2.5
    assert not env.adapter.is_closed(client)
