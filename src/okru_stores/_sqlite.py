"""``SQLiteTokenStore``: one file shared by every process of one machine (standard ``sqlite3``).

Each operation opens its own short connection (a worker forked after the store was built, as
gunicorn and Celery do, never shares one) and runs one ``BEGIN IMMEDIATE`` transaction, so a
compare-and-set or a lease grab is atomic across threads and processes. The file is in WAL mode
(readers never wait for the writer) and is created mode 0600 (SQLite gives its -wal and -shm
files the same mode): it holds refresh tokens, long-lived credentials. Waiting on another
writer is bounded by ``timeout``; every failure is a :class:`~okru_proto.StoreError`.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

from okru_proto import Token
from okru_proto._store import StoredToken, StoreError

from ._common import Codec, to_thread

__all__ = ["SQLiteTokenStore"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS okru_tokens (
    key TEXT PRIMARY KEY, generation INTEGER NOT NULL, token BLOB NOT NULL, saved_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS okru_leases (
    key TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at REAL NOT NULL);
"""


class SQLiteTokenStore:
    """Tokens and leases in the SQLite file at ``path`` (created 0600 if missing).

    ``lease_ttl``: how long a refresher may hold the lease (a killed one blocks the others this
    long at most); ``lease_wait``: how long a process waits for another one's refresh;
    ``timeout``: how long one operation waits for the file's write lock. ``encrypt``/``decrypt``:
    ``bytes -> bytes`` applied to the stored token (e.g. Fernet's), both or neither.
    Leases are timed by the wall clock, which the processes of one machine share.
    """

    def __init__(self, path: str | os.PathLike[str], *, lease_ttl: float = 30.0, lease_wait: float = 35.0,
                 timeout: float = 5.0, encrypt: Callable[[bytes], bytes] | None = None,
                 decrypt: Callable[[bytes], bytes] | None = None) -> None:
        self.path = os.fspath(path)
        self.lease_ttl = lease_ttl
        self.lease_wait = lease_wait
        self.timeout = timeout
        self._codec = Codec(encrypt, decrypt)
        try:
            # Created 0600 before SQLite opens it: SQLite would create it 0644 (umask).
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        except OSError as exc:
            raise StoreError(f"cannot create the token store file {self.path!r}: {exc.strerror}") from exc

        def setup(db: sqlite3.Connection) -> None:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

        self._run(setup)

    def _run(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        try:
            db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the token store {self.path!r}: {exc}") from exc
        try:
            return operation(db)
        except sqlite3.Error as exc:
            raise StoreError(f"the token store {self.path!r} failed: {exc}") from exc
        finally:
            db.close()

    @staticmethod
    def _write(db: sqlite3.Connection, body: Callable[[], T]) -> T:
        db.execute("BEGIN IMMEDIATE")  # the write lock now: read-then-write is atomic
        try:
            result = body()
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result

    # -- the TokenStore protocol ---------------------------------------------------------------
    def load(self, key: str) -> StoredToken | None:
        row = self._run(lambda db: db.execute(
            "SELECT token, generation FROM okru_tokens WHERE key = ?", (key,)).fetchone())
        if row is None:
            return None
        return self._codec.load(bytes(row[0])), int(row[1])

    def compare_and_set(self, key: str, token: Token, expected_generation: int) -> bool:
        data = self._codec.dump(token)

        def operation(db: sqlite3.Connection) -> bool:
            def body() -> bool:
                row = db.execute("SELECT generation FROM okru_tokens WHERE key = ?", (key,)).fetchone()
                if (0 if row is None else int(row[0])) != expected_generation:
                    return False
                db.execute("INSERT INTO okru_tokens (key, generation, token, saved_at) VALUES (?, ?, ?, ?) "
                           "ON CONFLICT(key) DO UPDATE SET generation = excluded.generation, "
                           "token = excluded.token, saved_at = excluded.saved_at",
                           (key, expected_generation + 1, data, time.time()))
                return True
            return self._write(db, body)

        return self._run(operation)

    def acquire_lease(self, key: str, holder: str, ttl: float) -> bool:
        def operation(db: sqlite3.Connection) -> bool:
            def body() -> bool:
                now = time.time()
                row = db.execute("SELECT holder, expires_at FROM okru_leases WHERE key = ?", (key,)).fetchone()
                if row is not None and row[0] != holder and float(row[1]) > now:
                    return False
                db.execute("INSERT INTO okru_leases (key, holder, expires_at) VALUES (?, ?, ?) "
                           "ON CONFLICT(key) DO UPDATE SET holder = excluded.holder, "
                           "expires_at = excluded.expires_at", (key, holder, now + ttl))
                return True
            return self._write(db, body)

        return self._run(operation)

    def release_lease(self, key: str, holder: str) -> None:
        self._run(lambda db: db.execute("DELETE FROM okru_leases WHERE key = ? AND holder = ?", (key, holder)))

    async def aload(self, key: str) -> StoredToken | None:
        return await to_thread(self.load, key)

    async def acompare_and_set(self, key: str, token: Token, expected_generation: int) -> bool:
        return await to_thread(self.compare_and_set, key, token, expected_generation)

    async def aacquire_lease(self, key: str, holder: str, ttl: float) -> bool:
        return await to_thread(self.acquire_lease, key, holder, ttl)

    async def arelease_lease(self, key: str, holder: str) -> None:
        await to_thread(self.release_lease, key, holder)

    def __repr__(self) -> str:
        return f"SQLiteTokenStore({self.path!r})"
