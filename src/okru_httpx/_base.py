"""The transport half of every httpx session: everything about the httpx client a session sends through lives here.

:class:`SessionBase` takes the transport options (``client``, ``timeout``, ``connect_timeout``,
``read_timeout``, ``max_response_bytes``: the same names, meanings and defaults as okru_trio,
docs/limits.md), builds the client a session owns (pool limits, one shared verifying SSL
context, ``Accept-Encoding`` of the codings okru decodes itself, the deadline-capping network
backend from ``_deadline.py``) or checks and adapts a user's own. The async and blocking
session bases in ``__init__.py`` and ``sync.py`` add only their twin
``_send``/``call``/``authorize``/close methods. No OK.ru knowledge anywhere in this package:
that is ``okru_proto``'s.
"""

from __future__ import annotations

import functools
import math
import ssl
import time
from typing import Any, ClassVar

import httpx

from okru_proto import UsageError
from okru_proto.adapter import (
    ACCEPT_ENCODING,
    CORE_OPTIONS,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_TIMEOUT,
    SessionSpec,
)

from ._deadline import bound_pools
from ._logfilter import session_made

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_READ_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "TRANSPORT_OPTIONS",
    "SessionBase",
]

#: Keyword options the httpx adapters take on top of :data:`okru_proto.CORE_OPTIONS`: the same
#: names, meanings and defaults as okru_trio's (docs/limits.md).
TRANSPORT_OPTIONS = frozenset({"client", "timeout", "connect_timeout", "read_timeout", "max_response_bytes"})


#: Pool limits of the client a session creates itself. httpx's default keeps 20 of its 100
#: connections alive; above 20 open connections httpcore 1.0.x then closes any IDLE one, even one
#: it has just handed to a waiting request, and with threads that request may already be reading
#: from it: ``ReadError: Bad file descriptor`` or a hang until the read timeout (encode/httpcore
#: #1110, unfixed in 1.0.9). Keeping as many alive as may be open takes that path out.
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=5.0)

_UNSET: Any = object()


class SessionBase(SessionSpec):
    """The transport half shared by the sync and async session bases (``_client_class`` differs)."""

    _client_class: ClassVar[type[httpx.Client] | type[httpx.AsyncClient]]
    _client: Any
    _owns_client: bool
    #: The per-request httpx timeout (``USE_CLIENT_DEFAULT`` for our own client: set on it).
    _timeout: Any
    #: ``timeout=``: the whole-call deadline in seconds, or None.
    _total: float | None
    #: The deadline a cancel scope must enforce around the call (a user's async client), or None.
    _guard: float | None
    _max_body: int

    def _init_transport(self, *, client: Any = None, timeout: Any = _UNSET, connect_timeout: Any = _UNSET,
                        read_timeout: Any = _UNSET, max_response_bytes: Any = _UNSET, **unknown: Any) -> None:
        session_made()
        if unknown:
            valid = ", ".join(sorted(CORE_OPTIONS | TRANSPORT_OPTIONS))
            raise UsageError(
                f"{type(self).__name__} got unknown option(s) {', '.join(sorted(unknown))}; "
                f"the keyword options are: {valid}")
        expected = self._client_class
        blocking = expected is httpx.Client
        self._urls = {}
        total = self._total = _seconds("timeout", timeout, DEFAULT_TIMEOUT)
        connect = _seconds("connect_timeout", connect_timeout, DEFAULT_CONNECT_TIMEOUT)
        read = _seconds("read_timeout", read_timeout, DEFAULT_READ_TIMEOUT)
        if max_response_bytes is _UNSET:
            max_response_bytes = DEFAULT_MAX_RESPONSE_BYTES
        if type(max_response_bytes) is not int or max_response_bytes < 0:
            raise UsageError(f"max_response_bytes must be an int >= 0, got {max_response_bytes!r}")
        self._max_body = max_response_bytes
        self._guard = None
        if client is None:
            # Write waits use the read timeout, as okru_trio's "each wait for the server"; the
            # pool wait comes first in a call, so the whole-call deadline bounds it exactly. It
            # asks only for the codings okru decodes itself with a bounded output (_response.py).
            self._client = expected(timeout=httpx.Timeout(connect=connect, read=read, write=read, pool=total),
                                    limits=DEFAULT_LIMITS, headers={"accept-encoding": ACCEPT_ENCODING},
                                    verify=_default_ssl_context())
            self._owns_client = True
            self._timeout = httpx.USE_CLIENT_DEFAULT
            if not bound_pools(self._client) and not blocking:
                self._guard = total  # an httpx that moved its pools: a cancel scope still bounds it
        elif isinstance(client, expected):
            # Used as it is: we never change its settings and never close it. Only the per-phase
            # options passed explicitly override its own, per request.
            self._client = client
            self._owns_client = False
            theirs = client.timeout
            phases = {"connect": connect if connect_timeout is not _UNSET else theirs.connect,
                      "read": read if read_timeout is not _UNSET else theirs.read,
                      "write": read if read_timeout is not _UNSET else theirs.write,
                      "pool": theirs.pool}
            if blocking:
                # No cancellation in a blocking client: every single wait is at most the whole
                # call (the body is also checked against the deadline between chunks).
                phases = {k: total if v is None or (total is not None and v > total) else v
                          for k, v in phases.items()}
            else:
                self._guard = total
            mine = httpx.Timeout(**phases)
            self._timeout = httpx.USE_CLIENT_DEFAULT if mine == theirs else mine
        else:
            raise UsageError(
                f"client must be an {expected.__module__}.{expected.__qualname__}, "
                f"not {type(client).__name__}")

    _urls: dict[str, httpx.URL]

    def _clock(self) -> float:
        return time.time()

    @property
    def client(self) -> Any:
        """The httpx client this session sends through (yours if you passed ``client=``)."""
        return self._client


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    # httpx builds a fresh context per client (loading the CA bundle: tens of ms per session);
    # one verifying context serves every session's own client (SSLContext is thread-safe).
    return httpx.create_ssl_context()



def _seconds(name: str, value: Any, default: float) -> float | None:
    if value is _UNSET:
        return default
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < math.inf:
        return float(value)
    if name == "timeout" and isinstance(value, (httpx.Timeout, tuple)):
        raise UsageError(
            "timeout= is the whole-call deadline in seconds (a number, or None for none); httpx's "
            "per-phase timeouts are the options connect_timeout= and read_timeout=, or the "
            "timeout of your own client= (docs/limits.md)")
    raise UsageError(f"{name} must be a positive number of seconds or None, got {value!r}")
