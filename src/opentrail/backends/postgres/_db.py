"""A pool of PostgreSQL connections and the one transaction helper every store uses.

`transaction(lock)` runs one transaction on a pooled connection; with `lock`, it first
takes that transaction-scoped advisory lock, so writes to one store are serialised
across every node as `BEGIN IMMEDIATE` serialises them within one SQLite file. A
transaction opened inside another on the same thread joins it (taking the lock too),
so a store's reads inside its write see that write's view. Advisory lock ids live here,
in one list, so no two users share one by accident. A database lost mid-run (no
connection within `wait` seconds, or one that breaks) is ServiceUnavailable: the change
was not acknowledged, the client retries, and the pool reconnects when it is back.

`read(run)` is the hot path's read (LookupEvents): no BEGIN/COMMIT (autocommit, each
statement its own snapshot) and no check of the pooled connection first, so one statement
costs one round trip; a connection the server dropped meanwhile fails the read, which then
runs once more on a checked connection (a read is safe to repeat).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from opentrail.backends._errors import DatabaseUnreachable
from opentrail.backends._url import redact_url, scrub
from opentrail.errors import ServiceUnavailable

__all__ = [
    "CATALOG_LOCK",
    "CHANNEL_LOCK",
    "CHECKPOINT_LOCK",
    "DELIVERY_LOCK",
    "DETECT_LOCK",
    "INSIGHTS_LOCK",
    "JOURNAL_LOCK_CLASS",
    "KEY_LOCK",
    "LAKE_IMPORT_LOCK",
    "LAKE_QUERY_LOCK",
    "LAKE_WRITER_COMMIT_LOCK",
    "LAKE_WRITER_LOCK",
    "LEDGER_LOCK",
    "MIGRATION_LOCK",
    "ROLE_LOCK_CLASS",
    "RULES_LOCK",
    "SIGNING_KEY_LOCK",
    "TRAIL_LOCK",
    "VAULT_LOCK",
    "Conn",
    "LockedRows",
    "PgDb",
    "connect",
]

Conn = psycopg.Connection[tuple[Any, ...]]
T = TypeVar("T")

# Advisory lock ids: 0x4F54 ("OT") then a number per user.
MIGRATION_LOCK = 0x4F54_0001
VAULT_LOCK = 0x4F54_0002
KEY_LOCK = 0x4F54_0003
TRAIL_LOCK = 0x4F54_0004
CHANNEL_LOCK = 0x4F54_0005
CATALOG_LOCK = 0x4F54_0006
SIGNING_KEY_LOCK = 0x4F54_0007
LEDGER_LOCK = 0x4F54_0008  # the sequencer: one ledger batch at a time, cluster-wide
CHECKPOINT_LOCK = 0x4F54_0009  # signed checkpoints: one insert at a time
DELIVERY_LOCK = 0x4F54_000A  # trail delivery's state: one write at a time
RULES_LOCK = 0x4F54_0012  # event rules' state (numbered after migration 0012): `migrate`
DETECT_LOCK = 0x4F54_0D13  # Sigma findings' cursor: one detector batch at a time
# The Lake writer's state (numbered after its migration, 0015, to stay clear of the ids
# other components take): one write transaction at a time, and one whole commit (pending
# keys, the location's puts, the record) at a time, a session lock.
LAKE_WRITER_LOCK = 0x4F54_0015
LAKE_WRITER_COMMIT_LOCK = 0x4F54_1015
# Numbered after its migration (0011), clear of the sequence above and of other stores'.
INSIGHTS_LOCK = 0x4F54_0011  # the Insights engine's state: one write at a time
LAKE_QUERY_LOCK = 0x4F54_0016  # Lake queries: the per-account limit of active queries
LAKE_IMPORT_LOCK = 0x4F54_0116  # Lake imports: one ongoing import per account
# Elected roles (_role.py) use the two-key form (this class, the name's CRC-32): a key
# space apart from the one-key locks above (PostgreSQL keeps the two forms distinct).
ROLE_LOCK_CLASS = 0x4F54
# The audit journal's writers (_journal.py): (this class, the node's number), held by
# each live node for its session; a free one means the node is gone.
JOURNAL_LOCK_CLASS = 0x4F55

CONNECT_TIMEOUT = 10


def connect(url: str) -> Conn:
    """One autocommit connection, or DatabaseUnreachable naming the URL without password."""
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
    except psycopg.Error as exc:
        reason = scrub(str(exc).strip(), url)
        raise DatabaseUnreachable(
            f"Cannot reach the database {redact_url(url)}: {reason}") from None


class PgDb:
    def __init__(self, url: str, *, max_size: int = 10, wait: float = 5.0) -> None:
        """`wait`: seconds a transaction waits for a connection before ServiceUnavailable."""
        self.url = url  # for connections of their own (elected roles' sessions)
        self.where = redact_url(url)
        connect(url).close()  # a clear error now rather than a pool timeout later
        # `check`: a connection the server dropped (restart, failover, idle timeout) is
        # replaced when taken from the pool instead of failing the next request.
        self.pool = ConnectionPool(url, min_size=1, max_size=max_size, open=False,
                                   kwargs={"autocommit": True,
                                           "connect_timeout": CONNECT_TIMEOUT},
                                   check=self._check,
                                   timeout=wait, name="opentrail")
        try:
            self.pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        except PoolTimeout:
            raise DatabaseUnreachable(f"Cannot reach the database {self.where}: no "
                                      f"connection within {CONNECT_TIMEOUT} s.") from None
        self._local = threading.local()

    def _check(self, conn: Conn) -> None:
        """The pool's check of a connection it lends (one round trip), skipped for
        `read`, which repeats itself on a checked connection instead."""
        if not getattr(self._local, "unchecked", False):
            ConnectionPool.check_connection(conn)

    def read(self, run: Callable[[Conn], T]) -> T:
        """`run(conn)` on a pooled connection outside a transaction (or inside this
        thread's transaction, joining it); run once more on a checked connection if the
        server had dropped the one lent. Database lost: ServiceUnavailable."""
        current: Conn | None = getattr(self._local, "conn", None)
        if current is not None:
            return run(current)
        try:
            for unchecked in (True, False):
                self._local.unchecked = unchecked
                try:
                    with self.pool.connection() as conn:
                        self._local.unchecked = False
                        try:
                            return run(conn)
                        except psycopg.OperationalError:
                            if not unchecked or not conn.broken:
                                raise
                finally:
                    self._local.unchecked = False
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise _unavailable() from exc
        raise AssertionError("unreachable: the checked attempt returns or raises")

    @contextmanager
    def transaction(self, lock: int | None = None) -> Iterator[Conn]:
        current: Conn | None = getattr(self._local, "conn", None)
        if current is not None:  # nested on this thread: the same transaction
            if lock is not None:
                current.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
            yield current
            return
        try:
            with self.pool.connection() as conn, conn.transaction():
                if lock is not None:
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
                self._local.conn = conn
                try:
                    yield conn
                finally:
                    self._local.conn = None
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise _unavailable() from exc

    def close(self) -> None:
        self.pool.close()


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("The database is unreachable right now, so nothing was "
                              "changed. Retry in a few seconds.")


ViewT = TypeVar("ViewT")


class LockedRows(Generic[ViewT]):
    """One store's rows: `read()` and `write()` transactions over the pool, each handing
    out the store's view of its connection; writes hold the store's advisory lock, so a
    check then a write (a free name, a per-region limit) holds across nodes."""

    def __init__(self, db: PgDb, lock: int, view: Callable[[Conn], ViewT]) -> None:
        self._db, self._lock, self._view = db, lock, view

    @contextmanager
    def read(self) -> Iterator[ViewT]:
        with self._db.transaction() as conn:
            yield self._view(conn)

    @contextmanager
    def write(self) -> Iterator[ViewT]:
        with self._db.transaction(self._lock) as conn:
            yield self._view(conn)

    def close(self) -> None:
        """The pool belongs to the backend, which closes it."""
