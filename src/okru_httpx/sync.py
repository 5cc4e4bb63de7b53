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
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, TypeVar

import httpx

from okru_proto import (
    API,
    AppSessionSpec,
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
    SyncSessionBase,
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
from ._stream import iter_body, source_size, stream_headers

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


class HttpxSession(SessionBase, SyncSessionBase):
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

    def _source_size(self, source: Any) -> int:
        return source_size(source)

    def _streamed(self, request: Request) -> httpx.Request:
        body: Any = request.body
        return self._client.build_request(request.method, request.url, headers=stream_headers(request.headers, body),
                                          content=iter_body(body), timeout=self._timeout)

    def _read_file(self, path: str | os.PathLike[str]) -> bytes:
        return Path(path).read_bytes()

    def _send(self, request: Request) -> Response:
        client = self._client
        try:
            hresp = client.send(
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
