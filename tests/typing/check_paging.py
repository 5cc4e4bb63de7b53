# Checked by mypy, never run (see check_api_await.py): pages()/items() are an Iterator on the
# blocking sessions and an AsyncIterator on the async ones.
from __future__ import annotations

import okru_httpx
import okru_httpx.sync
import okru_trio


def blocking(session: okru_httpx.sync.ClientSession) -> None:
    for page in session.pages("friends.get"):
        page.items
    for item in session.items("friends.get"):
        item


async def asynchronous(session: okru_httpx.ClientSession, trio_session: okru_trio.ClientSession) -> None:
    async for page in session.pages("friends.get"):
        page.items
    async for item in trio_session.items("friends.get"):
        item


async def wrong_loops(session: okru_httpx.ClientSession, sync_session: okru_httpx.sync.ClientSession) -> None:
    for page in session.pages("friends.get"):  # type: ignore[attr-defined]
        page
    async for item in sync_session.items("friends.get"):  # type: ignore[attr-defined]
        item
