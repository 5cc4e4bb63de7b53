"""The bases of ``okru_httpx.BotSession`` (async) and ``okru_httpx.sync.BotSession`` (blocking).

The transport is the package's own unsigned ``PublicSession`` (same options: ``client=``,
``timeout=``, ``endpoints=``; the Graph API lives on the ``api`` endpoint), which each public
module binds as ``_transport_class`` (this module cannot import them: they import it). Every Bot
API rule is ``okru_proto``'s.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, ClassVar, TypeVar

from okru_proto.adapter import AsyncBotBase, SyncBotBase

from ._logfilter import session_made

__all__ = ["AsyncBot", "SyncBot"]

_B = TypeVar("_B", bound="AsyncBot")
_S = TypeVar("_S", bound="SyncBot")


class AsyncBot(AsyncBotBase):
    """A group bot over ``httpx.AsyncClient`` (asyncio or trio)::

        async with BotSession(access_token) as bot:
            await bot.send(chat_id, "Привет")

    Options: ``client=``, ``timeout=``, ``endpoints=``, ``retry=`` (as the other sessions).
    """

    _transport_class: ClassVar[Any]

    def __init__(self, access_token: str, **options: Any) -> None:
        session_made()
        self._setup_bot(access_token, options, self._transport_class)

    @property
    def client(self) -> Any:
        """The httpx client this bot sends through."""
        return self._http.client

    async def aclose(self) -> None:
        """Close the httpx client if the session created it (yours stays open)."""
        await self._http.aclose()

    async def close(self) -> None:
        """The other sessions' name for :meth:`aclose`."""
        await self.aclose()

    async def __aenter__(self: _B) -> _B:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()


class SyncBot(SyncBotBase):
    """A group bot over ``httpx.Client`` (blocking): ``with BotSession(token) as bot: bot.send(...)``."""

    _transport_class: ClassVar[Any]

    def __init__(self, access_token: str, **options: Any) -> None:
        session_made()
        self._setup_bot(access_token, options, self._transport_class)

    @property
    def client(self) -> Any:
        """The httpx client this bot sends through."""
        return self._http.client

    def close(self) -> None:
        """Close the httpx client if the session created it (yours stays open)."""
        self._http.close()

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
