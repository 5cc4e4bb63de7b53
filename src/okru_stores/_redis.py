"""``RedisTokenStore``: one token for a fleet (many machines), on Redis 6+ or Valkey (redis-py).

The token is a hash ``<key>`` (fields ``g``: generation, ``t``: the stored token); the lease is
a string ``<key>:lease`` set with ``SET NX PX`` (it expires on its own: a killed holder blocks the
others ``lease_ttl`` at most) and released by a compare-and-delete script, so a holder whose lease
expired never deletes the next holder's. Compare-and-set is a Lua script (atomic on the server).

Give a URL (a blocking client is made with ``timeout`` on connect and reads and two quick
retries), a ``redis.Redis`` or a ``redis.asyncio.Redis``. Async sessions await an asyncio client
directly; with a blocking client (the only kind that runs under trio) the async methods run it in
a worker thread. Every failure is a :class:`~okru_proto.StoreError`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from okru_proto import Token, UsageError
from okru_proto._store import StoredToken, StoreError

from ._common import Codec, to_thread

try:
    import redis
    import redis.asyncio
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("RedisTokenStore needs the redis package: pip install 'okru[redis]'") from exc

__all__ = ["RedisTokenStore"]

T = TypeVar("T")

_CAS = """
local current = tonumber(redis.call('HGET', KEYS[1], 'g') or '0')
if current ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'g', current + 1, 't', ARGV[2])
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _hide_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class RedisTokenStore:
    """Tokens and leases in Redis. ``client_or_url``: ``"redis://host:6379/0"``, a
    ``redis.Redis`` or a ``redis.asyncio.Redis``. ``prefix`` is put before every key.
    ``lease_ttl``/``lease_wait`` as in :class:`~okru_stores.SQLiteTokenStore`; ``timeout``
    (seconds) bounds connecting and each reply when the store builds the client from a URL
    (configure your own client's ``socket_timeout`` likewise). ``encrypt``/``decrypt``: a
    ``bytes -> bytes`` hook pair for the stored token."""

    def __init__(self, client_or_url: str | redis.Redis | redis.asyncio.Redis, *, prefix: str = "",
                 lease_ttl: float = 30.0, lease_wait: float = 35.0, timeout: float = 5.0,
                 encrypt: Callable[[bytes], bytes] | None = None,
                 decrypt: Callable[[bytes], bytes] | None = None) -> None:
        self.lease_ttl = lease_ttl
        self.lease_wait = lease_wait
        self.prefix = prefix
        self._codec = Codec(encrypt, decrypt)
        self._sync: redis.Redis | None = None
        self._async: redis.asyncio.Redis | None = None
        self._owned = isinstance(client_or_url, str)
        if isinstance(client_or_url, str):
            self._where = _hide_password(client_or_url)
            try:
                self._sync = redis.Redis.from_url(
                    client_or_url, socket_timeout=timeout, socket_connect_timeout=timeout,
                    retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2))
            except ValueError as exc:
                raise UsageError(f"not a Redis URL: {self._where!r}") from exc
        elif isinstance(client_or_url, redis.asyncio.Redis):
            self._async = client_or_url
            self._where = "an asyncio Redis client"
        elif isinstance(client_or_url, redis.Redis):
            self._sync = client_or_url
            self._where = "a Redis client"
        else:
            raise UsageError(f"RedisTokenStore takes a redis:// URL, a redis.Redis or a "
                             f"redis.asyncio.Redis, not {type(client_or_url).__name__}")
        client: Any = self._sync if self._sync is not None else self._async
        self._cas = client.register_script(_CAS)
        self._release = client.register_script(_RELEASE)

    def _failed(self, exc: Exception) -> StoreError:
        return StoreError(f"the Redis token store ({self._where}) failed: {type(exc).__name__}: {exc}")

    def _blocking(self, operation: Callable[[redis.Redis], T]) -> T:
        if self._sync is None:
            raise UsageError("this RedisTokenStore holds a redis.asyncio client: use it from async "
                             "sessions, or give it a URL or a redis.Redis")
        try:
            return operation(self._sync)
        except redis.RedisError as exc:
            raise self._failed(exc) from exc

    async def _awaiting(self, operation: Callable[[Any], Awaitable[T]]) -> T:
        try:
            return await operation(self._async)
        except redis.RedisError as exc:
            raise self._failed(exc) from exc

    def _decode(self, fields: list[Any]) -> StoredToken | None:
        generation, data = fields
        if generation is None or data is None:
            return None
        return self._codec.load(data.encode("utf-8") if isinstance(data, str) else bytes(data)), int(generation)

    # -- the TokenStore protocol ---------------------------------------------------------------
    def load(self, key: str) -> StoredToken | None:
        return self._decode(self._blocking(lambda r: r.hmget(self.prefix + key, ["g", "t"])))

    def compare_and_set(self, key: str, token: Token, expected_generation: int) -> bool:
        data = self._codec.dump(token)
        return bool(self._blocking(lambda r: self._cas(keys=[self.prefix + key],
                                                       args=[expected_generation, data], client=r)))

    def acquire_lease(self, key: str, holder: str, ttl: float) -> bool:
        milliseconds = max(1, int(ttl * 1000))
        return bool(self._blocking(lambda r: r.set(self.prefix + key + ":lease", holder, nx=True, px=milliseconds)))

    def release_lease(self, key: str, holder: str) -> None:
        self._blocking(lambda r: self._release(keys=[self.prefix + key + ":lease"], args=[holder], client=r))

    async def aload(self, key: str) -> StoredToken | None:
        if self._async is None:
            return await to_thread(self.load, key)
        return self._decode(await self._awaiting(lambda r: r.hmget(self.prefix + key, ["g", "t"])))

    async def acompare_and_set(self, key: str, token: Token, expected_generation: int) -> bool:
        if self._async is None:
            return await to_thread(self.compare_and_set, key, token, expected_generation)
        data = self._codec.dump(token)
        return bool(await self._awaiting(
            lambda r: self._cas(keys=[self.prefix + key], args=[expected_generation, data], client=r)))

    async def aacquire_lease(self, key: str, holder: str, ttl: float) -> bool:
        if self._async is None:
            return await to_thread(self.acquire_lease, key, holder, ttl)
        milliseconds = max(1, int(ttl * 1000))
        return bool(await self._awaiting(
            lambda r: r.set(self.prefix + key + ":lease", holder, nx=True, px=milliseconds)))

    async def arelease_lease(self, key: str, holder: str) -> None:
        if self._async is None:
            await to_thread(self.release_lease, key, holder)
            return
        await self._awaiting(lambda r: self._release(keys=[self.prefix + key + ":lease"], args=[holder],
                                                      client=r))

    def close(self) -> None:
        """Close the client the store built from a URL (a client you passed stays yours)."""
        if self._sync is not None and self._owned:
            self._sync.close()

    def __repr__(self) -> str:
        return f"RedisTokenStore({self._where!r}, prefix={self.prefix!r})"
