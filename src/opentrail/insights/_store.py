"""insights.db: per-minute counters, attribution counters, detector state and the cursor.

Derived state, like history.db: it is rebuilt from the ledger if deleted, so it commits
with synchronous=NORMAL. The ledger cursor is committed in the same transaction as the
counts it covers, so a crash never counts an event twice or skips one.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from opentrail.insights._score import FloatArray

__all__ = ["CALL_RATE", "ERROR_RATE", "INSIGHTS_FILE", "CounterStore", "SeriesKey"]

INSIGHTS_FILE = "insights.db"
CALL_RATE = "ApiCallRateInsight"
ERROR_RATE = "ApiErrorRateInsight"
REWIND_SLACK = 10  # minutes: later stragglers only join the baseline

SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id      INTEGER PRIMARY KEY,
    account TEXT NOT NULL, region TEXT NOT NULL, source TEXT NOT NULL, name TEXT NOT NULL,
    type    TEXT NOT NULL,             -- ApiCallRateInsight | ApiErrorRateInsight
    error   TEXT NOT NULL,             -- the errorCode of an error-rate series, else ''
    last    INTEGER NOT NULL,          -- latest minute with a count
    state   TEXT,                      -- the SeriesDetector's state (JSON)
    UNIQUE (account, region, source, name, type, error)
);
CREATE TABLE IF NOT EXISTS counts (
    series INTEGER NOT NULL, minute INTEGER NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (series, minute)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS attributions (
    series INTEGER NOT NULL, attr TEXT NOT NULL, value TEXT NOT NULL,
    minute INTEGER NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (series, attr, value, minute)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS partitions (
    account TEXT NOT NULL, region TEXT NOT NULL,
    first   INTEGER NOT NULL,          -- earliest minute seen: the start of history
    latest  INTEGER NOT NULL,          -- latest event minute seen
    decided INTEGER NOT NULL,          -- every minute before this one is decided
    PRIMARY KEY (account, region)
);
CREATE TABLE IF NOT EXISTS cursor (name TEXT PRIMARY KEY, seq INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class SeriesKey:
    account: str
    region: str
    source: str
    name: str
    type: str
    error: str = ""


@dataclass(frozen=True)
class Partition:
    account: str
    region: str
    first: int
    latest: int
    decided: int


class CounterStore:
    def __init__(self, data_dir: Path) -> None:
        self.conn = sqlite3.connect(data_dir / INSIGHTS_FILE, isolation_level=None,
                                    check_same_thread=False)
        self.conn.execute("PRAGMA busy_timeout=10000")
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(SCHEMA)
        self._ids: dict[tuple[str, str, str, str, str, str], int] = {}
        self._lock = threading.Lock()  # the API's worker threads share this connection

    def close(self) -> None:
        self.conn.close()

    def cursor(self) -> int:
        row = self.conn.execute("SELECT seq FROM cursor WHERE name='ledger'").fetchone()
        return int(row[0]) if row else 0

    def series_id(self, key: tuple[str, str, str, str, str, str], minute: int) -> int:
        """The id of (account, region, source, name, type, error), created on first use."""
        found = self._ids.get(key)
        if found is None:
            row = self.conn.execute(
                "INSERT INTO series (account, region, source, name, type, error, last) "
                "VALUES (?,?,?,?,?,?,?) ON CONFLICT DO UPDATE SET last = last RETURNING id",
                (*key, minute)).fetchone()
            found = self._ids[key] = int(row[0])
        return found

    def add(self, counts: dict[tuple[int, int], int],
            attributions: dict[tuple[int, str, str, int], int],
            spans: dict[tuple[str, str], tuple[int, int]], cursor: int) -> None:
        """Add one batch of counts and move the cursor, in one transaction (already begun)."""
        self.conn.executemany(
            "INSERT INTO counts VALUES (?,?,?) ON CONFLICT DO UPDATE SET n = n + excluded.n",
            [(s, m, n) for (s, m), n in counts.items()])
        self.conn.executemany(
            "INSERT INTO attributions VALUES (?,?,?,?,?) "
            "ON CONFLICT DO UPDATE SET n = n + excluded.n",
            [(*k, n) for k, n in attributions.items()])
        latest: dict[int, int] = {}
        for (s, m) in counts:
            latest[s] = max(latest.get(s, m), m)
        self.conn.executemany("UPDATE series SET last = max(last, ?) WHERE id = ?",
                              [(m, s) for s, m in latest.items()])
        self.conn.executemany(
            "INSERT INTO partitions VALUES (?,?,?,?,?) ON CONFLICT DO UPDATE SET "
            "first = min(first, excluded.first), latest = max(latest, excluded.latest)",
            [(a, r, lo, hi, lo) for (a, r), (lo, hi) in spans.items()])
        for (account, region), (lo, _) in spans.items():
            self._rewind(account, region, lo)
        self.conn.execute("INSERT OR REPLACE INTO cursor VALUES ('ledger', ?)", (cursor,))

    def _rewind(self, account: str, region: str, minute: int) -> None:
        """Events older than what was decided (an import behind live traffic): decide
        again from there. Re-derived records keep their eventIDs, so nothing doubles."""
        row = self.conn.execute("SELECT decided FROM partitions WHERE account = ? AND "
                                "region = ?", (account, region)).fetchone()
        if row[0] - minute > REWIND_SLACK:
            self.conn.execute("UPDATE partitions SET decided = ? WHERE account = ? AND "
                              "region = ?", (minute, account, region))
            self.conn.execute("UPDATE series SET state = NULL WHERE account = ? AND "
                              "region = ?", (account, region))

    def partitions(self) -> list[Partition]:
        rows = self.conn.execute("SELECT account, region, first, latest, decided "
                                 "FROM partitions ORDER BY account, region")
        return [Partition(*row) for row in rows]

    def live_series(self, account: str, region: str,
                    since: int) -> list[tuple[int, SeriesKey, dict[str, Any] | None]]:
        """Series of a partition with counts since `since`, or with an open Insight."""
        rows = self.conn.execute(
            "SELECT id, source, name, type, error, state FROM series WHERE account = ? AND "
            "region = ? AND (last >= ? OR state LIKE '%\"open\":{%') ORDER BY id",
            (account, region, since))
        return [(sid, SeriesKey(account, region, src, name, typ, err),
                 orjson.loads(state) if state else None)
                for sid, src, name, typ, err, state in rows]

    def counts(self, series: int, lo: int, hi: int) -> FloatArray:
        out = np.zeros(max(hi - lo, 0))
        rows = self.conn.execute("SELECT minute, n FROM counts WHERE series = ? AND "
                                 "minute >= ? AND minute < ?", (series, lo, hi))
        for minute, n in rows:
            out[minute - lo] = n
        return out

    def attribution(self, series: int, attr: str, lo: int, hi: int) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT value, SUM(n) FROM attributions WHERE series = ? AND attr = ? AND "
            "minute >= ? AND minute < ? GROUP BY value", (series, attr, lo, hi))
        return {value: int(n) for value, n in rows}

    def save(self, states: Iterable[tuple[int, dict[str, Any]]], account: str, region: str,
             decided: int) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.executemany("UPDATE series SET state = ? WHERE id = ?",
                              [(orjson.dumps(st).decode(), sid) for sid, st in states])
        self.conn.execute("UPDATE partitions SET decided = ? WHERE account = ? AND region = ?",
                          (decided, account, region))
        self.conn.execute("COMMIT")

    def metric(self, account: str | None, region: str, key: tuple[str, str, str, str | None],
               lo: int, hi: int) -> dict[int, int]:
        """Summed counts per minute in [lo, hi) for ListInsightsMetricData."""
        source, name, typ, error = key
        sql = ("SELECT c.minute, SUM(c.n) FROM counts c JOIN series s ON s.id = c.series "
               "WHERE s.region = ? AND s.source = ? AND s.name = ? AND s.type = ? "
               "AND c.minute >= ? AND c.minute < ?")
        args: list[Any] = [region, source, name, typ, lo, hi]
        if account is not None:
            sql, args = sql + " AND s.account = ?", [*args, account]
        if error is not None:
            sql, args = sql + " AND s.error = ?", [*args, error]
        with self._lock:
            rows = self.conn.execute(sql + " GROUP BY c.minute", args).fetchall()
        return {int(m): int(n) for m, n in rows}
