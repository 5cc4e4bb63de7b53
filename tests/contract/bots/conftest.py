"""Helpers of the bot polling and actions contracts, on the one adapter matrix (the ``adapter``
fixture, tests/adapters.py): ``bots`` wraps it with what these tests need beyond it.

``wire="loopback"`` serves the emulator on a real loopback socket (``run_fake_server``), which
holds an empty long poll open as OK does; ``"inproc"`` is the adapter's in-process wiring, which
answers every request at once (okru_trio always goes over a socket).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest

from okru_proto.testing import FakeOK
from tests.adapters import Adapter

MEMBER = "user:571000000002"


@dataclass
class BotAdapter:
    adapter: Adapter
    urls: dict[int, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.adapter.name

    @property
    def backend(self) -> str:
        return self.adapter.backend

    @property
    def blocking(self) -> bool:
        return self.adapter.blocking

    def bot(self, fake: FakeOK, wire: str = "inproc", **options: Any) -> Any:
        if wire == "loopback":
            from okru_trio.testing import run_fake_server

            if id(fake) not in self.urls:
                self.urls[id(fake)] = self.adapter.resources.enter_context(run_fake_server(fake))
            wiring = self.adapter.wire(fake, self.urls[id(fake)])
        else:
            wiring = self.adapter.wire(fake)
        return self.adapter.session("BotSession", fake.bots.access_token, **{**wiring, **options})

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await self.adapter.run(fn, *args, **kwargs)

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


@pytest.fixture
def bots(adapter: Adapter) -> BotAdapter:
    return BotAdapter(adapter)


async def until(condition: Callable[[], bool], what: str = "the condition") -> None:
    """Wait (bounded) for ``condition``, which another thread or task makes true."""
    with anyio.fail_after(10):
        while not condition():
            await anyio.sleep(0.005)


def held(fake: FakeOK, polls: int = 1) -> Callable[[], bool]:
    """True once the loopback server holds ``polls`` long polls open."""
    return lambda: fake.bots.listeners >= polls
