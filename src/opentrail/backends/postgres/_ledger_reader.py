"""The PostgreSQL `LedgerReader` (ledger/_reader.py): followers' reads of `events`.

Every call is one short read transaction on a pooled connection (so a reader is safe to
share between threads, and a database lost mid-run is ServiceUnavailable like any other
store's); each call sees committed rows only. Rows are built as SQLite's reader builds
them, without a Python call per row.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from opentrail.backends.postgres._db import Conn, PgDb
from opentrail.ledger._reader import BodyRow, LedgerRow

__all__ = ["PgLedgerReader", "first_ingested_at", "with_bodies"]

COLUMNS = "seq, account, region, category, event_time, ingested, leaf, body"
_row = functools.partial(tuple.__new__, LedgerRow)
_body_row = functools.partial(tuple.__new__, BodyRow)


class PgLedgerReader:
    """Reads the `events` table of one database (see `LedgerReader`)."""

    def __init__(self, db: PgDb) -> None:
        self._db = db

    def close(self) -> None:
        """Nothing to release: connections belong to the backend's pool."""

    def size(self) -> int:
        with self._db.transaction() as conn:
            row = conn.execute("SELECT max(seq) FROM events").fetchone()
        return 0 if row is None or row[0] is None else int(row[0]) + 1

    def rows(self, start: int, limit: int, end: int | None = None, *,
             category: int | None = None) -> list[LedgerRow]:
        # Conditions only when given: `seq < end` must bound the index scan itself.
        where, params = "seq >= %s", [start]
        if end is not None:
            where, params = where + " AND seq < %s", [*params, end]
        if category is not None:
            where, params = where + " AND category = %s", [*params, category]
        with self._db.transaction() as conn:
            rows = conn.execute(
                f"SELECT {COLUMNS} FROM events WHERE {where} ORDER BY seq LIMIT %s",
                [*params, limit]).fetchall()
        return list(map(_row, rows))

    def bodies_from(self, start: int, limit: int) -> list[BodyRow]:
        with self._db.transaction() as conn:
            rows = conn.execute(
                "SELECT seq, account, region, body FROM events WHERE seq >= %s ORDER BY seq "
                "LIMIT %s", (start, limit)).fetchall()
        return list(map(_body_row, rows))

    def bodies(self, seqs: Sequence[int]) -> dict[int, bytes | None]:
        return self._by_seq("body", seqs)

    def leaves(self, seqs: Sequence[int]) -> dict[int, bytes]:
        return self._by_seq("leaf", seqs)

    def _by_seq(self, column: str, seqs: Sequence[int]) -> dict[int, Any]:
        with self._db.transaction() as conn:
            rows = conn.execute(f"SELECT seq, {column} FROM events "
                                "WHERE seq = ANY(%s::bigint[])", (list(seqs),))
            return dict(rows.fetchall())

    def event(self, account: str, event_id: str) -> LedgerRow | None:
        """One statement on one round trip (`PgDb.read`: LookupEvents' eventID path)."""
        row = self._db.read(lambda conn: conn.execute(
            f"SELECT {COLUMNS} FROM events WHERE account = %s AND event_id = %s",
            (account, event_id)).fetchone())
        return None if row is None else _row(row)

    def accounts(self) -> list[str]:
        """A skip-scan of the (account, event_id) index ("C" collation: byte order)."""
        with self._db.transaction() as conn:
            rows = conn.execute(
                "WITH RECURSIVE a(account) AS (SELECT min(account) FROM events UNION ALL "
                "SELECT (SELECT min(account) FROM events WHERE account > a.account) FROM a "
                "WHERE a.account IS NOT NULL) SELECT account FROM a "
                "WHERE account IS NOT NULL").fetchall()
        return [account for (account,) in rows]

    def first_ingested_at(self, ingested: int) -> int:
        """A binary search over point reads in one transaction: ingest time grows
        with seq and seqs have no gaps (no index on `ingested` to slow every append)."""
        with self._db.transaction() as conn:
            return first_ingested_at(conn, ingested)


def first_ingested_at(conn: Conn, ingested: int) -> int:
    """The first seq ingested at or after `ingested` (the size if none), read on `conn`."""
    top = conn.execute("SELECT max(seq) FROM events").fetchone()
    lo, hi = 0, 0 if top is None or top[0] is None else int(top[0]) + 1
    while lo < hi:
        mid = (lo + hi) // 2
        row = conn.execute("SELECT ingested FROM events WHERE seq = %s", (mid,)).fetchone()
        if row is None or row[0] >= ingested:
            hi = mid
        else:
            lo = mid + 1
    return lo


def with_bodies(hits: str, params: list[int | bytes]) -> tuple[str, list[int | bytes]]:
    """The rows of the query `hits` (time, seq) with each event's body (NULL once
    expired), read in the same statement: a LookupEvents page on one round trip
    (backends/postgres/_history.py builds `hits`; the SQL against `events` stays here)."""
    return (f"SELECT h.time, h.seq, (SELECT e.body FROM events e WHERE e.seq = h.seq) "
            f"FROM ({hits}) h ORDER BY h.time DESC, h.seq DESC", params)
