"""The scale-out role: a session advisory lock held on a connection of its own.

`pg_try_advisory_lock(ROLE_LOCK_CLASS, crc32(name))` on a dedicated connection (not the
pool's: a session lock lives as long as its session). The holder checks its session is
alive on every `held()`; a broken connection means the role is lost, and the next
`held()` reconnects and tries again. A node that dies (kill -9) or loses the database
loses its session, and PostgreSQL frees the lock at once for the next node to take; a
machine that vanishes from the network is cut off by TCP keepalives (about 10 s on both
sides), so two holders can overlap only while a partitioned one has not yet noticed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import zlib

import psycopg
from psycopg.conninfo import make_conninfo

from opentrail.backends.postgres._db import ROLE_LOCK_CLASS, Conn

__all__ = ["PgRole", "role_key"]

log = logging.getLogger(__name__)

RETRY = 1.0  # seconds between connection attempts after a failure
# libpq's side: probe an idle connection after 5 s, give up after 2 unanswered probes
# or 10 s of unacknowledged data; the server's side is set per session below.
_CONNECT = {"connect_timeout": 3, "keepalives": 1, "keepalives_idle": 5,
            "keepalives_interval": 2, "keepalives_count": 2, "tcp_user_timeout": 10_000}
_SERVER_KEEPALIVES = ("SET tcp_keepalives_idle = 5", "SET tcp_keepalives_interval = 2",
                      "SET tcp_keepalives_count = 2")


def role_key(name: str) -> int:
    """The lock's second key: the name's CRC-32 as a signed 32-bit integer."""
    value = zlib.crc32(name.encode())
    return value - (1 << 32) if value >= 1 << 31 else value


class PgRole:
    def __init__(self, url: str, name: str, *, keys: tuple[int, int] | None = None) -> None:
        """`keys`: the lock's two keys when not (ROLE_LOCK_CLASS, the name's CRC-32)."""
        self.name = name
        self._url = url
        self._keys = keys or (ROLE_LOCK_CLASS, role_key(name))
        self._conn: Conn | None = None
        self._holding = False
        self._next_try = 0.0
        self._lock = threading.Lock()

    def held(self) -> bool:
        with self._lock:
            try:
                return self._check()
            except psycopg.Error as exc:
                if self._holding:
                    log.warning("role %s lost: %s", self.name, type(exc).__name__)
                self._drop()
                return False

    def _check(self) -> bool:
        if self._conn is None or self._conn.closed:
            if time.monotonic() < self._next_try:
                return False
            self._next_try = time.monotonic() + RETRY
            self._conn = psycopg.connect(make_conninfo(self._url, **_CONNECT),
                                         autocommit=True)
            for statement in _SERVER_KEEPALIVES:
                self._conn.execute(statement)
        if self._holding:
            self._conn.execute("SELECT 1")  # the session, and so the lock, is alive
            return True
        row = self._conn.execute("SELECT pg_try_advisory_lock(%s, %s)",
                                 self._keys).fetchone()
        self._holding = bool(row and row[0])
        if self._holding:
            log.info("role %s taken", self.name)
        return self._holding

    def release(self) -> None:
        """Unlock first: the server frees a closed session's locks a moment after the
        close returns, an unlock before it returns."""
        with self._lock:
            if self._conn is not None and self._holding:
                with contextlib.suppress(psycopg.Error):
                    self._conn.execute("SELECT pg_advisory_unlock(%s, %s)", self._keys)
            self._drop()

    def _drop(self) -> None:
        """Closing the session frees the lock (and a broken one is already freed)."""
        conn, self._conn, self._holding = self._conn, None, False
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()
