"""okru over ``httpx.Client`` (blocking): the same names and signatures as :mod:`okru_httpx`.

    with CodeSession(app_id, app_key, app_secret_key, code, redirect_uri) as session:
        api = API(session)
        me = api.users.getCurrentUser()

This module is the twin of ``okru_httpx/__init__.py``: the same methods with the ``await``s
removed (a test compares both modules' public names and signatures). Shared code is in
``_common.py``; all OK.ru logic is ``okru_proto``'s.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, TypeVar

import httpx

from okru_proto import (
    API,
    DEFAULT_MAX_PAGES,
    AppSessionSpec,
    ClientSessionSpec,
    CodeSessionSpec,
    Endpoints,
    Error,
    ImplicitSessionSpec,
    Page,
    Pager,
    PasswordSessionSpec,
    Photo,
    PhotoSource,
    PublicSessionSpec,
    RefreshSessionSpec,
    Request,
    Response,
    RetryPolicy,
    ServerSessionSpec,
    Token,
    UploadedPhoto,
    run_sync,
    upload_photos_flow,
)

from ._common import (
    DEFAULT_TIMEOUT,
    SessionBase,
    closed_client_error,
    httpx_url,
    to_response,
    transport_error,
)

__all__ = [
    "API",
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


class HttpxSession(SessionBase):
    """Base of the blocking sessions: sends the core's requests with an ``httpx.Client``.

    Options (keyword-only, on every session): ``client=`` (your own ``httpx.Client``: used as it
    is, never reconfigured, never closed; without it the session creates one and closes it on
    exit), ``timeout=`` (per request; default: the client's), and the core's ``endpoints=``,
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

    def _send(self, request: Request) -> Response:
        client = self._client
        try:
            hresp = client.send(
                client.build_request(request.method, httpx_url(self._urls, request.url), headers=request.headers,
                                     content=request.body, timeout=self._timeout),
                follow_redirects=False)
        except (httpx.HTTPError, OSError) as exc:
            raise transport_error(exc, request) from exc
        except RuntimeError as exc:
            if client.is_closed:
                raise closed_client_error(request) from exc
            raise
        return to_response(hresp, client, request)

    def call(self, method: str, params: Mapping[str, object] | None = None) -> Any:
        """One REST call (what :class:`API` runs): the JSON result, or an OK error raised."""
        # The core logs one DEBUG line per exchange on the "okru" logger (never a secret).
        return run_sync(self._core.call_flow(method, params), self._send, self._sleep, self._lock)

    def authorize(self) -> Token | None:
        """Run the session's grant (``with`` does it for you); the new token, if any."""
        return run_sync(self._core.authorize_flow(), self._send, self._sleep, self._lock)

    def close(self) -> None:
        """Close the httpx client if the session created it (yours stays open)."""
        if self._owns_client:
            self._client.close()

    def __enter__(self: _S) -> _S:
        try:
            self.authorize()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- helpers (docs/helpers.md): the core's upload flow and Pager, driven like call() --------
    def upload_photos(self, *files: PhotoSource, aid: str | int | None = None,
                      gid: str | int | None = None, commit: bool | None = None,
                      params: Mapping[str, object] | None = None) -> tuple[UploadedPhoto, ...]:
        """Upload photos (bytes, :class:`~okru_proto.Photo` or file paths) to the user's album,
        album ``aid`` or group ``gid``; one :class:`~okru_proto.UploadedPhoto` per file."""
        photos = [Photo.from_path(f, Path(f).read_bytes()) if isinstance(f, (str, os.PathLike))
                  else Photo.coerce(f) for f in files]
        flow = upload_photos_flow(self._core, photos, boundary=secrets.token_hex(16), aid=aid, gid=gid,
                                  commit=commit, params=params)
        return run_sync(flow, self._send, self._sleep, self._lock)

    def pages(self, method: str, params: Mapping[str, object] | None = None, *, count: int | None = None,
              direction: str | None = None, items: str | None = None,
              max_pages: int = DEFAULT_MAX_PAGES) -> Iterator[Page]:
        """``for page in session.pages("group.getMembers", {"uid": gid}, count=100)``:
        each :class:`~okru_proto.Page` of an anchor-paged method, fetched as you iterate."""
        return self._pages(Pager(method, params, count=count, direction=direction, items=items,
                                 max_pages=max_pages))

    def items(self, method: str, params: Mapping[str, object] | None = None, *, count: int | None = None,
              direction: str | None = None, items: str | None = None,
              max_pages: int = DEFAULT_MAX_PAGES) -> Iterator[Any]:
        """Like :meth:`pages`, one item at a time."""
        return self._items(Pager(method, params, count=count, direction=direction, items=items,
                                 max_pages=max_pages))

    def _pages(self, pager: Pager) -> Iterator[Page]:
        while not pager.done:
            yield run_sync(pager.page_flow(self._core), self._send, self._sleep, self._lock)

    def _items(self, pager: Pager) -> Iterator[Any]:
        for page in self._pages(pager):
            yield from page.items


class CodeSession(CodeSessionSpec, HttpxSession):
    """Authorization-code grant: ``with`` exchanges ``code`` for a token (server-server
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
