"""What the activity overview asks of a history index: management-event terms of an
(account, region), and postings counted or probed by time. Declared here, answered by
history.db (`HistoryDbActivityRows`, below, read-only, one connection per thread) and by
the database's tables (backends/postgres/_history.py, `PgActivityRows`), so the console
shows the same overview on either backend. Term ids are opaque: only passed back.

history.db holds packed postings (_packed.py): a count adds the pair counts of the rows
inside the range and decodes only the rows across its ends; `first` decodes rows in order
of their first time until no later row can hold an earlier pair, and keeps the last rows
it decoded (an hour's probes read the same few rows), reused only while a row's blob and
first time are unchanged.
"""

from __future__ import annotations

import sqlite3
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from opentrail.events import Category
from opentrail.history._fields import Attr
from opentrail.history._packed import Pairs, decode
from opentrail.history._query import open_history_reader

__all__ = ["MANAGEMENT", "ActivityRows", "HistoryDbActivityRows"]

MANAGEMENT = int(Category.MANAGEMENT)  # the overview shows management events only
DECODED = 64  # packed rows kept decoded per thread


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
        total = 0
        for term in terms:
            for bucket, tmin, tmax, n, data in self._conn().execute(
                    "SELECT bucket, tmin, tmax, n, data FROM packed WHERE term=? AND tmax >= ? "
                    "AND tmin <= ?", (term, lo, hi)):
                if lo <= tmin and tmax <= hi:
                    total += n
                else:
                    times = decode(data, tmin, bucket)[0]
                    total += bisect_right(times, hi) - bisect_left(times, lo)
        return total

    def first(self, term: int, lo: int, hi: int, limit: int) -> list[int]:
        conn = self._conn()
        best: list[tuple[int, int]] = []
        # The keys' statement stays open while the rows are read: one snapshot for both.
        for tmin, bucket, part in conn.execute(
                "SELECT tmin, bucket, part FROM packed WHERE term=? AND tmax >= ? AND tmin <= ? "
                "ORDER BY tmin", (term, lo, hi)):
            if len(best) >= limit and best[limit - 1][0] < tmin:
                break  # every later row starts after the limit-th pair
            times, seqs = self._decoded(conn, bucket, term, part, tmin)
            a = bisect_left(times, lo)
            b = min(bisect_right(times, hi), a + limit)
            best += zip(times[a:b], seqs[a:b], strict=True)
            best.sort()
            del best[limit:]
        return [s for _, s in best]

    def _decoded(self, conn: sqlite3.Connection, bucket: int, term: int, part: int,
                 tmin: int) -> Pairs:
        """The row's pairs, decoded again only when its blob or first time changed."""
        (data,) = conn.execute("SELECT data FROM packed WHERE bucket=? AND term=? AND part=?",
                               (bucket, term, part)).fetchone()
        kept: dict[tuple[int, int, int], tuple[bytes, int, Pairs]] | None = getattr(
            self._local, "decoded", None)
        if kept is None or len(kept) >= DECODED:
            kept = self._local.decoded = {}
        key = (bucket, term, part)
        hit = kept.get(key)
        if hit is not None and hit[0] == data and hit[1] == tmin:
            return hit[2]
        pairs = decode(data, tmin, bucket)
        kept[key] = (data, tmin, pairs)
        return pairs

    def close(self) -> None:
        """Each thread's connection closes with its thread (read-only: nothing to flush)."""
