"""The Insights engine's state (insights.db) into the `insights_*` tables, copied rather
than rebuilt: its counters outlive the ledger's retention (a purged event's body is
gone, the minute it was counted in stays in the baselines and in
ListInsightsMetricData), and a rebuild would re-read the whole ledger.

The copy is one transaction under INSIGHTS_LOCK: counters, attributions, partitions and
detector states together with the cursor past them, so the database holds all of it or
none of it, and a node then goes on from that cursor. Series keep their ids. The state
is derived from the ledger, whose copy was checked leaf by leaf before, so whichever
side counted further holds the same counts and more: a database behind the data dir
(an earlier run, while its server was still counting) gets the data dir's state in
place of its own; one ahead of it (a node counted events appended since) keeps its own;
at the same cursor the rows must be the same (counted and summed per table), or the
run is refused, naming the table, and nothing is changed.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from opentrail.backends.postgres import PostgresBackend
from opentrail.backends.postgres._db import INSIGHTS_LOCK, Conn
from opentrail.backends.postgres._insights import digest
from opentrail.backends.transfer._errors import MigrationRefused
from opentrail.insights._store import INSIGHTS_FILE

__all__ = ["copy_insights"]

CHUNK = 10_000
# (data dir's query, database's table, COPY columns, a per-row function to the latter)
_SERIES = ("SELECT id, account, region, source, name, type, error, last, state FROM series",
           "insights_series", "id, key, part, account, region, source, name, type, error, "
           "last, state")
_COUNTS = ("SELECT series, minute, n FROM counts", "insights_counts", "series, minute, n")
_ATTRS = ("SELECT series, attr, minute, value, n FROM attributions",
          "insights_attributions", "series, attr, minute, vkey, value, n")
_PARTS = ("SELECT account, region, first, latest, decided FROM partitions",
          "insights_partitions", "key, account, region, first, latest, decided")
# What a finished copy must match, per table: rows, and a sum over them.
_TALLY = (("series", "insights_series", "sum(last)"), ("counts", "insights_counts", "sum(n)"),
          ("attributions", "insights_attributions", "sum(n)"),
          ("partitions", "insights_partitions", "sum(decided)"))


def copy_insights(data_dir: Path, backend: PostgresBackend) -> str:
    """insights.db's rows into the database; what was done, as a progress line."""
    path = data_dir / INSIGHTS_FILE
    if not path.exists():
        return f"Insights: no {INSIGHTS_FILE} in {data_dir}, nothing to copy"
    src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = src.execute("SELECT seq FROM cursor WHERE name = 'ledger'").fetchone()
        cursor = int(row[0]) if row else 0
        with backend.db.transaction(INSIGHTS_LOCK) as conn:
            there = _cursor(conn)
            if there > cursor:
                return (f"Insights: the database's state is counted up to ledger seq "
                        f"{there}, past {path}'s {cursor}: kept")
            if there == cursor and _rows(conn, 1) > 0:
                _check_same(src, conn, backend.where, path)
                return f"Insights: 0 rows copied, {_rows(src, 0)} already there"
            for _, table, _ in _TALLY:  # behind the data dir: the same counts and fewer
                conn.execute(f"DELETE FROM {table}")
            _copy_rows(src, conn)
            conn.execute("UPDATE insights_cursor SET seq = %s", (cursor,))
            return (f"Insights: {_rows(src, 0)} rows copied (counters, attributions, "
                    f"partitions, detector states; counted up to ledger seq {cursor})")
    finally:
        src.close()


def _cursor(conn: Conn) -> int:
    row = conn.execute("SELECT seq FROM insights_cursor").fetchone()
    return 0 if row is None else int(row[0])


def _rows(conn: sqlite3.Connection | Conn, side: int) -> int:
    """Rows in the four tables: the data dir's (`side` 0) or the database's (1)."""
    found = 0
    for names in _TALLY:
        row = conn.execute(f"SELECT count(*) FROM {names[side]}").fetchone()
        found += int(row[0]) if row else 0
    return found


def _check_same(src: sqlite3.Connection, conn: Conn, where: str, path: Path) -> None:
    for source, target, total in _TALLY:
        ours = src.execute(f"SELECT count(*), coalesce({total}, 0) FROM {source}").fetchone()
        theirs = conn.execute(f"SELECT count(*), coalesce({total}, 0) FROM {target}"
                              ).fetchone()
        if theirs is None or tuple(map(int, ours)) != tuple(map(int, theirs)):
            raise MigrationRefused(
                f"Insights: {target} in the database {where} differs from {source} in "
                f"{path} ({theirs} against {tuple(ours)} rows and total); nothing of it "
                "was changed.")


def _copy_rows(src: sqlite3.Connection, conn: Conn) -> None:
    def series(r: tuple[Any, ...]) -> tuple[Any, ...]:
        return (r[0], digest(*r[1:7]), digest(r[1], r[2]), *r[1:])

    def attr(r: tuple[Any, ...]) -> tuple[Any, ...]:
        return (*r[:3], hashlib.sha256(r[3].encode()).digest(), *r[3:])

    def part(r: tuple[Any, ...]) -> tuple[Any, ...]:
        return (digest(r[0], r[1]), *r)

    for (query, table, columns), shape in ((_SERIES, series), (_COUNTS, None),
                                           (_ATTRS, attr), (_PARTS, part)):
        with conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for chunk in _chunks(src, query):
                for r in chunk:
                    copy.write_row(shape(r) if shape is not None else r)
    conn.execute("SELECT setval(pg_get_serial_sequence('insights_series', 'id'), "
                 "(SELECT max(id) FROM insights_series))")  # none copied: NULL, no change


def _chunks(src: sqlite3.Connection, query: str) -> Iterator[list[tuple[Any, ...]]]:
    rows = src.execute(query)
    while chunk := rows.fetchmany(CHUNK):
        yield chunk
