"""The writer lock of a PostgreSQL catalog: a session-level advisory lock held on a dedicated connection.

Several machines can reach one PostgreSQL catalog, so a lock file in a local store folder cannot keep them from
writing at once; the database can. The lock lives as long as its connection: released by `release()`, or by the
server when the process holding it dies (a SIGKILL leaves no stale lock).
"""

from __future__ import annotations

import hashlib
import time

from sqlalchemy import Connection, Engine, text

# advisory locks are per database: one fixed key means "the facevault writer of this database"
KEY = int.from_bytes(hashlib.sha256(b"facevault writer lock").digest()[:8], "big", signed=True)
POLL_S = 0.1


class Busy(Exception):
    """Another session holds the lock."""


class PgAdvisoryLock:
    """Re-entrant, like `filelock.FileLock`: `acquire(timeout)` / `release()`, counted."""

    def __init__(self, engine: Engine, key: int = KEY) -> None:
        self.engine, self.key = engine, key
        self._conn: Connection | None = None
        self._depth = 0

    @property
    def is_locked(self) -> bool:
        return self._depth > 0

    def acquire(self, timeout: float = 0.0) -> None:
        """Take the lock, trying until `timeout` seconds have passed (0: once); Busy when another holds it."""
        if self._depth:
            self._depth += 1
            return
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        deadline = time.monotonic() + max(0.0, timeout)
        try:
            while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar():
                if time.monotonic() >= deadline:
                    raise Busy()
                time.sleep(POLL_S)
        except BaseException:
            conn.close()
            raise
        self._conn, self._depth = conn, 1

    def release(self) -> None:
        if not self._depth:
            return
        self._depth -= 1
        if self._depth or self._conn is None:
            return
        conn, self._conn = self._conn, None
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
        finally:
            conn.close()  # closing the session would release it anyway
