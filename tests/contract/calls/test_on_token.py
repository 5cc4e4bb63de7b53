"""Contract: ``on_token`` runs on every adapter (issue 11 item 8).

Async adapters await an async callback (a coroutine function, or any callable returning an
awaitable) and call a plain one; the blocking adapter calls a plain one and refuses an async one
(at construction when it is a coroutine function, when it runs when it returns an awaitable,
closing that awaitable so nothing is left un-awaited). What the callback raises propagates
unchanged, with the new token already in use (docs/tokens.md).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Coroutine
from typing import Any

import anyio
import pytest

from okru_proto import Token, UsageError
from tests.adapters import ADAPTERS, ASYNC_ADAPTERS, Env

# Parametrizing ``adapter_name`` (the fixture every other one builds on) picks adapters.
BLOCKING_ADAPTERS = ["httpx-sync"]

pytestmark = pytest.mark.anyio

ME = "users.getCurrentUser"


def refresh_session(env: Env, **options: Any) -> Any:
    fake = env.fake
    issued = fake.issue_token()
    return env.session("RefreshSession", fake.app_id, fake.app_key, fake.app_secret_key,
                       issued["refresh_token"], **options)


def server_session(env: Env, **options: Any) -> Any:
    fake = env.fake
    issued = fake.issue_token()
    return env.session("ServerSession", fake.app_id, fake.app_key, fake.app_secret_key,
                       issued["access_token"], refresh_token=issued["refresh_token"], **options)


class AsyncSaver:
    """Every async shape of callback: ``async def``, a partial of one, an object whose
    ``__call__`` is ``async def``, and a plain function that returns a coroutine."""

    def __init__(self) -> None:
        self.saved: list[str] = []

    async def save(self, token: Token) -> None:
        await anyio.sleep(0)  # a real suspension: only an awaiting driver gets past it
        self.saved.append(token.access_token.reveal())

    async def __call__(self, token: Token) -> None:
        await self.save(token)

    def shapes(self) -> dict[str, Any]:
        async def with_tag(tag: str, token: Token) -> None:
            await self.save(token)

        return {
            "coroutine_function": self.save,
            "partial": functools.partial(with_tag, "x"),
            "async_call_object": self,
            "returns_awaitable": lambda token: self.save(token),
        }


SHAPES = ["coroutine_function", "partial", "async_call_object", "returns_awaitable"]


@pytest.mark.parametrize("adapter_name", ASYNC_ADAPTERS)
@pytest.mark.parametrize("shape", SHAPES)
async def test_async_on_token_is_awaited_on_async_adapters(env: Env, shape: str) -> None:
    assert not env.adapter.blocking
    saver = AsyncSaver()
    session = refresh_session(env, on_token=saver.shapes()[shape])
    async with env.adapter.entered(session):
        # the grant on enter
        assert saver.saved == [session.access_token]
        env.fake.advance(3600)
        await env.adapter.call(session, ME)  # 102 -> transparent refresh -> on_token again
        assert saver.saved[-1] == session.access_token and len(saver.saved) == 2


async def test_plain_on_token_is_called_on_every_adapter(env: Env) -> None:
    tokens: list[Token] = []
    session = server_session(env, on_token=tokens.append)
    async with env.adapter.entered(session):
        assert tokens == []  # a ready token is not "new"
        env.fake.advance(3600)
        await env.adapter.call(session, ME)
        await env.adapter.run(session.refresh)
    assert [t.access_token.reveal() for t in tokens][-1] == session.access_token and len(tokens) == 2


@pytest.mark.parametrize("adapter_name", BLOCKING_ADAPTERS)
@pytest.mark.parametrize("shape", ["coroutine_function", "partial", "async_call_object"])
async def test_blocking_adapter_refuses_an_async_on_token_when_made(env: Env, shape: str) -> None:
    assert env.adapter.blocking
    saver = AsyncSaver()
    with pytest.raises(UsageError, match="async"):
        refresh_session(env, on_token=saver.shapes()[shape])


@pytest.mark.parametrize("adapter_name", BLOCKING_ADAPTERS)
async def test_blocking_adapter_refuses_an_awaitable_result_and_closes_it(env: Env) -> None:
    assert env.adapter.blocking
    made: list[Coroutine[Any, Any, None]] = []
    saver = AsyncSaver()

    def sneaky(token: Token) -> Any:
        coroutine = saver.save(token)
        made.append(coroutine)
        return coroutine

    session = refresh_session(env, on_token=sneaky)  # not detectable before it runs
    with pytest.raises(UsageError, match="awaitable"):
        await env.adapter.enter(session)
    await env.adapter.close(session)
    assert len(made) == 1 and inspect.getcoroutinestate(made[0]) == inspect.CORO_CLOSED
    assert saver.saved == []


class SaveFailed(Exception):
    pass


@pytest.mark.parametrize(("adapter_name", "kind"), [
    *((name, "plain") for name in sorted(ADAPTERS)), *((name, "async") for name in ASYNC_ADAPTERS)])
async def test_an_on_token_error_propagates_unchanged_and_the_token_is_kept(env: Env, kind: str) -> None:
    calls: list[str] = []

    def plain(token: Token) -> None:
        calls.append(token.access_token.reveal())
        if len(calls) == 1:
            raise SaveFailed("disk full")

    async def asynchronous(token: Token) -> None:
        await anyio.sleep(0)
        plain(token)

    session = server_session(env, on_token=plain if kind == "plain" else asynchronous)
    fake = env.fake
    async with env.adapter.entered(session):
        old = session.access_token
        fake.advance(3600)
        with pytest.raises(SaveFailed):
            await env.adapter.call(session, ME)
        # The refreshed token is in use: the next call needs no second refresh.
        assert session.access_token != old and session.access_token == calls[0]
        refreshes = len(fake.calls("/oauth/token.do"))
        assert (await env.adapter.call(session, ME))["uid"] == fake.user_id
        assert len(fake.calls("/oauth/token.do")) == refreshes
