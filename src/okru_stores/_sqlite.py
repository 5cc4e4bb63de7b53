"""``SQLiteStore``: one file shared by every process of one machine (standard ``sqlite3``).

Each operation opens its own short connection (a worker forked after the store was built, as
gunicorn and Celery do, never shares one) and runs one ``BEGIN IMMEDIATE`` transaction, so a
compare-and-set, a lease grab or a claim is atomic across threads and processes. Tokens, leases,
once records and values are four tables: a key of one kind never reaches another kind's record.
The file is in WAL mode (readers never wait for the writer) and private (``_private_file``:
created 0600, never through a link, fixed or refused when others could read it). Waiting on
another writer is bounded by ``timeout``; every failure is a :class:`~okru_proto.StoreError`.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

from okru_proto import Token
from okru_proto._store import Claim, StoredToken, StoreError

from ._common import Codec, check_holder, check_key, check_text, check_ttl, to_thread
from ._private_file import identity, make_private

__all__ = ["SQLiteStore", "SQLiteTokenStore"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS okru_tokens (
    key TEXT PRIMARY KEY, generation INTEGER NOT NULL, token BLOB NOT NULL, saved_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS okru_leases (
    key TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS okru_once (
    key TEXT PRIMARY KEY, holder TEXT, outcome TEXT, expires_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS okru_once_expiry ON okru_once (expires_at);
CREATE TABLE IF NOT EXISTS okru_values (
    key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL);
CREATE INDEX IF NOT EXISTS okru_values_expiry ON okru_values (expires_at);
"""

#: Expired once records and values are dropped when read; what is never read again is swept
#: by a write at most this often (seconds) per store object: one indexed DELETE.
_SWEEP_EVERY = 60.0


class SQLiteStore:
    """Tokens (with leases), once records and values in the SQLite file at ``path``.

    ``lease_ttl``/``lease_wait``: see :class:`~okru_proto.TokenStore`; ``timeout``: how long one
    operation waits for the file's write lock. ``encrypt``/``decrypt``: ``bytes -> bytes``
    applied to the stored token (e.g. Fernet's), both or neither. ``clock`` (default
    ``time.time``, the wall clock the processes of one machine share) times every expiry; every
    process sharing the file must use the same one.
    """

    def __init__(self, path: str | os.PathLike[str], *, lease_ttl: float = 30.0,
                 lease_wait: float | None = None, timeout: float = 5.0,
                 encrypt: Callable[[bytes], bytes] | None = None,
                 decrypt: Callable[[bytes], bytes] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = os.fspath(path)
        self._clock = clock
        self.lease_ttl = lease_ttl
        self.lease_wait = lease_wait
        self.timeout = timeout
        self._codec = Codec(encrypt, decrypt)
        self._identity: tuple[int, int, int] | None = (-1, -1, -1)  # not checked yet
        self._next_sweep = 0.0
        self._run(lambda db: None)

    def _run(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        fresh = identity(self.path) != self._identity
        if fresh:
            # New, or replaced since it was checked (or deleted): check it again (never through a
            # link), and give a new file its tables.
            self._identity = make_private(self.path)
        try:
            db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store {self.path!r}: {exc}") from exc
        try:
            if fresh:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(_SCHEMA)
            return operation(db)
        except sqlite3.Error as exc:
            raise StoreError(f"the store {self.path!r} failed: {exc}") from exc
        finally:
            db.close()

    def _write(self, body: Callable[[sqlite3.Connection, float], T]) -> T:
        """``body(db, now)`` in one ``BEGIN IMMEDIATE`` transaction: read-then-write is atomic."""
        def operation(db: sqlite3.Connection) -> T:
            db.execute("BEGIN IMMEDIATE")  # the write lock now
            try:
                now = self._clock()
                result = body(db, now)
                if now >= self._next_sweep:
                    self._next_sweep = now + _SWEEP_EVERY
                    db.execute("DELETE FROM okru_once WHERE expires_at <= ?", (now,))
                    db.execute("DELETE FROM okru_values WHERE expires_at <= ?", (now,))
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result

        return self._run(operation)

    # -- TokenStore ----------------------------------------------------------------------------
    def load(self, key: str) -> StoredToken | None:
        row = self._run(lambda db: db.execute(
            "SELECT token, generation FROM okru_tokens WHERE key = ?", (key,)).fetchone())
        if row is None:
            return None
        return self._codec.load(bytes(row[0])), int(row[1])

    def compare_and_set(self, key: str, token: Token, expected_generation: int) -> bool:
        data = self._codec.dump(token)

        def body(db: sqlite3.Connection, now: float) -> bool:
            row = db.execute("SELECT generation FROM okru_tokens WHERE key = ?", (key,)).fetchone()
            if (0 if row is None else int(row[0])) != expected_generation:
                return False
            db.execute("INSERT INTO okru_tokens (key, generation, token, saved_at) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT(key) DO UPDATE SET generation = excluded.generation, "
                       "token = excluded.token, saved_at = excluded.saved_at",
                       (key, expected_generation + 1, data, now))
            return True

        return self._write(body)

    def acquire_lease(self, key: str, holder: str, ttl: float) -> bool:
        def body(db: sqlite3.Connection, now: float) -> bool:
            row = db.execute("SELECT holder, expires_at FROM okru_leases WHERE key = ?", (key,)).fetchone()
            if row is not None and row[0] != holder and float(row[1]) > now:
                return False
            db.execute("INSERT INTO okru_leases (key, holder, expires_at) VALUES (?, ?, ?) "
                       "ON CONFLICT(key) DO UPDATE SET holder = excluded.holder, "
                       "expires_at = excluded.expires_at", (key, holder, now + ttl))
            return True

        return self._write(body)

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

    # -- OnceStore -----------------------------------------------------------------------------
    # A row is a claim (holder set, outcome NULL) or an outcome (outcome set, holder NULL), live
    # until expires_at.
    def claim(self, key: str, holder: str, ttl: float) -> Claim:
        check_key(key)
        check_holder(holder)
        seconds = check_ttl("ttl", ttl)
        assert seconds is not None

        def body(db: sqlite3.Connection, now: float) -> Claim:
            row = db.execute("SELECT holder, outcome, expires_at FROM okru_once WHERE key = ?",
                             (key,)).fetchone()
            if row is not None and float(row[2]) > now:
                if row[1] is not None:
                    return Claim("done", str(row[1]))
                if row[0] != holder:
                    return Claim("busy")
            db.execute("INSERT INTO okru_once (key, holder, outcome, expires_at) VALUES (?, ?, NULL, ?) "
                       "ON CONFLICT(key) DO UPDATE SET holder = excluded.holder, outcome = NULL, "
                       "expires_at = excluded.expires_at", (key, holder, now + seconds))
            return Claim("claimed")

        return self._write(body)

    def finish(self, key: str, holder: str, outcome: str, keep: float) -> bool:
        check_key(key)
        check_holder(holder)
        check_text("outcome", outcome)
        seconds = check_ttl("keep", keep)
        assert seconds is not None

        def body(db: sqlite3.Connection, now: float) -> bool:
            row = db.execute("SELECT outcome, expires_at FROM okru_once WHERE key = ?", (key,)).fetchone()
            if row is not None and row[0] is not None and float(row[1]) > now:
                return False
            db.execute("INSERT INTO okru_once (key, holder, outcome, expires_at) VALUES (?, NULL, ?, ?) "
                       "ON CONFLICT(key) DO UPDATE SET holder = NULL, outcome = excluded.outcome, "
                       "expires_at = excluded.expires_at", (key, outcome, now + seconds))
            return True

        return self._write(body)

    def release(self, key: str, holder: str) -> None:
        check_key(key)
        check_holder(holder)
        self._run(lambda db: db.execute("DELETE FROM okru_once WHERE key = ? AND holder = ?", (key, holder)))

    async def aclaim(self, key: str, holder: str, ttl: float) -> Claim:
        return await to_thread(self.claim, key, holder, ttl)

    async def afinish(self, key: str, holder: str, outcome: str, keep: float) -> bool:
        return await to_thread(self.finish, key, holder, outcome, keep)

    async def arelease(self, key: str, holder: str) -> None:
        await to_thread(self.release, key, holder)

    # -- ValueStore ----------------------------------------------------------------------------
    def get_value(self, key: str) -> str | None:
        check_key(key)
        row = self._run(lambda db: db.execute(
            "SELECT value FROM okru_values WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
            (key, self._clock())).fetchone())
        return None if row is None else str(row[0])

    def set_value(self, key: str, value: str, ttl: float | None = None) -> None:
        check_key(key)
        check_text("value", value)
        seconds = check_ttl("ttl", ttl, optional=True)

        def body(db: sqlite3.Connection, now: float) -> None:
            db.execute("INSERT INTO okru_values (key, value, expires_at) VALUES (?, ?, ?) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
                       (key, value, None if seconds is None else now + seconds))

        self._write(body)

    def delete_value(self, key: str) -> None:
        check_key(key)
        self._run(lambda db: db.execute("DELETE FROM okru_values WHERE key = ?", (key,)))

    async def aget_value(self, key: str) -> str | None:
        return await to_thread(self.get_value, key)

    async def aset_value(self, key: str, value: str, ttl: float | None = None) -> None:
        await to_thread(self.set_value, key, value, ttl)

    async def adelete_value(self, key: str) -> None:
        await to_thread(self.delete_value, key)

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"


#: The name before stores kept more than tokens (okru 0.1); the same class.
SQLiteTokenStore = SQLiteStore
