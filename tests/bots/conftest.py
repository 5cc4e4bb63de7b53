"""The bot contract suite's adapters: each test is written once, async, and runs on every
adapter's ``BotSession``: httpx blocking (in worker threads), httpx on asyncio, httpx on trio
(both in-process through ``FakeOKTransport``), and okru_trio (h11 over a loopback server)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest

from okru_proto import Endpoints
from okru_proto.testing import FakeOK


@dataclass
class BotAdapter:
    name: str
    backend: str
    blocking: bool
    make: Callable[[FakeOK, str | None, dict[str, Any]], Any]
    needs_server: bool = False
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def bot(self, fake: FakeOK, **options: Any) -> Any:
        url = None
        if self.needs_server:
            from okru_trio.testing import run_fake_server

            url = self.stack.enter_context(run_fake_server(fake))
        return self.make(fake, url, options)

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.blocking:
            return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))
        return await fn(*args, **kwargs)

    async def chats(self, bot: Any, **kwargs: Any) -> list[Any]:
        if self.blocking:
            return await anyio.to_thread.run_sync(lambda: list(bot.chats(**kwargs)))
        return [chat async for chat in bot.chats(**kwargs)]

    async def history(self, bot: Any, chat_id: str, **kwargs: Any) -> list[Any]:
        if self.blocking:
            return await anyio.to_thread.run_sync(lambda: list(bot.history(chat_id, **kwargs)))
        return [m async for m in bot.history(chat_id, **kwargs)]

    async def close(self, bot: Any) -> None:
        if self.blocking:
            await anyio.to_thread.run_sync(bot.__exit__, None, None, None)
        else:
            await bot.__aexit__(None, None, None)


ENDPOINTS = Endpoints(api="https://api.ok.ru", connect="https://connect.ok.ru")


def _httpx_sync(fake: FakeOK, url: str | None, options: dict[str, Any]) -> Any:
    from okru_httpx.sync import BotSession
    from okru_httpx.testing import FakeOKTransport

    options.setdefault("client", httpx.Client(transport=FakeOKTransport(fake)))
    return BotSession(fake.bots.access_token, endpoints=ENDPOINTS, **options)


def _httpx_async(fake: FakeOK, url: str | None, options: dict[str, Any]) -> Any:
    from okru_httpx import BotSession
    from okru_httpx.testing import FakeOKTransport

    options.setdefault("client", httpx.AsyncClient(transport=FakeOKTransport(fake)))
    return BotSession(fake.bots.access_token, endpoints=ENDPOINTS, **options)


def _okru_trio(fake: FakeOK, url: str | None, options: dict[str, Any]) -> Any:
    from okru_trio import BotSession

    assert url is not None
    return BotSession(fake.bots.access_token, endpoints=Endpoints(api=url, connect=url), **options)


ADAPTERS = {
    "httpx-sync": BotAdapter("httpx-sync", "asyncio", True, _httpx_sync),
    "httpx-asyncio": BotAdapter("httpx-asyncio", "asyncio", False, _httpx_async),
    "httpx-trio": BotAdapter("httpx-trio", "trio", False, _httpx_async),
    "okru_trio": BotAdapter("okru_trio", "trio", False, _okru_trio, needs_server=True),
}


@pytest.fixture(params=sorted(ADAPTERS))
def bot_adapter(request: pytest.FixtureRequest) -> Iterator[BotAdapter]:
    base = ADAPTERS[request.param]
    adapter = BotAdapter(base.name, base.backend, base.blocking, base.make, base.needs_server)
    with adapter.stack:
        yield adapter


@pytest.fixture
def anyio_backend(bot_adapter: BotAdapter) -> str:
    return bot_adapter.backend


@pytest.fixture
def fake() -> FakeOK:
    return FakeOK()
