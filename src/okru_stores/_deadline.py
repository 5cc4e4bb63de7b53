"""The Redis store's ``timeout=`` is one operation's, whole: everything that bounds the time of
an operation on a client okru built from a URL lives here.

redis-py has per-phase timeouts (connect, and each socket read or write) and retries: a Redis
that accepts and never answers held ``timeout=5`` for 15 s (three tries of one read), and an
operation that needs a new connection waits for the connect, the handshake's replies
(``CLIENT SETINFO``, ``AUTH``, ``SELECT``) and the command's, each up to the timeout. The store
builds its client with no retries and with the connection classes below: before it connects,
sends or reads, a connection cuts its socket's timeout to what is left of the operation's
deadline (:data:`DEADLINE`, set by :func:`deadline` around each operation, per thread), and once
nothing is left it drops the connection (a reply may still be on its way) and fails with
``redis.TimeoutError``. The socket itself does the same before every ``recv``/``send`` (its
class is switched to a subclass that does), so a server dripping a reply byte by byte cannot
stretch one read past the deadline either.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import redis
import redis.connection

__all__ = ["DEADLINE", "connection_class", "deadline"]

T = TypeVar("T")

#: The ``time.monotonic()`` by which the current operation must end, or None (no bound).
DEADLINE: ContextVar[float | None] = ContextVar("okru_stores_redis_deadline", default=None)


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    token = DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        DEADLINE.reset(token)


def _bounded(sock: socket.socket, call: Callable[[], T]) -> T:
    """``call()`` (one recv or send of ``sock``) waiting at most what is left of the deadline;
    a shorter timeout redis-py set (0 when it only peeks) stays, and is restored after."""
    at = DEADLINE.get()
    if at is None:
        return call()
    left = at - time.monotonic()
    if left <= 0:
        raise TimeoutError("the store's timeout expired")  # redis-py: socket.timeout -> TimeoutError
    wanted = sock.gettimeout()
    if wanted is not None and wanted <= left:
        return call()
    sock.settimeout(left)
    try:
        return call()
    finally:
        sock.settimeout(wanted)


class _Socket(socket.socket):
    __slots__ = ()

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        return _bounded(self, lambda: super(_Socket, self).recv(bufsize, flags))

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        return _bounded(self, lambda: super(_Socket, self).recv_into(buffer, nbytes, flags))

    def sendall(self, data: Any, flags: int = 0) -> None:
        _bounded(self, lambda: super(_Socket, self).sendall(data, flags))


class _TLSSocket(ssl.SSLSocket):
    __slots__ = ()

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        return _bounded(self, lambda: super(_TLSSocket, self).recv(buflen, flags))

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        return _bounded(self, lambda: super(_TLSSocket, self).recv_into(buffer, nbytes, flags))

    def sendall(self, data: Any, flags: int = 0) -> None:
        _bounded(self, lambda: super(_TLSSocket, self).sendall(data, flags))


def _bounded_socket(sock: Any) -> Any:
    # Same memory layout (the subclasses add no slots), so the class can be switched in place.
    if type(sock) is socket.socket:
        sock.__class__ = _Socket
    elif type(sock) is ssl.SSLSocket:
        sock.__class__ = _TLSSocket
    return sock


class _Bounded:
    """Mixed before a redis-py connection class: every phase waits at most what is left."""

    _sock: Any
    socket_timeout: Any
    socket_connect_timeout: Any

    def _left(self) -> float | None:
        at = DEADLINE.get()
        if at is None:
            return None
        left = at - time.monotonic()
        if left <= 0:
            self.disconnect()  # type: ignore[attr-defined]
            raise redis.TimeoutError("the store's timeout expired")
        return left

    def _connect(self) -> Any:
        left = self._left()
        if left is not None:
            self.socket_connect_timeout = left
            self.socket_timeout = left
        return _bounded_socket(super()._connect())  # type: ignore[misc]

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        left = self._left()
        if left is not None and self._sock is not None:
            self._sock.settimeout(left)
        super().send_packed_command(command, check_health)  # type: ignore[misc]

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        left = self._left()
        if left is not None and self._sock is not None:
            self._sock.settimeout(left)
        return super().read_response(*args, **kwargs)  # type: ignore[misc]


class _TCP(_Bounded, redis.connection.Connection):
    pass


class _TLS(_Bounded, redis.connection.SSLConnection):
    pass


class _Unix(_Bounded, redis.connection.UnixDomainSocketConnection):
    pass


def connection_class(scheme: str) -> type[Any]:
    """The bounded connection class for a URL's scheme (``redis``, ``rediss``, ``unix``)."""
    return {"redis": _TCP, "rediss": _TLS, "unix": _Unix}[scheme.lower()]
