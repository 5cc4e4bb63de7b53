"""okru over ``httpx.AsyncClient`` (asyncio or trio, through anyio): aiookru's sessions and API shape.

    async with CodeSession(app_id, app_key, app_secret_key, code, redirect_uri) as session:
        api = API(session)
        me = await api.users.getCurrentUser()

All OK.ru logic (signing, grants, dialogs, refresh, retries) is ``okru_proto``'s; this package
only sends its :class:`~okru_proto.adapter.Request` values with httpx. The blocking twin is
:mod:`okru_httpx.sync`, with the same names and signatures. This module is the list; the
sessions, async and blocking side by side, are in ``_sessions.py``.
"""

from __future__ import annotations

from okru_proto import Endpoints, Error, RetryPolicy, Token
from okru_proto import __version__ as __version__  # one version for every okru package
from okru_proto.adapter import API

from ._base import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_LIMITS,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_TIMEOUT,
)
from ._logfilter import install_log_filter, log_filter_installed, remove_log_filter
from ._sessions import (
    AppSession,
    BotSession,
    ClientSession,
    CodeSession,
    HttpxSession,
    ImplicitSession,
    PasswordSession,
    PublicSession,
    RefreshSession,
    ServerSession,
)

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
