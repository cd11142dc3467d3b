"""The SQLite implementation of `LedgerReader`: the only SQL against `events` that
followers run.

Each thread gets its own read-only connection to ledger.db (a sqlite3 connection must
not serve two threads at once), opened on first use and closed by `close()`. A reader
made `over` a caller's connection uses that one and leaves it open.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentrail.ledger._reader import BodyRow, LedgerRow
from opentrail.ledger._schema import open_reader

__all__ = ["SqliteLedgerReader", "open_ledger_reader"]

COLUMNS = "seq, account, region, category, event_time, ingested, leaf, body"
IN_CHUNK = 500  # seqs per IN (...) list: far below SQLite's variable limit
# LedgerRow from a fetched tuple without a Python-level call (`_make` is one per row:
# a measurable share of the history indexer's CPU).
_row = functools.partial(tuple.__new__, LedgerRow)
_body_row = functools.partial(tuple.__new__, BodyRow)


class SqliteLedgerReader:
    """Reads DATA_DIR/ledger.db (see `LedgerReader` for what each call answers)."""

    def __init__(self, data_dir: Path | None, *, cache_kib: int = 16384,
                 conn: sqlite3.Connection | None = None) -> None:
        self._dir = data_dir
        self._cache_kib = cache_kib
        self._given = conn
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    @classmethod
    def over(cls, conn: sqlite3.Connection) -> SqliteLedgerReader:
        """A reader using `conn` (a connection to a ledger.db) in every thread; the caller
        keeps owning it."""
        return cls(None, conn=conn)

    def _conn(self) -> sqlite3.Connection:
        if self._given is not None:
            return self._given
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            assert self._dir is not None
            conn = self._local.conn = open_reader(self._dir)
            conn.execute(f"PRAGMA cache_size=-{self._cache_kib}")
            with self._lock:
                self._opened.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()
        self._local = threading.local()

    def size(self) -> int:
        row = self._conn().execute("SELECT MAX(seq) FROM events").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def rows(self, start: int, limit: int, end: int | None = None, *,
             category: int | None = None) -> list[LedgerRow]:
        where, params = "seq >= ?", [start]
        if end is not None:
            where, params = where + " AND seq < ?", [*params, end]
        if category is not None:
            where, params = where + " AND category = ?", [*params, category]
        rows = self._conn().execute(
            f"SELECT {COLUMNS} FROM events WHERE {where} ORDER BY seq LIMIT ?",
            [*params, limit]).fetchall()
        return list(map(_row, rows))

    def bodies_from(self, start: int, limit: int) -> list[BodyRow]:
        rows = self._conn().execute(
            "SELECT seq, account, region, body FROM events WHERE seq >= ? ORDER BY seq "
            "LIMIT ?", (start, limit)).fetchall()
        return list(map(_body_row, rows))

    def bodies(self, seqs: Sequence[int]) -> dict[int, bytes | None]:
        return self._by_seq("body", seqs)

    def leaves(self, seqs: Sequence[int]) -> dict[int, bytes]:
        return self._by_seq("leaf", seqs)

    def _by_seq(self, column: str, seqs: Sequence[int]) -> dict[int, Any]:
        conn, out = self._conn(), dict[int, Any]()
        wanted = list(seqs)
        for i in range(0, len(wanted), IN_CHUNK):
            chunk = wanted[i:i + IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            out.update(conn.execute(f"SELECT seq, {column} FROM events WHERE seq IN ({marks})",
                                    chunk))
        return out

    def event(self, account: str, event_id: str) -> LedgerRow | None:
        row = self._conn().execute(
            f"SELECT {COLUMNS} FROM events WHERE account = ? AND event_id = ?",
            (account, event_id)).fetchone()
        return None if row is None else _row(row)

    def accounts(self) -> list[str]:
        """A skip-scan of the (account, event_id) index: one probe per account."""
        rows = self._conn().execute(
            "WITH RECURSIVE a(account) AS (SELECT MIN(account) FROM events UNION ALL "
            "SELECT (SELECT MIN(account) FROM events WHERE account > a.account) FROM a "
            "WHERE a.account IS NOT NULL) SELECT account FROM a WHERE account IS NOT NULL")
        return [account for (account,) in rows]

    def first_ingested_at(self, ingested: int) -> int:
        """Binary search over point reads: ingest time grows with seq, seqs have no gaps."""
        conn = self._conn()
        lo, hi = 0, self.size()
        while lo < hi:
            mid = (lo + hi) // 2
            row = conn.execute("SELECT ingested FROM events WHERE seq = ?", (mid,)).fetchone()
            if row is None or row[0] >= ingested:
                hi = mid
            else:
                lo = mid + 1
        return lo


def open_ledger_reader(data_dir: Path, cache_kib: int = 16384) -> SqliteLedgerReader:
    """A reader of DATA_DIR/ledger.db; `cache_kib` bounds each thread's page cache."""
    return SqliteLedgerReader(data_dir, cache_kib=cache_kib)
