"""The bot contract's adapters: every test is written once, async, and runs on every adapter's
``BotSession`` (httpx blocking in worker threads, httpx on asyncio, httpx on trio, okru_trio).

``wire="loopback"`` serves the emulator on a real loopback socket (``run_fake_server``), which
holds an empty long poll open as OK does; ``"inproc"`` gives httpx the in-process transport,
which answers every request at once (okru_trio always goes over a socket).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import httpx
import pytest

from okru_proto import Endpoints
from okru_proto.testing import FakeOK

MEMBER = "user:571000000002"


@dataclass
class BotAdapter:
    name: str
    backend: str
    blocking: bool
    module: str
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    urls: dict[int, str] = field(default_factory=dict)

    def url(self, fake: FakeOK) -> str:
        from okru_trio.testing import run_fake_server

        if id(fake) not in self.urls:
            self.urls[id(fake)] = self.stack.enter_context(run_fake_server(fake))
        return self.urls[id(fake)]

    def bot(self, fake: FakeOK, wire: str = "inproc", **options: Any) -> Any:
        import importlib

        module = importlib.import_module(self.module)
        if wire == "inproc" and self.module != "okru_trio":
            from okru_httpx.testing import FakeOKTransport

            # In-process clients hold no sockets: nothing to close.
            client = (httpx.Client if self.blocking else httpx.AsyncClient)(transport=FakeOKTransport(fake))
            options.setdefault("client", client)
            endpoints = Endpoints(api="https://api.ok.ru", connect="https://connect.ok.ru")
        else:
            url = self.url(fake)
            endpoints = Endpoints(api=url, connect=url)
        return module.BotSession(fake.bots.access_token, endpoints=endpoints, **options)

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.blocking:
            return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))
        return await fn(*args, **kwargs)

    async def take(self, iterator: Any, count: int) -> list[Any]:
        """The next ``count`` items of a (sync or async) iterator, which stays open."""
        if self.blocking:
            def pull() -> list[Any]:
                return [next(iterator) for _ in range(count)]
            return await anyio.to_thread.run_sync(pull)
        return [await iterator.__anext__() for _ in range(count)]

    async def close_iterator(self, iterator: Any) -> None:
        if self.blocking:
            await anyio.to_thread.run_sync(iterator.close)
        else:
            await iterator.aclose()

    async def close(self, bot: Any) -> None:
        if self.blocking:
            await anyio.to_thread.run_sync(bot.close)
        else:
            await bot.aclose()

    def record_sleeps(self, bot: Any, slept: list[float]) -> None:
        """Replace the session's backoff sleep with one that records and returns at once."""
        if self.blocking:
            bot._sleep = slept.append
        else:
            async def sleep(seconds: float) -> None:
                slept.append(seconds)
                await anyio.lowlevel.checkpoint()  # a sleep lets other tasks run, even a zero one
            bot._sleep = sleep


ADAPTERS = {
    "httpx-sync": ("asyncio", True, "okru_httpx.sync"),
    "httpx-asyncio": ("asyncio", False, "okru_httpx"),
    "httpx-trio": ("trio", False, "okru_httpx"),
    "okru_trio": ("trio", False, "okru_trio"),
}


@pytest.fixture(params=sorted(ADAPTERS))
def bots(request: pytest.FixtureRequest) -> Iterator[BotAdapter]:
    backend, blocking, module = ADAPTERS[request.param]
    adapter = BotAdapter(request.param, backend, blocking, module)
    with adapter.stack:
        yield adapter


@pytest.fixture
def anyio_backend(bots: BotAdapter) -> str:
    return bots.backend


@pytest.fixture
def fake() -> FakeOK:
    return FakeOK()


async def until(condition: Callable[[], bool], what: str = "the condition") -> None:
    """Wait (bounded) for ``condition``, which another thread or task makes true."""
    with anyio.fail_after(10):
        while not condition():
            await anyio.sleep(0.005)


def held(fake: FakeOK, polls: int = 1) -> Callable[[], bool]:
    """True once the loopback server holds ``polls`` long polls open."""
    return lambda: fake.bots.listeners >= polls
