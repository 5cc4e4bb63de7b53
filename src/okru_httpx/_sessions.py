"""The httpx sessions, async and blocking side by side: everything a session does with its
``httpx.AsyncClient`` or ``httpx.Client`` lives here.

Each async class has its blocking twin right below it in this module (``HttpxSession`` /
``SyncHttpxSession``, ``CodeSession`` / ``SyncCodeSession``..., ``BotSession`` /
``SyncBotSession``), as httpx keeps ``Client`` and ``AsyncClient`` together: the only
differences are ``await`` and the few lines that differ between an event loop and a thread
(the lock, the sleep, closing a streamed reply). :mod:`okru_httpx` lists the async classes and
:mod:`okru_httpx.sync` the blocking ones under the same public names (``SyncCodeSession`` is
``okru_httpx.sync.CodeSession``, and says so in its repr and errors). What the two share is in
``_base.py`` (the client and options), ``_deadline.py``, ``_errors.py`` and ``_response.py`` (a
reply read into the core's ``Response``); all OK.ru logic is ``okru_proto``'s.
"""

from __future__ import annotations

import contextlib
import threading
import time
from types import TracebackType
from typing import Any, ClassVar, TypeVar

import anyio
import httpx

from okru_io import measure_source, measure_source_async, source_size, source_size_async
from okru_proto import Error
from okru_proto.adapter import (
    AppSessionSpec,
    AsyncBotBase,
    AsyncSessionBase,
    ClientSessionSpec,
    CodeSessionSpec,
    ImplicitSessionSpec,
    PasswordSessionSpec,
    PublicSessionSpec,
    RefreshSessionSpec,
    Request,
    Response,
    ServerSessionSpec,
    SyncBotBase,
    SyncSessionBase,
)

from ._base import SessionBase
from ._deadline import DEADLINE, Deadline
from ._errors import build_error, close_error, send_error
from ._logfilter import session_made
from ._response import BodyReader, httpx_url, make_response, reply_headers
from ._stream import aiter_body, iter_body, stream_headers

__all__ = [
    "AppSession",
    "BotSession",
    "ClientSession",
    "CodeSession",
    "HttpxSession",
    "ImplicitSession",
    "PasswordSession",
    "PublicSession",
    "RefreshSession",
    "ServerSession",
    "SyncAppSession",
    "SyncBotSession",
    "SyncClientSession",
    "SyncCodeSession",
    "SyncHttpxSession",
    "SyncImplicitSession",
    "SyncPasswordSession",
    "SyncPublicSession",
    "SyncRefreshSession",
    "SyncServerSession",
]

_S = TypeVar("_S", bound="HttpxSession")
_SS = TypeVar("_SS", bound="SyncHttpxSession")
_B = TypeVar("_B", bound="BotSession")
_SB = TypeVar("_SB", bound="SyncBotSession")
_NO_GUARD = contextlib.nullcontext()


class HttpxSession(SessionBase, AsyncSessionBase):
    """Base of the async sessions: sends the core's requests with an ``httpx.AsyncClient``.

    Options (keyword-only, on every session): ``client=`` (your own ``httpx.AsyncClient``: used
    as it is, never reconfigured, never closed; without it the session creates one and closes it
    on exit), ``timeout=`` (the whole-call deadline of one HTTP exchange, s; default 60),
    ``connect_timeout=`` (10), ``read_timeout=`` (30), ``max_response_bytes=`` (16 MiB; see
    docs/limits.md for what bounds a client of yours), and the core's ``endpoints=``,
    ``pass_error=``, ``retry=``, ``on_token=``, ``auto_refresh=``, ``refresh_before=``,
    ``http_method=``.
    """

    _client_class: ClassVar[type[httpx.AsyncClient]] = httpx.AsyncClient
    _client: httpx.AsyncClient
    #: The sleep used for retry backoff (tests replace it on an instance).
    _sleep = staticmethod(anyio.sleep)

    def _init_transport(self, **options: Any) -> None:
        super()._init_transport(**options)
        # One refresh for all concurrent callers on this session, under asyncio or trio.
        self._lock = anyio.Lock()

    async def _source_size(self, source: Any) -> int:
        return await source_size_async(source)

    _measure_source = staticmethod(measure_source_async)

    def _streamed(self, request: Request) -> httpx.Request:
        body: Any = request.body
        return self._client.build_request(request.method, httpx_url(self._urls, request.url),
                                          headers=stream_headers(request.headers, body),
                                          content=aiter_body(body), timeout=self._timeout)


    async def _send(self, request: Request) -> Response:
        client = self._client
        total = self._total
        deadline = Deadline(total) if total is not None else None
        try:
            hrequest = (client.build_request(request.method, httpx_url(self._urls, request.url),
                                             headers=request.headers, content=request.body, timeout=self._timeout)
                        if type(request.body) is bytes else self._streamed(request))
        except Exception as exc:
            raise build_error(exc, request) from exc
        token = DEADLINE.set(deadline)
        try:
            # Our own client's network backend enforces the deadline on every wait; a client of
            # yours is bounded by a cancel scope (it costs more, so only there).
            with _NO_GUARD if self._guard is None else anyio.fail_after(self._guard):
                hresp = await client.send(hrequest, stream=True, follow_redirects=False)
                try:
                    # Streamed: the size cap and the deadline are checked as the body arrives.
                    headers = reply_headers(hresp)
                    reader = BodyReader(headers, self._max_body, deadline, request, hresp.is_stream_consumed)
                    add = reader.add
                    async for chunk in hresp.aiter_bytes() if reader.decoded else hresp.aiter_raw():
                        add(chunk)
                    body = reader.body()
                except BaseException:
                    with anyio.CancelScope(shield=True):
                        await hresp.aclose()
                    raise
        except Error:
            raise
        except Exception as exc:
            raise send_error(exc, request, deadline, total, client) from exc
        finally:
            DEADLINE.reset(token)
        return make_response(hresp.status_code, headers, body, client, request)

    async def aclose(self) -> None:
        """Close the httpx client if the session created it (yours stays open)."""
        if self._owns_client:
            try:
                await self._client.aclose()
            except Exception as exc:
                raise close_error(exc) from exc

    async def close(self) -> None:
        """aiookru's name for :meth:`aclose`."""
        await self.aclose()

    async def __aenter__(self: _S) -> _S:
        try:
            await self.authorize()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()


class SyncHttpxSession(SessionBase, SyncSessionBase):
    """Base of the blocking sessions: sends the core's requests with an ``httpx.Client``.

    Options (keyword-only, on every session): ``client=`` (your own ``httpx.Client``: used as it
    is, never reconfigured, never closed; without it the session creates one and closes it on
    exit), ``timeout=`` (the whole-call deadline of one HTTP exchange, s; default 60),
    ``connect_timeout=`` (10), ``read_timeout=`` (30), ``max_response_bytes=`` (16 MiB; see
    docs/limits.md for what bounds a client of yours), and the core's ``endpoints=``,
    ``pass_error=``, ``retry=``, ``on_token=``, ``auto_refresh=``, ``refresh_before=``,
    ``http_method=``. A session may be shared by threads: one refresh for all of them.
    """

    _client_class: ClassVar[type[httpx.Client]] = httpx.Client
    _client: httpx.Client
    #: The sleep used for retry backoff (tests replace it on an instance).
    _sleep = staticmethod(time.sleep)

    def _init_transport(self, **options: Any) -> None:
        super()._init_transport(**options)
        # One refresh for all threads calling through this session.
        self._lock = threading.Lock()

    def _source_size(self, source: Any) -> int:
        return source_size(source)

    _measure_source = staticmethod(measure_source)

    def _streamed(self, request: Request) -> httpx.Request:
        body: Any = request.body
        return self._client.build_request(request.method, httpx_url(self._urls, request.url),
                                          headers=stream_headers(request.headers, body),
                                          content=iter_body(body), timeout=self._timeout)


    def _send(self, request: Request) -> Response:
        client = self._client
        total = self._total
        deadline = Deadline(total) if total is not None else None
        try:
            hrequest = (client.build_request(request.method, httpx_url(self._urls, request.url),
                                             headers=request.headers, content=request.body, timeout=self._timeout)
                        if type(request.body) is bytes else self._streamed(request))
        except Exception as exc:
            raise build_error(exc, request) from exc
        token = DEADLINE.set(deadline)
        try:
            hresp = client.send(hrequest, stream=True, follow_redirects=False)
            try:
                # Streamed: the size cap and the deadline are checked as the body arrives.
                headers = reply_headers(hresp)
                reader = BodyReader(headers, self._max_body, deadline, request, hresp.is_stream_consumed)
                add = reader.add
                for chunk in hresp.iter_bytes() if reader.decoded else hresp.iter_raw():
                    add(chunk)
                body = reader.body()
            except BaseException:
                hresp.close()
                raise
        except Error:
            raise
        except Exception as exc:
            raise send_error(exc, request, deadline, total, client) from exc
        finally:
            DEADLINE.reset(token)
        return make_response(hresp.status_code, headers, body, client, request)

    def close(self) -> None:
        """Close the httpx client if the session created it (yours stays open)."""
        if self._owns_client:
            try:
                self._client.close()
            except Exception as exc:
                raise close_error(exc) from exc

    def __enter__(self: _SS) -> _SS:
        try:
            self.authorize()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class CodeSession(CodeSessionSpec, HttpxSession):
    # No docstring here: help() and inspect.getdoc() show the core class's (okru_proto.adapter).
    pass


class ImplicitSession(ImplicitSessionSpec, HttpxSession):
    pass


class PasswordSession(PasswordSessionSpec, HttpxSession):
    pass


class RefreshSession(RefreshSessionSpec, HttpxSession):
    pass


class ClientSession(ClientSessionSpec, HttpxSession):
    pass


class ServerSession(ServerSessionSpec, HttpxSession):
    pass


class AppSession(AppSessionSpec, HttpxSession):
    pass


class PublicSession(PublicSessionSpec, HttpxSession):
    pass


class SyncCodeSession(CodeSessionSpec, SyncHttpxSession):
    pass


class SyncImplicitSession(ImplicitSessionSpec, SyncHttpxSession):
    pass


class SyncPasswordSession(PasswordSessionSpec, SyncHttpxSession):
    pass


class SyncRefreshSession(RefreshSessionSpec, SyncHttpxSession):
    pass


class SyncClientSession(ClientSessionSpec, SyncHttpxSession):
    pass


class SyncServerSession(ServerSessionSpec, SyncHttpxSession):
    pass


class SyncAppSession(AppSessionSpec, SyncHttpxSession):
    pass


class SyncPublicSession(PublicSessionSpec, SyncHttpxSession):
    pass


class BotSession(AsyncBotBase):
    """A group's chat bot (OK's Bot API) over ``httpx.AsyncClient`` (asyncio or trio)::

        async with BotSession(access_token) as bot:
            await bot.send(chat_id, "Привет")

    Options: ``client=``, ``timeout=``, ``endpoints=``, ``retry=`` (as the other sessions).
    """

    _transport_class: ClassVar[Any] = PublicSession

    def __init__(self, access_token: str, **options: Any) -> None:
        session_made()
        self._setup_bot(access_token, options, self._transport_class)

    @property
    def client(self) -> Any:
        """The httpx client this bot sends through."""
        return self._http.client

    @staticmethod
    def _handler_scope(seconds: float) -> anyio.CancelScope:
        # run_polling's bound on one handler, on asyncio or trio (anyio's cancel scope).
        return anyio.move_on_after(seconds)

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


class SyncBotSession(SyncBotBase):
    """A group's chat bot (OK's Bot API) over ``httpx.Client`` (blocking): ``with BotSession(token) as bot: bot.send(...)``."""

    _transport_class: ClassVar[Any] = SyncPublicSession

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

    def __enter__(self: _SB) -> _SB:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


# The blocking classes present themselves under their public names (okru_httpx.sync.CodeSession):
# reprs and error messages read as they did when each flavour had a module of its own.
_cls: type
for _cls in (SyncHttpxSession, SyncCodeSession, SyncImplicitSession, SyncPasswordSession, SyncRefreshSession,
             SyncClientSession, SyncServerSession, SyncAppSession, SyncPublicSession, SyncBotSession):
    _cls.__name__ = _cls.__qualname__ = _cls.__name__.removeprefix("Sync")
    _cls.__module__ = "okru_httpx.sync"
for _cls in (HttpxSession, CodeSession, ImplicitSession, PasswordSession, RefreshSession, ClientSession,
             ServerSession, AppSession, PublicSession, BotSession):
    _cls.__module__ = "okru_httpx"
del _cls
