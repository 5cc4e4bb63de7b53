"""okru_stores' stores are every store protocol to the type checker, and the usual slips with
once records are type errors (run by test_typing.py)."""

from __future__ import annotations

from okru_proto import TokenStore
from okru_proto.adapter import Claim, OnceStore, ValueStore
from okru_stores import MemoryStore, RedisStore, SQLiteStore, SQLiteTokenStore

memory: OnceStore = MemoryStore()
sqlite: ValueStore = SQLiteStore("/var/lib/app/okru.sqlite3")
fleet: TokenStore = RedisStore("redis://localhost:6379/0")
old_name: OnceStore = SQLiteTokenStore("/var/lib/app/okru.sqlite3")


class OnlySync:
    def claim(self, key: str, holder: str, ttl: float) -> Claim:
        return Claim("claimed")

    def finish(self, key: str, holder: str, outcome: str, keep: float) -> bool:
        return True

    def release(self, key: str, holder: str) -> None:
        pass


not_a_once_store: OnceStore = OnlySync()  # type: ignore[assignment]
status: Claim = Claim("ok")  # type: ignore[arg-type]
memory.claim("pay:1", "server-a", "60")  # type: ignore[arg-type]
memory.finish("pay:1", "server-a", b"<ok/>", 3600)  # type: ignore[arg-type]
sqlite.set_value("chat:1", {"state": "x"})  # type: ignore[arg-type]
done: bool = memory.claim("pay:1", "server-a", 60)  # type: ignore[assignment]
