"""What the activity overview asks of a history index: management-event terms of an
(account, region), and postings counted or probed by time. Declared here, answered by
history.db (`HistoryDbActivityRows`, below, read-only, one connection per thread) and by
the database's tables (backends/postgres/_history.py, `PgActivityRows`), so the console
shows the same overview on either backend. Term ids are opaque: only passed back.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from opentrail.events import Category
from opentrail.history._fields import Attr
from opentrail.history._query import open_history_reader

__all__ = ["MANAGEMENT", "ActivityRows", "HistoryDbActivityRows"]

MANAGEMENT = int(Category.MANAGEMENT)  # the overview shows management events only


class ActivityRows(Protocol):
    def accounts(self) -> list[str]:
        """Every account with indexed events."""
        ...

    def term(self, account: str, region: str, attr: Attr, value: str) -> int | None:
        """The id of a management-event term, None when never indexed."""
        ...

    def error_terms(self, account: str, region: str) -> list[int]:
        """The ids of every errorCode term of the account's management events there."""
        ...

    def count(self, terms: Sequence[int], lo: int, hi: int) -> int:
        """Postings of these terms with lo <= time <= hi."""
        ...

    def first(self, term: int, lo: int, hi: int, limit: int) -> list[int]:
        """Seqs of the term's first `limit` postings from lo to hi, by (time, seq)."""
        ...

    def close(self) -> None: ...


class HistoryDbActivityRows:
    """`ActivityRows` over DATA_DIR/history.db, opened read-only."""

    def __init__(self, data_dir: Path) -> None:
        self._dir = data_dir
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = open_history_reader(self._dir)
        return conn

    def accounts(self) -> list[str]:
        return [a for (a,) in self._conn().execute("SELECT DISTINCT account FROM terms")]

    def term(self, account: str, region: str, attr: Attr, value: str) -> int | None:
        row = self._conn().execute(
            "SELECT id FROM terms WHERE account=? AND region=? AND category=? AND attr=? "
            "AND value=?", (account, region, MANAGEMENT, int(attr), value)).fetchone()
        return None if row is None else int(row[0])

    def error_terms(self, account: str, region: str) -> list[int]:
        rows = self._conn().execute(
            "SELECT id FROM terms WHERE account=? AND region=? AND category=? AND attr=?",
            (account, region, MANAGEMENT, int(Attr.ERROR_CODE)))
        return [int(t) for (t,) in rows]

    def count(self, terms: Sequence[int], lo: int, hi: int) -> int:
        marks = ",".join("?" * len(terms))
        row = self._conn().execute(
            f"SELECT count(*) FROM postings WHERE term IN ({marks}) AND time >= ? "
            "AND time <= ?", [*terms, lo, hi]).fetchone()
        return int(row[0])

    def first(self, term: int, lo: int, hi: int, limit: int) -> list[int]:
        rows = self._conn().execute(
            "SELECT seq FROM postings WHERE term=? AND time >= ? AND time <= ? "
            "ORDER BY time, seq LIMIT ?", (term, lo, hi, limit))
        return [int(s) for (s,) in rows]

    def close(self) -> None:
        """Each thread's connection closes with its thread (read-only: nothing to flush)."""
