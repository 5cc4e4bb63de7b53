"""okru over ``httpx.AsyncClient`` (asyncio or trio, through anyio): aiookru's sessions and API shape.

    async with CodeSession(app_id, app_key, app_secret_key, code, redirect_uri) as session:
        api = API(session)
        me = await api.users.getCurrentUser()

All OK.ru logic (signing, grants, dialogs, refresh, retries) is ``okru_proto``'s; this module
only sends its :class:`~okru_proto.adapter.Request` values with httpx. The blocking twin is
:mod:`okru_httpx.sync`, with the same names and signatures.
"""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Any, ClassVar, TypeVar

import anyio
import httpx

from okru_proto import Endpoints, Error, RetryPolicy, Token
from okru_proto import __version__ as __version__  # one version for every okru package
from okru_proto.adapter import (
    API,
    AppSessionSpec,
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
)

from ._base import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_LIMITS,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_TIMEOUT,
    SessionBase,
)
from ._body import BodyReader, reply_headers
from ._bot import AsyncBot
from ._deadline import DEADLINE, Deadline
from ._errors import build_error, close_error, send_error
from ._logfilter import install_log_filter, log_filter_installed, remove_log_filter
from ._response import httpx_url, make_response
from ._stream import aiter_body, source_size_async, stream_headers

__all__ = [
    "API",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_READ_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "AppSession",
    "BotSession",
    "ClientSession",
    "CodeSession",
    "Endpoints",
    "Error",
    "HttpxSession",
    "ImplicitSession",
    "PasswordSession",
    "PublicSession",
    "RefreshSession",
    "RetryPolicy",
    "ServerSession",
    "Token",
    "install_log_filter",
    "log_filter_installed",
    "remove_log_filter",
]

_S = TypeVar("_S", bound="HttpxSession")
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


class BotSession(AsyncBot):
    """A group's chat bot (OK's Bot API) over ``httpx.AsyncClient``: ``BotSession(access_token)``."""

    _transport_class = PublicSession
