"""okru over ``httpx.AsyncClient`` (asyncio or trio, through anyio): the seed's sessions and API.

    async with CodeSession(app_id, app_key, app_secret_key, code, redirect_uri) as session:
        api = API(session)
        me = await api.users.getCurrentUser()

All OK.ru logic (signing, grants, dialogs, refresh, retries) is ``okru_proto``'s; this module
only sends its :class:`~okru_proto.Request` values with httpx. The blocking twin is
:mod:`okru_httpx.sync`, with the same names and signatures.
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any, ClassVar, TypeVar

import anyio
import httpx

from okru_proto import (
    API,
    AppSessionSpec,
    AsyncSessionBase,
    ClientSessionSpec,
    CodeSessionSpec,
    Endpoints,
    Error,
    ImplicitSessionSpec,
    PasswordSessionSpec,
    PublicSessionSpec,
    RefreshSessionSpec,
    Request,
    Response,
    RetryPolicy,
    ServerSessionSpec,
    Token,
)

from ._common import (
    DEFAULT_LIMITS,
    DEFAULT_TIMEOUT,
    SessionBase,
    closed_client_error,
    httpx_url,
    to_response,
    transport_error,
)
from ._stream import aiter_body, source_size_async, stream_headers

__all__ = [
    "API",
    "DEFAULT_LIMITS",
    "DEFAULT_TIMEOUT",
    "AppSession",
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
]

_S = TypeVar("_S", bound="HttpxSession")


class HttpxSession(SessionBase, AsyncSessionBase):
    """Base of the async sessions: sends the core's requests with an ``httpx.AsyncClient``.

    Options (keyword-only, on every session): ``client=`` (your own ``httpx.AsyncClient``: used
    as it is, never reconfigured, never closed; without it the session creates one and closes it
    on exit), ``timeout=`` (per request; default: the client's), and the core's ``endpoints=``,
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
        return self._client.build_request(request.method, request.url, headers=stream_headers(request.headers, body),
                                          content=aiter_body(body), timeout=self._timeout)

    async def _read_file(self, path: str | os.PathLike[str]) -> bytes:
        return await anyio.Path(path).read_bytes()

    async def _send(self, request: Request) -> Response:
        client = self._client
        try:
            hresp = await client.send(
                client.build_request(request.method, httpx_url(self._urls, request.url), headers=request.headers,
                                     content=request.body, timeout=self._timeout)
                if type(request.body) is bytes else self._streamed(request),
                follow_redirects=False)
        except (httpx.HTTPError, OSError) as exc:
            raise transport_error(exc, request) from exc
        except RuntimeError as exc:
            if client.is_closed:
                raise closed_client_error(request) from exc
            raise
        return to_response(hresp, client, request)

    async def aclose(self) -> None:
        """Close the httpx client if the session created it (yours stays open)."""
        if self._owns_client:
            await self._client.aclose()

    async def close(self) -> None:
        """The seed's name for :meth:`aclose`."""
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
    """Authorization-code grant: ``async with`` exchanges ``code`` for a token (server-server
    circuit after). ``CodeSession(app_id, app_key, app_secret_key, code, redirect_uri)``."""


class ImplicitSession(ImplicitSessionSpec, HttpxSession):
    """Implicit grant through OK's login and permission dialogs (client-server circuit after).
    ``ImplicitSession(app_id, app_key, app_secret_key, login, passwd, scope, redirect_uri=, state=)``."""


class PasswordSession(PasswordSessionSpec, HttpxSession):
    """Password grant via ``auth.login`` (client-server circuit after).
    ``PasswordSession(app_id, app_key, app_secret_key, login, passwd)``."""


class RefreshSession(RefreshSessionSpec, HttpxSession):
    """A new access token from a stored refresh token (server-server circuit after).
    ``RefreshSession(app_id, app_key, app_secret_key, refresh_token)``."""


class ClientSession(ClientSessionSpec, HttpxSession):
    """A token you already have with its ``session_secret_key`` (client-server circuit).
    ``ClientSession(app_id, app_key, access_token, session_secret_key)``."""


class ServerSession(ServerSessionSpec, HttpxSession):
    """A token you already have, signed with ``md5(access_token + app_secret_key)``
    (server-server circuit); ``refresh_token=`` enables transparent refresh.
    ``ServerSession(app_id, app_key, app_secret_key, access_token)``."""


class AppSession(AppSessionSpec, HttpxSession):
    """Session-less calls signed with the app secret (e.g. ``notifications.sendSimple``).
    ``AppSession(app_id, app_key, app_secret_key)``."""


class PublicSession(PublicSessionSpec, HttpxSession):
    """Unsigned requests (no token, no signature); ``app_key=`` adds ``application_key``."""
