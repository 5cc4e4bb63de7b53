"""okru over ``httpx.Client`` (blocking): the same names and signatures as :mod:`okru_httpx`.

    with CodeSession(app_id, app_key, app_secret_key, code, redirect_uri) as session:
        api = API(session)
        me = api.users.getCurrentUser()

A session may be shared by threads (one refresh for all of them). This module is the list: each
blocking class sits beside its async twin in ``_sessions.py`` (``SyncCodeSession`` there is
``CodeSession`` here).
"""

from __future__ import annotations

from okru_proto import Endpoints, Error, RetryPolicy, Token
from okru_proto.adapter import API

from ._base import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_LIMITS,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_TIMEOUT,
)
from ._logfilter import install_log_filter, log_filter_installed, remove_log_filter
from ._sessions import SyncAppSession as AppSession
from ._sessions import SyncBotSession as BotSession
from ._sessions import SyncClientSession as ClientSession
from ._sessions import SyncCodeSession as CodeSession
from ._sessions import SyncHttpxSession as HttpxSession
from ._sessions import SyncImplicitSession as ImplicitSession
from ._sessions import SyncPasswordSession as PasswordSession
from ._sessions import SyncPublicSession as PublicSession
from ._sessions import SyncRefreshSession as RefreshSession
from ._sessions import SyncServerSession as ServerSession

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
