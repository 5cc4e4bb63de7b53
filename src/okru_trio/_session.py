"""The seed-shaped sessions over :class:`H11Transport`: the core's specs plus a trio driver."""

from __future__ import annotations

import os
import secrets
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any

import trio

from okru_proto import (
    DEFAULT_MAX_PAGES,
    AppSessionSpec,
    ClientSessionSpec,
    CodeSessionSpec,
    ImplicitSessionSpec,
    Page,
    Pager,
    PasswordSessionSpec,
    Photo,
    PhotoSource,
    PublicSessionSpec,
    RefreshSessionSpec,
    ServerSessionSpec,
    SessionSpec,
    Token,
    UploadedPhoto,
    UsageError,
    run_async,
    upload_photos_flow,
)

from ._transport import H11Transport

__all__ = [
    "AppSession",
    "ClientSession",
    "CodeSession",
    "ImplicitSession",
    "PasswordSession",
    "PublicSession",
    "RefreshSession",
    "ServerSession",
    "TrioSession",
]


class TrioSession(SessionSpec):
    """What every okru_trio session adds to the core: the transport, a trio lock, the driver.

    Transport options (keyword-only): ``ssl_context`` (default ``ssl.create_default_context()``),
    ``timeout`` (whole call, s), ``connect_timeout``, ``read_timeout``,
    ``max_connections`` (per origin), ``max_response_bytes``, or a ready ``transport``
    (an :class:`H11Transport` you own: used as is, never closed by the session).
    """

    _transport: H11Transport
    _owns_transport: bool
    _lock: trio.Lock

    def _init_transport(
        self,
        *,
        transport: H11Transport | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float | None = 60.0,
        connect_timeout: float | None = 10.0,
        read_timeout: float | None = 30.0,
        max_connections: int = 10,
        max_response_bytes: int = 16 * 1024 * 1024,
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

    def _clock(self) -> float:
        return time.time()

    async def call(self, method: str, params: Mapping[str, object] | None = None) -> Any:
        """One signed REST call (``API(session)`` calls this); returns OK's JSON result."""
        return await run_async(self._core.call_flow(method, params), self._transport.send, trio.sleep,
                               self._lock)

    async def authorize(self) -> Token | None:
        """Run the session's grant (``async with`` does it on enter)."""
        return await run_async(self._core.authorize_flow(), self._transport.send, trio.sleep, self._lock)

    async def refresh(self) -> Token:
        """Refresh the token now (normally it happens by itself on error 102)."""
        return await run_async(self._core.refresh_flow(), self._transport.send, trio.sleep, self._lock)

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

    # -- helpers (docs/helpers.md): the core's upload flow and Pager, driven like call() --------
    async def upload_photos(self, *files: PhotoSource, aid: str | int | None = None,
                            gid: str | int | None = None, commit: bool | None = None,
                            params: Mapping[str, object] | None = None) -> tuple[UploadedPhoto, ...]:
        """Upload photos (bytes, :class:`~okru_proto.Photo` or file paths) to the user's album,
        album ``aid`` or group ``gid``; one :class:`~okru_proto.UploadedPhoto` per file."""
        photos = [Photo.from_path(f, await trio.Path(f).read_bytes()) if isinstance(f, (str, os.PathLike))
                  else Photo.coerce(f) for f in files]
        flow = upload_photos_flow(self._core, photos, boundary=secrets.token_hex(16), aid=aid, gid=gid,
                                  commit=commit, params=params)
        return await run_async(flow, self._transport.send, trio.sleep, self._lock)

    def pages(self, method: str, params: Mapping[str, object] | None = None, *, count: int | None = None,
              direction: str | None = None, items: str | None = None,
              max_pages: int = DEFAULT_MAX_PAGES) -> AsyncIterator[Page]:
        """``async for page in session.pages("group.getMembers", {"uid": gid}, count=100)``:
        each :class:`~okru_proto.Page` of an anchor-paged method, fetched as you iterate."""
        return self._pages(Pager(method, params, count=count, direction=direction, items=items,
                                 max_pages=max_pages))

    def items(self, method: str, params: Mapping[str, object] | None = None, *, count: int | None = None,
              direction: str | None = None, items: str | None = None,
              max_pages: int = DEFAULT_MAX_PAGES) -> AsyncIterator[Any]:
        """Like :meth:`pages`, one item at a time."""
        return self._items(Pager(method, params, count=count, direction=direction, items=items,
                                 max_pages=max_pages))

    async def _pages(self, pager: Pager) -> AsyncIterator[Page]:
        while not pager.done:
            yield await run_async(pager.page_flow(self._core), self._transport.send, trio.sleep, self._lock)

    async def _items(self, pager: Pager) -> AsyncIterator[Any]:
        async for page in self._pages(pager):
            for item in page.items:
                yield item


class CodeSession(CodeSessionSpec, TrioSession):
    """Authorization-code grant: ``CodeSession(app_id, app_key, app_secret_key, code, redirect_uri)``."""


class ImplicitSession(ImplicitSessionSpec, TrioSession):
    """Implicit grant through OK's dialogs: ``ImplicitSession(app_id, app_key, app_secret_key, login, passwd, scope)``."""


class PasswordSession(PasswordSessionSpec, TrioSession):
    """Password grant via ``auth.login``: ``PasswordSession(app_id, app_key, app_secret_key, login, passwd)``."""


class RefreshSession(RefreshSessionSpec, TrioSession):
    """A new token from a refresh token: ``RefreshSession(app_id, app_key, app_secret_key, refresh_token)``."""


class ClientSession(ClientSessionSpec, TrioSession):
    """A token with its session secret: ``ClientSession(app_id, app_key, access_token, session_secret_key)``."""


class ServerSession(ServerSessionSpec, TrioSession):
    """A token signed server-side: ``ServerSession(app_id, app_key, app_secret_key, access_token)``."""


class AppSession(AppSessionSpec, TrioSession):
    """Session-less calls signed with the app secret: ``AppSession(app_id, app_key, app_secret_key)``."""


class PublicSession(PublicSessionSpec, TrioSession):
    """Unsigned calls: ``PublicSession()``."""
