"""The sessions over :class:`H11Transport`: the core's specs plus a trio driver, and closing the
transport they own; and the group bot, whose transport is this module's unsigned ``PublicSession``
(same options: ``transport=``, ``ssl_context=``, timeouts, ``max_connections``, ``endpoints=``,
``retry=``). Every OK.ru rule is ``okru_proto``'s."""

from __future__ import annotations

import ssl
import time
from types import TracebackType
from typing import Any

import trio

from okru_io import measure_source_async, source_size_async
from okru_proto import UsageError
from okru_proto.adapter import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_TIMEOUT,
    AppSessionSpec,
    AsyncBotBase,
    AsyncSessionBase,
    ClientSessionSpec,
    CodeSessionSpec,
    ImplicitSessionSpec,
    PasswordSessionSpec,
    PublicSessionSpec,
    RefreshSessionSpec,
    ServerSessionSpec,
)

from ._transport import H11Transport

__all__ = [
    "AppSession",
    "BotSession",
    "ClientSession",
    "CodeSession",
    "ImplicitSession",
    "PasswordSession",
    "PublicSession",
    "RefreshSession",
    "ServerSession",
    "TrioSession",
]


class TrioSession(AsyncSessionBase):
    """What every okru_trio session adds to the core: the transport, a trio lock, the driver.

    Transport options (keyword-only): ``ssl_context`` (default ``ssl.create_default_context()``),
    ``timeout`` (whole call, s), ``connect_timeout``, ``read_timeout``,
    ``max_connections`` (per origin), ``max_response_bytes`` (of the decoded body: gzip and
    deflate replies are decoded), or a ready ``transport`` (an :class:`H11Transport` you own:
    used as is, never closed by the session). A request is never sent twice unless you pass a
    ``retry=RetryPolicy(...)`` (see :mod:`okru_trio._transport`).
    """

    _transport: H11Transport
    _owns_transport: bool
    _lock: trio.Lock

    def _init_transport(
        self,
        *,
        transport: H11Transport | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float | None = DEFAULT_READ_TIMEOUT,
        max_connections: int = 10,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        **unknown: Any,
    ) -> None:
        if unknown:
            raise UsageError(
                f"{type(self).__name__} got unknown option(s) {', '.join(sorted(unknown))}; "
                "transport options: transport, ssl_context, timeout, connect_timeout, read_timeout, "
                "max_connections, max_response_bytes")
        if transport is not None:
            self._transport, self._owns_transport = transport, False
        else:
            self._transport = H11Transport(
                ssl_context=ssl_context, max_connections_per_origin=max_connections,
                connect_timeout=connect_timeout, read_timeout=read_timeout, timeout=timeout,
                max_response_bytes=max_response_bytes)
            self._owns_transport = True
        self._lock = trio.Lock()
        # The drivers call these directly: the transport's own send, no extra coroutine layer.
        self._send = self._transport.send
        self._sleep = trio.sleep

    async def _source_size(self, source: Any) -> int:
        return await source_size_async(source)

    _measure_source = staticmethod(measure_source_async)


    def _clock(self) -> float:
        return time.time()

    async def aclose(self) -> None:
        """Close the connections this session opened (a ``transport=`` you passed stays open)."""
        if self._owns_transport:
            await self._transport.aclose()

    async def __aenter__(self) -> TrioSession:
        try:
            await self.authorize()
        except BaseException:
            with trio.CancelScope(shield=True):
                await self.aclose()
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        with trio.CancelScope(shield=True):
            await self.aclose()


class CodeSession(CodeSessionSpec, TrioSession):
    # No docstring here: help() and inspect.getdoc() show the core class's (okru_proto.adapter).
    pass


class ImplicitSession(ImplicitSessionSpec, TrioSession):
    pass


class PasswordSession(PasswordSessionSpec, TrioSession):
    pass


class RefreshSession(RefreshSessionSpec, TrioSession):
    pass


class ClientSession(ClientSessionSpec, TrioSession):
    pass


class ServerSession(ServerSessionSpec, TrioSession):
    pass


class AppSession(AppSessionSpec, TrioSession):
    pass


class PublicSession(PublicSessionSpec, TrioSession):
    pass


class BotSession(AsyncBotBase):
    """A group bot under trio::

        async with okru_trio.BotSession(access_token) as bot:
            await bot.send(chat_id, "Привет")
    """

    def __init__(self, access_token: str, **options: Any) -> None:
        self._setup_bot(access_token, options, PublicSession)

    @staticmethod
    def _handler_scope(seconds: float) -> trio.CancelScope:
        # run_polling's bound on one handler.
        return trio.move_on_after(seconds)

    async def aclose(self) -> None:
        """Close the connections this bot opened (a ``transport=`` you passed stays open)."""
        with trio.CancelScope(shield=True):
            await self._http.aclose()

    async def __aenter__(self) -> BotSession:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()
