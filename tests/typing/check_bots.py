# Checked by mypy (nox -s typing, and tests/typing/test_typing.py), never run: each type-ignore
# comment with an error code marks an error mypy MUST report on that line (warn_unused_ignores
# turns a vanished error into a failure), and every other line must type-check.
from __future__ import annotations

from typing import Any

import okru_httpx
import okru_httpx.sync
from okru_proto.bots import Router, State, SyncState


async def polling(bot: okru_httpx.BotSession, router: Router) -> None:
    async for event in bot.updates(timeout=20):
        await router.feed(event, bot)
    for _event in bot.updates():  # type: ignore[attr-defined]
        pass
    await bot.run_polling(router)
    await bot.run_polling(lambda event: None)  # type: ignore[arg-type]
    await bot.typing("chat:C1")
    await bot.subscribe(long_polling="yes")  # type: ignore[arg-type]


def blocking(bot: okru_httpx.sync.BotSession, router: Router) -> None:
    for event in bot.updates():
        router.feed_sync(event, bot)
    bot.run_polling(router)
    bot.mark_seen("chat:C1")


async def state_is_awaited(state: State) -> str | None:
    name = state.get()
    return name  # type: ignore[return-value]


def sync_state_is_not(state: SyncState) -> str | None:
    return state.get()


def decorators(router: Router) -> Any:
    @router.message(command="start")
    async def start(event: Any) -> None:
        pass

    router.message(command=5)  # type: ignore[arg-type]
    return start
