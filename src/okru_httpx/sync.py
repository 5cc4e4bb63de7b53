"""okru over ``httpx.Client`` (blocking): the same names and signatures as :mod:`okru_httpx`.

    with CodeSession(app_id, app_key, app_secret_key, code, redirect_uri) as session:
        api = API(session)
        me = api.users.getCurrentUser()

This module is the twin of ``okru_httpx/__init__.py``: the same methods with the ``await``s
removed (a test compares both modules' public names and signatures). Shared code is in
``_base.py``, ``_deadline.py``, ``_body.py``, ``_errors.py`` and ``_response.py``; all OK.ru logic
is ``okru_proto``'s.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any, ClassVar, TypeVar

import httpx

from okru_proto import Endpoints, Error, RetryPolicy, Token
from okru_proto.adapter import (
    API,
    AppSessionSpec,
    ClientSessionSpec,
    CodeSessionSpec,
    ImplicitSessionSpec,
    PasswordSessionSpec,
    PublicSessionSpec,
    RefreshSessionSpec,
    Request,
    Response,
    ServerSessionSpec,
    SyncSessionBase,
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
from ._bot import SyncBot
from ._deadline import DEADLINE, Deadline
from ._errors import build_error, close_error, send_error
from ._logfilter import install_log_filter, log_filter_installed, remove_log_filter
from ._response import httpx_url, make_response
from ._stream import iter_body, source_size, stream_headers

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


class HttpxSession(SessionBase, SyncSessionBase):
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


class BotSession(SyncBot):
    """A group's chat bot (OK's Bot API) over ``httpx.Client``: ``BotSession(access_token)``."""

    _transport_class = PublicSession
