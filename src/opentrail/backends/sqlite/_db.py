"""One SQLite file shared by the threads of a process: the one transaction helper.

Every store on SQLite keeps one connection (autocommit mode) under one re-entrant lock.
`write()` is `BEGIN IMMEDIATE` ... `COMMIT` (`ROLLBACK` on any exception), so a rule
checked inside it holds at commit even with another process writing the same file;
`read()` takes the lock only, and inside a `write()` on the same thread it reads that
transaction's view. A file made `private` is created 0600 in a 0700 folder before SQLite
opens it (SQLite would make it 0644; its -wal and -shm files copy the file's mode).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Generic, TypeVar

from opentrail.datadir import make_private_dir

__all__ = ["SqliteDb", "SqliteRows"]


class SqliteDb:
    def __init__(self, path: Path, schema: str, *, durable: bool = False,
                 private: bool = False, timeout: float = 30) -> None:
        """`durable`: `synchronous=FULL`, for configuration that must survive a crash."""
        self.path = Path(path)
        if private:
            _create_private(self.path)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, isolation_level=None,
                                    check_same_thread=False, timeout=timeout)
        self.conn.execute("PRAGMA journal_mode=WAL")  # readers go on while another writes
        if durable:
            self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.executescript(schema)
        self.lock = threading.RLock()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            yield self.conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            if self.conn.in_transaction:  # nested in this thread's write: one transaction
                yield self.conn
                return
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def close(self) -> None:
        with self.lock:
            self.conn.close()


def _create_private(path: Path) -> None:
    make_private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        os.chmod(path, 0o600)
    except FileExistsError:
        pass


ViewT = TypeVar("ViewT")


class SqliteRows(Generic[ViewT]):
    """One store's rows in its own file: `read()` and `write()` transactions of `db`,
    each handing out the store's view of the connection."""

    def __init__(self, db: SqliteDb, view: Callable[[sqlite3.Connection], ViewT]) -> None:
        self._db, self._view = db, view

    @contextmanager
    def read(self) -> Iterator[ViewT]:
        with self._db.read() as conn:
            yield self._view(conn)

    @contextmanager
    def write(self) -> Iterator[ViewT]:
        with self._db.write() as conn:
            yield self._view(conn)

    def close(self) -> None:
        self._db.close()
