"""The whole-call deadline of the httpx adapters: everything that makes ``timeout=`` bound a whole call lives here.

httpx has per-phase timeouts only: each read may take up to ``read``, so a server that sends
``100 Continue`` forever or drips a valid reply one byte per second holds a call for as long as
it goes on. The deadline of the call in progress (:class:`Deadline`) lives in the contextvar
:data:`DEADLINE` (one per thread and per task, so concurrent calls never see each other's); the
network backend of the client a session creates itself (:func:`bound_pools` puts it there) caps
every connect, TLS handshake, read and write at what is left of it. That costs a clock read per
socket operation, where a cancel scope per call would cost more than everything else okru adds
to a call. A user's own client is bounded from outside instead (a cancel scope in the async
adapter; per-read caps and checks between body chunks in the blocking one, see docs/limits.md).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx

__all__ = ["DEADLINE", "Deadline", "bound_pools"]

_monotonic = time.monotonic


class Deadline:
    """The deadline of one call: ``at`` (``time.monotonic()``), ``limit`` (the ``timeout=`` it
    came from) and ``hit`` (the last wait was cut short by it rather than by a per-phase timeout)."""

    __slots__ = ("at", "hit", "limit")

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.at = _monotonic() + limit
        self.hit = False

    def expired(self) -> bool:
        return self.hit or _monotonic() >= self.at


DEADLINE: ContextVar[Deadline | None] = ContextVar("okru_httpx_deadline", default=None)
_get_deadline = DEADLINE.get


def _cap(timeout: float | None, timeout_error: type[Exception]) -> float | None:
    """``timeout`` for one socket operation, cut to what is left of the current call's deadline."""
    deadline = _get_deadline()
    if deadline is None:
        return timeout
    remaining = deadline.at - _monotonic()
    if timeout is not None and timeout < remaining:
        deadline.hit = False
        return timeout
    deadline.hit = True
    if remaining <= 0:
        # A zero timeout would make the socket non-blocking, not time out: fail here.
        raise timeout_error(f"whole-call deadline timeout={deadline.limit:g} s expired")
    return remaining


class _Stream(httpcore.NetworkStream):
    __slots__ = ("_inner",)

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _cap(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _cap(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, _cap(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    """httpcore's network backend with every wait capped at the call's deadline (blocking)."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_tcp(host, port, _cap(timeout, httpcore.ConnectTimeout),
                                               local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_unix_socket(path, _cap(timeout, httpcore.ConnectTimeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _AsyncStream(httpcore.AsyncNetworkStream):
    __slots__ = ("_inner",)

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, _cap(timeout, httpcore.ReadTimeout))

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, _cap(timeout, httpcore.WriteTimeout))

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        return _AsyncStream(await self._inner.start_tls(ssl_context, server_hostname,
                                                        _cap(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _AsyncBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with every wait capped at the call's deadline (async)."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        return _AsyncStream(await self._inner.connect_tcp(host, port, _cap(timeout, httpcore.ConnectTimeout),
                                                          local_address, socket_options))

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        return _AsyncStream(await self._inner.connect_unix_socket(
            path, _cap(timeout, httpcore.ConnectTimeout), socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def bound_pools(client: httpx.Client | httpx.AsyncClient) -> int:
    """Put the deadline-capping backend under every connection pool of our own ``client``.

    httpx takes no network backend, so this reaches into its transports (``_transport``, and
    ``_mounts`` for proxies from the environment) and httpcore's pools (``_network_backend``).
    Returns how many pools were wrapped; a test fails if an httpx release moves them.
    """
    wrapped = 0
    transports = [getattr(client, "_transport", None), *getattr(client, "_mounts", {}).values()]
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, httpcore.NetworkBackend) and not isinstance(backend, _Backend):
            pool._network_backend = _Backend(backend)  # type: ignore[union-attr]
            wrapped += 1
        elif isinstance(backend, httpcore.AsyncNetworkBackend) and not isinstance(backend, _AsyncBackend):
            pool._network_backend = _AsyncBackend(backend)  # type: ignore[union-attr]
            wrapped += 1
    return wrapped
