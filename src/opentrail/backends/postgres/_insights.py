"""The Insights engine's state in PostgreSQL: `InsightsStore` (insights/_store.py) over
the `insights_*` tables (migration 0011), shared by every node.

Writes hold INSIGHTS_LOCK (one at a time, cluster-wide). `add` first moves the one-row
cursor from the value its writer read (compare-and-set), and `save` a partition's
decided minute the same way, so a node that still believes it holds the insights role
after losing it has its batch refused instead of counting events twice. Series and
partitions are found by the SHA-256 of their fields, attribution values by their own:
text from ingested records can be of any length, a B-tree entry cannot.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import numpy as np
import orjson

from opentrail.backends.postgres._db import INSIGHTS_LOCK, Conn, PgDb
from opentrail.insights._score import FloatArray
from opentrail.insights._store import (
    REWIND_SLACK,
    LiveSeries,
    MetricKey,
    Partition,
    SeriesKey,
    Tally,
)

__all__ = ["PgInsightsStore", "digest"]

_NEW_SERIES = (
    "INSERT INTO insights_series (key, part, account, region, source, name, type, error, "
    "last) SELECT * FROM unnest(%b::bytea[], %b::bytea[], %b::text[], %b::text[], "
    "%b::text[], %b::text[], %b::text[], %b::text[], %b::bigint[]) "
    "ON CONFLICT (key) DO NOTHING")
_COUNTS = (
    "INSERT INTO insights_counts (series, minute, n) SELECT * FROM unnest(%b::bigint[], "
    "%b::bigint[], %b::bigint[]) ON CONFLICT (series, minute) DO UPDATE "
    "SET n = insights_counts.n + excluded.n")
_ATTRIBUTIONS = (
    "INSERT INTO insights_attributions (series, attr, minute, vkey, value, n) "
    "SELECT * FROM unnest(%b::bigint[], %b::text[], %b::bigint[], %b::bytea[], %b::text[], "
    "%b::bigint[]) ON CONFLICT (series, attr, minute, vkey) DO UPDATE "
    "SET n = insights_attributions.n + excluded.n")
_LAST = (
    "UPDATE insights_series s SET last = greatest(s.last, u.m) "
    "FROM unnest(%b::bigint[], %b::bigint[]) AS u(id, m) WHERE s.id = u.id")
_PARTITIONS = (
    "INSERT INTO insights_partitions (key, account, region, first, latest, decided) "
    "SELECT k, a, r, lo, hi, lo FROM unnest(%b::bytea[], %b::text[], %b::text[], "
    "%b::bigint[], %b::bigint[]) AS u(k, a, r, lo, hi) ON CONFLICT (key) DO UPDATE SET "
    "first = least(insights_partitions.first, excluded.first), "
    "latest = greatest(insights_partitions.latest, excluded.latest)")
_REWIND = (
    "UPDATE insights_partitions SET decided = u.lo FROM unnest(%b::bytea[], %b::bigint[]) "
    "AS u(k, lo) WHERE key = u.k AND decided - u.lo > %s RETURNING key")


def digest(*fields: str) -> bytes:
    """The key of a series or partition: its fields, unambiguously encoded, hashed."""
    return hashlib.sha256(orjson.dumps(fields)).digest()


class PgInsightsStore:
    def __init__(self, db: PgDb) -> None:
        self._db = db
        self._ids: dict[tuple[str, ...], int] = {}  # series ids never change once committed

    def close(self) -> None:
        """Nothing to release: connections belong to the backend's pool."""

    def cursor(self) -> int:
        with self._db.transaction() as conn:
            row = conn.execute("SELECT seq FROM insights_cursor").fetchone()
        return 0 if row is None else int(row[0])

    def add(self, tally: Tally, start: int, end: int) -> bool:
        try:
            with self._db.transaction(INSIGHTS_LOCK) as conn:
                if conn.execute("UPDATE insights_cursor SET seq = %s WHERE seq = %s",
                                (end, start)).rowcount != 1:
                    return False
                self._store(conn, tally)
        except BaseException:
            self._ids.clear()  # ids minted in the rolled-back transaction are gone
            raise
        return True

    def _store(self, conn: Conn, tally: Tally) -> None:
        ids = self._series_ids(conn, tally)
        counts = [(ids[s], m, n) for (s, m), n in tally.counts.items()]
        conn.execute(_COUNTS, _columns(counts, 3))
        attrs = [(ids[s], a, m, hashlib.sha256(v.encode()).digest(), v, n)
                 for (s, a, v, m), n in tally.attributions.items()]
        conn.execute(_ATTRIBUTIONS, _columns(attrs, 6))
        latest = [(ids[s], m) for s, m in tally.latest().items()]
        conn.execute(_LAST, _columns(latest, 2))
        spans = [(digest(a, r), a, r, lo, hi) for (a, r), (lo, hi) in tally.spans.items()]
        conn.execute(_PARTITIONS, _columns(spans, 5))
        rewound = conn.execute(_REWIND, ([s[0] for s in spans], [s[3] for s in spans],
                                         REWIND_SLACK)).fetchall()
        if rewound:  # decide again from there: re-derived records keep their eventIDs
            conn.execute("UPDATE insights_series SET state = NULL WHERE part = ANY(%s)",
                         ([bytes(r[0]) for r in rewound],))

    def _series_ids(self, conn: Conn, tally: Tally) -> list[int]:
        """Each batch series' lasting id (by its number in the batch), made on first use."""
        missing = [key for key in tally.series if key not in self._ids]
        if missing:
            latest = tally.latest()
            new = [(digest(*key), digest(key[0], key[1]), *key, latest.get(tally.series[key], 0))
                   for key in missing]
            conn.execute(_NEW_SERIES, _columns(new, 9))
            found = conn.execute("SELECT key, id FROM insights_series WHERE key = ANY(%s)",
                                 ([row[0] for row in new],)).fetchall()
            by_key = {bytes(k): int(i) for k, i in found}
            for key, row in zip(missing, new, strict=True):
                self._ids[key] = by_key[row[0]]
        return [self._ids[key] for key in tally.series]

    def partitions(self) -> list[Partition]:
        with self._db.transaction() as conn:
            rows = conn.execute("SELECT account, region, first, latest, decided FROM "
                                "insights_partitions ORDER BY account, region").fetchall()
        return [Partition(*row) for row in rows]

    def live_series(self, account: str, region: str, since: int) -> list[LiveSeries]:
        with self._db.transaction() as conn:
            rows = conn.execute(
                "SELECT id, source, name, type, error, state FROM insights_series WHERE "
                "part = %s AND (last >= %s OR state LIKE '%%\"open\":{%%') ORDER BY id",
                (digest(account, region), since)).fetchall()
        return [(sid, SeriesKey(account, region, src, name, typ, err),
                 orjson.loads(state) if state else None)
                for sid, src, name, typ, err, state in rows]

    def counts(self, series: int, lo: int, hi: int) -> FloatArray:
        out = np.zeros(max(hi - lo, 0))
        with self._db.transaction() as conn:
            rows = conn.execute("SELECT minute, n FROM insights_counts WHERE series = %s "
                                "AND minute >= %s AND minute < %s",
                                (series, lo, hi)).fetchall()
        for minute, n in rows:
            out[minute - lo] = n
        return out

    def attribution(self, series: int, attr: str, lo: int, hi: int) -> dict[str, int]:
        with self._db.transaction() as conn:
            rows = conn.execute(
                "SELECT value, sum(n) FROM insights_attributions WHERE series = %s AND "
                "attr = %s AND minute >= %s AND minute < %s GROUP BY value",
                (series, attr, lo, hi)).fetchall()
        return {value: int(n) for value, n in rows}

    def save(self, states: Iterable[tuple[int, dict[str, Any]]], account: str, region: str,
             expected: int, decided: int) -> bool:
        rows = [(sid, orjson.dumps(state).decode()) for sid, state in states]
        with self._db.transaction(INSIGHTS_LOCK) as conn:
            if conn.execute("UPDATE insights_partitions SET decided = %s WHERE key = %s AND "
                            "decided = %s", (decided, digest(account, region),
                                             expected)).rowcount != 1:
                return False
            conn.execute("UPDATE insights_series s SET state = u.st FROM unnest(%s::bigint[], "
                         "%s::text[]) AS u(id, st) WHERE s.id = u.id", _columns(rows, 2))
        return True

    def metric(self, account: str | None, region: str, key: MetricKey,
               lo: int, hi: int) -> dict[int, int]:
        source, name, typ, error = key
        with self._db.transaction() as conn:
            rows = conn.execute(
                "SELECT c.minute, sum(c.n) FROM insights_counts c JOIN insights_series s "
                "ON s.id = c.series WHERE s.region = %s AND s.source = %s AND s.name = %s "
                "AND s.type = %s AND (%s::text IS NULL OR s.account = %s) "
                "AND (%s::text IS NULL OR s.error = %s) AND c.minute >= %s "
                "AND c.minute < %s GROUP BY c.minute",
                (region, source, name, typ, account, account, error, error, lo,
                 hi)).fetchall()
        return {int(m): int(n) for m, n in rows}


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as `width` column lists, for unnest."""
    return [[row[i] for row in rows] for i in range(width)]
