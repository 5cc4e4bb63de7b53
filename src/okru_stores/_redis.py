"""``RedisStore``: tokens, once records and values for a fleet (many machines), on Redis 6+ or
Valkey (redis-py).

Every record kind has its own namespace: ``<prefix>okru:<kind>:{<key>}`` with kind ``token`` (a
hash: ``g`` the generation, ``t`` the stored token), ``lease``, ``claim``, ``outcome`` or
``value`` (strings). The kind is a fixed word before the key, so no key, whatever its
characters, reaches another kind's record (``"k:lease"`` is a token key like any other); the
braces are a hash tag, so one key's records sit in one Redis Cluster slot. Leases and claims are
``SET ... PX`` (they expire on their own: a killed holder blocks the others for their TTL at
most) and are dropped by compare-and-delete; compare-and-set, claim and finish are Lua scripts,
atomic on the server.

Give a URL, a ``redis.Redis`` or a ``redis.asyncio.Redis``. From a URL the store builds a
blocking client with no retries whose ``timeout`` bounds each whole operation (``_deadline``);
a client you pass keeps its own timeouts and retries (an asyncio client's operations are also
cut at ``timeout``). Async methods await an asyncio client directly; a blocking client (the
only kind that runs under trio) runs in a worker thread. Every failure is a
:class:`~okru_proto.StoreError` that never shows a password (``_url``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from okru_proto import Token, UsageError
from okru_proto._store import Claim, StoredToken, StoreError

from ._common import Codec, check_holder, check_key, check_text, check_ttl, to_thread
from ._url import RedisURL, read_redis_url

try:
    import redis
    import redis.asyncio
    from redis.backoff import NoBackoff
    from redis.retry import Retry
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("RedisStore needs the redis package: pip install 'okru[redis]'") from exc

from ._deadline import connection_class, deadline

__all__ = ["RedisStore", "RedisTokenStore"]

T = TypeVar("T")

_CAS = """
local current = tonumber(redis.call('HGET', KEYS[1], 'g') or '0')
if current ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'g', current + 1, 't', ARGV[2])
return 1
"""
# KEYS: lease. ARGV: holder, ttl (ms). A free or expired lease is taken; its holder renews it.
_LEASE = """
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# KEYS: claim, outcome. ARGV: holder, ttl (ms).
_CLAIM = """
local done = redis.call('GET', KEYS[2])
if done then return {'done', done} end
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return {'busy'} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {'claimed'}
"""
# KEYS: claim, outcome. ARGV: outcome, keep (ms).
_FINISH = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
redis.call('DEL', KEYS[1])
return 1
"""


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class RedisStore:
    """Tokens (with leases), once records and values in Redis. ``client_or_url``:
    ``"redis://[:password@]host:6379/0"`` (``rediss://`` for TLS, ``unix:///path``), a
    ``redis.Redis`` or a ``redis.asyncio.Redis``. ``prefix`` is put before every key.
    ``lease_ttl``/``lease_wait``: see :class:`~okru_proto.TokenStore`. ``timeout`` (seconds)
    bounds each whole operation. ``encrypt``/``decrypt``: a ``bytes -> bytes`` hook pair for the
    stored token."""

    def __init__(self, client_or_url: str | redis.Redis | redis.asyncio.Redis, *, prefix: str = "",
                 lease_ttl: float = 30.0, lease_wait: float | None = None, timeout: float = 5.0,
                 encrypt: Callable[[bytes], bytes] | None = None,
                 decrypt: Callable[[bytes], bytes] | None = None) -> None:
        if not isinstance(prefix, str):
            raise UsageError(f"prefix must be a str, got {type(prefix).__name__}")
        seconds = check_ttl("timeout", timeout)
        assert seconds is not None
        self.lease_ttl = lease_ttl
        self.lease_wait = lease_wait
        self.prefix = prefix
        self.timeout = seconds
        self._codec = Codec(encrypt, decrypt)
        self._sync: redis.Redis | None = None
        self._async: redis.asyncio.Redis | None = None
        self._url = RedisURL("a Redis client")
        self._owned = isinstance(client_or_url, str)
        if isinstance(client_or_url, str):
            self._url = read_redis_url(client_or_url)
            try:
                self._sync = redis.Redis.from_url(
                    client_or_url, socket_timeout=seconds, socket_connect_timeout=seconds,
                    retry=Retry(NoBackoff(), 0), retry_on_timeout=False,
                    connection_class=connection_class(client_or_url.partition(":")[0]))
            except (ValueError, TypeError) as exc:
                raise UsageError(f"redis-py refused the Redis URL {self._url.where!r}: "
                                 f"{self._url.scrub(str(exc))}") from None
        elif isinstance(client_or_url, redis.asyncio.Redis):
            self._async = client_or_url
            self._url = RedisURL("an asyncio Redis client")
        elif isinstance(client_or_url, redis.Redis):
            self._sync = client_or_url
        else:
            raise UsageError(f"RedisStore takes a redis:// URL, a redis.Redis or a "
                             f"redis.asyncio.Redis, not {type(client_or_url).__name__}")
        client: Any = self._sync if self._sync is not None else self._async
        self._cas = client.register_script(_CAS)
        self._lease = client.register_script(_LEASE)
        self._release = client.register_script(_RELEASE)
        self._claim = client.register_script(_CLAIM)
        self._finish = client.register_script(_FINISH)

    def _key(self, kind: str, key: str) -> str:
        return f"{self.prefix}okru:{kind}:{{{key}}}"

    def _failed(self, exc: Exception) -> StoreError:
        what = "timed out" if isinstance(exc, (redis.TimeoutError, TimeoutError)) else "failed"
        return StoreError(f"the Redis store ({self._url.where}) {what}: "
                          f"{type(exc).__name__}: {self._url.scrub(str(exc))}")

    def _blocking(self, operation: Callable[[redis.Redis], T]) -> T:
        if self._sync is None:
            raise UsageError("this RedisStore holds a redis.asyncio client: use it from async "
                             "code, or give it a URL or a redis.Redis")
        try:
            with deadline(self.timeout):
                return operation(self._sync)
        except redis.RedisError as exc:
            raise self._failed(exc) from exc

    async def _awaiting(self, operation: Callable[[Any], Awaitable[T]]) -> T:
        import anyio

        try:
            with anyio.fail_after(self.timeout):
                return await operation(self._async)
        except (redis.RedisError, TimeoutError) as exc:
            raise self._failed(exc) from exc

    def _decode(self, fields: list[Any]) -> StoredToken | None:
        generation, data = fields
        if generation is None or data is None:
            return None
        return self._codec.load(data.encode("utf-8") if isinstance(data, str) else bytes(data)), int(generation)

    @staticmethod
    def _claimed(reply: list[Any]) -> Claim:
        status = _text(reply[0])
        if status == "done":
            return Claim("done", _text(reply[1]))
        return Claim("busy") if status == "busy" else Claim("claimed")

    # -- TokenStore ----------------------------------------------------------------------------
    def load(self, key: str) -> StoredToken | None:
        return self._decode(self._blocking(lambda r: r.hmget(self._key("token", key), ["g", "t"])))

    def compare_and_set(self, key: str, token: Token, expected_generation: int) -> bool:
        data = self._codec.dump(token)
        return bool(self._blocking(lambda r: self._cas(keys=[self._key("token", key)],
                                                       args=[expected_generation, data], client=r)))

    def acquire_lease(self, key: str, holder: str, ttl: float) -> bool:
        return bool(self._blocking(
            lambda r: self._lease(keys=[self._key("lease", key)], args=[holder, _ms(ttl)], client=r)))

    def release_lease(self, key: str, holder: str) -> None:
        self._blocking(lambda r: self._release(keys=[self._key("lease", key)], args=[holder], client=r))

    async def aload(self, key: str) -> StoredToken | None:
        if self._async is None:
            return await to_thread(self.load, key)
        return self._decode(await self._awaiting(lambda r: r.hmget(self._key("token", key), ["g", "t"])))

    async def acompare_and_set(self, key: str, token: Token, expected_generation: int) -> bool:
        if self._async is None:
            return await to_thread(self.compare_and_set, key, token, expected_generation)
        data = self._codec.dump(token)
        return bool(await self._awaiting(
            lambda r: self._cas(keys=[self._key("token", key)], args=[expected_generation, data], client=r)))

    async def aacquire_lease(self, key: str, holder: str, ttl: float) -> bool:
        if self._async is None:
            return await to_thread(self.acquire_lease, key, holder, ttl)
        return bool(await self._awaiting(
            lambda r: self._lease(keys=[self._key("lease", key)], args=[holder, _ms(ttl)], client=r)))

    async def arelease_lease(self, key: str, holder: str) -> None:
        if self._async is None:
            await to_thread(self.release_lease, key, holder)
            return
        await self._awaiting(lambda r: self._release(keys=[self._key("lease", key)], args=[holder], client=r))

    # -- OnceStore -----------------------------------------------------------------------------
    def _once_keys(self, key: str) -> list[str]:
        check_key(key)
        return [self._key("claim", key), self._key("outcome", key)]

    def claim(self, key: str, holder: str, ttl: float) -> Claim:
        keys, ms = self._once_keys(key), _ms(check_ttl("ttl", ttl) or 0)
        check_holder(holder)
        return self._claimed(self._blocking(lambda r: self._claim(keys=keys, args=[holder, ms], client=r)))

    def finish(self, key: str, holder: str, outcome: str, keep: float) -> bool:
        keys, ms = self._once_keys(key), _ms(check_ttl("keep", keep) or 0)
        check_holder(holder)
        check_text("outcome", outcome)
        return bool(self._blocking(lambda r: self._finish(keys=keys, args=[outcome, ms], client=r)))

    def release(self, key: str, holder: str) -> None:
        keys = self._once_keys(key)
        check_holder(holder)
        self._blocking(lambda r: self._release(keys=keys[:1], args=[holder], client=r))

    async def aclaim(self, key: str, holder: str, ttl: float) -> Claim:
        if self._async is None:
            return await to_thread(self.claim, key, holder, ttl)
        keys, ms = self._once_keys(key), _ms(check_ttl("ttl", ttl) or 0)
        check_holder(holder)
        return self._claimed(await self._awaiting(lambda r: self._claim(keys=keys, args=[holder, ms], client=r)))

    async def afinish(self, key: str, holder: str, outcome: str, keep: float) -> bool:
        if self._async is None:
            return await to_thread(self.finish, key, holder, outcome, keep)
        keys, ms = self._once_keys(key), _ms(check_ttl("keep", keep) or 0)
        check_holder(holder)
        check_text("outcome", outcome)
        return bool(await self._awaiting(lambda r: self._finish(keys=keys, args=[outcome, ms], client=r)))

    async def arelease(self, key: str, holder: str) -> None:
        if self._async is None:
            await to_thread(self.release, key, holder)
            return
        keys = self._once_keys(key)
        check_holder(holder)
        await self._awaiting(lambda r: self._release(keys=keys[:1], args=[holder], client=r))

    # -- ValueStore ----------------------------------------------------------------------------
    def get_value(self, key: str) -> str | None:
        name = self._key("value", check_key(key))
        value = self._blocking(lambda r: r.get(name))
        return None if value is None else _text(value)

    def set_value(self, key: str, value: str, ttl: float | None = None) -> None:
        name = self._key("value", check_key(key))
        check_text("value", value)
        seconds = check_ttl("ttl", ttl, optional=True)
        self._blocking(lambda r: r.set(name, value, px=None if seconds is None else _ms(seconds)))

    def delete_value(self, key: str) -> None:
        name = self._key("value", check_key(key))
        self._blocking(lambda r: r.delete(name))

    async def aget_value(self, key: str) -> str | None:
        if self._async is None:
            return await to_thread(self.get_value, key)
        name = self._key("value", check_key(key))
        value = await self._awaiting(lambda r: r.get(name))
        return None if value is None else _text(value)

    async def aset_value(self, key: str, value: str, ttl: float | None = None) -> None:
        if self._async is None:
            await to_thread(self.set_value, key, value, ttl)
            return
        name = self._key("value", check_key(key))
        check_text("value", value)
        seconds = check_ttl("ttl", ttl, optional=True)
        await self._awaiting(lambda r: r.set(name, value, px=None if seconds is None else _ms(seconds)))

    async def adelete_value(self, key: str) -> None:
        if self._async is None:
            await to_thread(self.delete_value, key)
            return
        name = self._key("value", check_key(key))
        await self._awaiting(lambda r: r.delete(name))

    def close(self) -> None:
        """Close the client the store built from a URL (a client you passed stays yours)."""
        if self._sync is not None and self._owned:
            self._sync.close()

    def __repr__(self) -> str:
        return f"RedisStore({self._url.where!r}, prefix={self.prefix!r})"


#: The name before stores kept more than tokens (okru 0.1); the same class.
RedisTokenStore = RedisStore
