"""What the activity overview asks of a history index: management-event terms of an
(account, region), and postings counted or probed by time. Declared here, answered by
history.db (`HistoryDbActivityRows`, below, read-only, one connection per thread) and by
the database's tables (backends/postgres/_history.py, `PgActivityRows`), so the console
shows the same overview on either backend. Term ids are opaque: only passed back.

history.db holds packed postings (_packed.py): a count adds the pair counts of the rows
inside the range (one range of tmax) and unpacks only the rows across its ends, found
in the index `packed_by_time` alone; `first` unpacks the rows holding pairs of the range
in order of their first time until no later row can hold an earlier pair. The last rows
unpacked are kept (an hour's probes and the next hour's count read the same few rows),
reused only while a row's blob and first time are unchanged. Each call reads one
snapshot.
"""

from __future__ import annotations

import sqlite3
import threading
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from opentrail.events import Category
from opentrail.history._fields import Attr
from opentrail.history._packed import BUCKET, unpack
from opentrail.history._query import open_history_reader

__all__ = ["MANAGEMENT", "ActivityRows", "HistoryDbActivityRows"]

MANAGEMENT = int(Category.MANAGEMENT)  # the overview shows management events only
DECODED = 64  # packed rows kept unpacked per thread
# The keys of a term's rows holding pairs from lo to hi, from packed_by_time alone: a
# filter on tmin after reading each row from the table read every newer row (a 30-day
# overview at 10 M events took 73 s of CPU).
_OVERLAPPING = ("SELECT tmin, tmax, bucket, part FROM packed WHERE term=? AND tmax >= ? "
                "AND tmin <= ?")
Unpacked = tuple[list[int], "array[int]"]  # a row's times and seq offsets (_packed.unpack)


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
        with self._snapshot() as conn:
            return sum(self._count(conn, term, lo, hi) for term in terms)

    def _count(self, conn: sqlite3.Connection, term: int, lo: int, hi: int) -> int:
        """Pair counts of the rows inside [lo, hi] (one range of tmax), then the pairs in
        it of the rows across its ends."""
        (total,) = conn.execute(
            "SELECT coalesce(sum(n), 0) FROM packed WHERE term=? AND tmax >= ? AND tmax <= ? "
            "AND tmin >= ?", (term, lo, hi, lo)).fetchone()
        for tmin, tmax, bucket, part in conn.execute(_OVERLAPPING, (term, lo, hi)).fetchall():
            if not (lo <= tmin and tmax <= hi):
                times = self._unpacked(conn, bucket, term, part, tmin)[0]
                total += bisect_right(times, hi) - bisect_left(times, lo)
        return int(total)

    def first(self, term: int, lo: int, hi: int, limit: int) -> list[int]:
        best: list[tuple[int, int]] = []
        with self._snapshot() as conn:
            for tmin, _tmax, bucket, part in sorted(
                    conn.execute(_OVERLAPPING, (term, lo, hi)).fetchall()):
                if len(best) >= limit and best[limit - 1][0] < tmin:
                    break  # every later row starts after the limit-th pair
                times, offs = self._unpacked(conn, bucket, term, part, tmin)
                a = bisect_left(times, lo)
                base = bucket * BUCKET
                best += [(times[i], base + offs[i])
                         for i in range(a, min(bisect_right(times, hi), a + limit))]
                best.sort()
                del best[limit:]
        return [s for _, s in best]

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """The thread's connection inside a read transaction: one snapshot for a call."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def _unpacked(self, conn: sqlite3.Connection, bucket: int, term: int, part: int,
                  tmin: int) -> Unpacked:
        """The row's times and seq offsets, unpacked again only when its blob or first
        time changed."""
        (data,) = conn.execute("SELECT data FROM packed WHERE bucket=? AND term=? AND part=?",
                               (bucket, term, part)).fetchone()
        kept: dict[tuple[int, int, int], tuple[bytes, int, Unpacked]] | None = getattr(
            self._local, "unpacked", None)
        if kept is None or len(kept) >= DECODED:
            kept = self._local.unpacked = {}
        key = (bucket, term, part)
        hit = kept.get(key)
        if hit is not None and hit[0] == data and hit[1] == tmin:
            return hit[2]
        row = unpack(data, tmin)
        kept[key] = (data, tmin, row)
        return row

    def close(self) -> None:
        """Each thread's connection closes with its thread (read-only: nothing to flush)."""
