"""``BotSession`` for a group's Bot API over trio (h11): the transport is this package's
unsigned ``PublicSession`` (same options: ``transport=``, ``ssl_context=``, timeouts,
``max_connections``, ``endpoints=``, ``retry=``); every Bot API rule is ``okru_proto``'s."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import trio

from okru_proto.adapter import AsyncBotBase

from ._session import PublicSession

__all__ = ["BotSession"]


class BotSession(AsyncBotBase):
    """A group bot under trio::

        async with okru_trio.BotSession(access_token) as bot:
            await bot.send(chat_id, "Привет")
    """

    def __init__(self, access_token: str, **options: Any) -> None:
        self._setup_bot(access_token, options, PublicSession)

    async def aclose(self) -> None:
        """Close the connections this bot opened (a ``transport=`` you passed stays open)."""
        with trio.CancelScope(shield=True):
            await self._http.aclose()

    async def __aenter__(self) -> BotSession:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()
