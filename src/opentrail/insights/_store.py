"""The Insights engine's state: the storage interface, and its SQLite file insights.db.

Per-minute counters, attribution counters, per-partition progress, each series' detector
state (open Insights, fitted baselines) and the ledger cursor. `InsightsStore` is what
the engine and ListInsightsMetricData need of a database; `CounterStore` keeps it in
DATA_DIR/insights.db (the file and schema Insights always used) and backends/postgres
in tables every node shares, so the node holding the `insights` role can change and the
next one goes on from the same cursor and states.

Derived state, like history.db: it is rebuilt from the ledger if deleted, so insights.db
commits with synchronous=NORMAL. `add` moves the cursor from where its writer read it
(compare-and-set) in the same transaction as the counts it covers, so a crash never
counts an event twice or skips one, and a node that lost the role without noticing has
its batch refused; `save` moves a partition's decided minute the same way.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import orjson

from opentrail.insights._score import FloatArray

__all__ = ["CALL_RATE", "ERROR_RATE", "INSIGHTS_FILE", "REWIND_SLACK", "CounterStore",
           "InsightsStore", "LiveSeries", "MetricKey", "Partition", "SeriesKey", "Tally"]

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

SeriesTuple = tuple[str, str, str, str, str, str]  # account, region, source, name, type, error
MetricKey = tuple[str, str, str, str | None]  # source, name, type, error (None: any)


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


LiveSeries = tuple[int, SeriesKey, dict[str, Any] | None]  # id, key, detector state


@dataclass
class Tally:
    """One batch of counted events. Series are numbered in the batch (`series` maps each
    one's key to its number); the store gives each its lasting id when it adds them."""

    series: dict[SeriesTuple, int] = field(default_factory=dict)
    counts: dict[tuple[int, int], int] = field(default_factory=dict)  # (series, minute)
    attributions: dict[tuple[int, str, str, int], int] = field(
        default_factory=dict)  # (series, attribute, value, minute)
    spans: dict[tuple[str, str], tuple[int, int]] = field(
        default_factory=dict)  # (account, region) -> (first, last) minute

    def number(self, key: SeriesTuple) -> int:
        return self.series.setdefault(key, len(self.series))

    def latest(self) -> dict[int, int]:
        """The latest minute counted, per series number."""
        out: dict[int, int] = {}
        for (s, m) in self.counts:
            out[s] = max(out.get(s, m), m)
        return out


class InsightsStore(Protocol):
    def cursor(self) -> int:
        """The next ledger seq to count (0 before the first batch)."""
        ...

    def add(self, tally: Tally, start: int, end: int) -> bool:
        """Add one batch's counts and move the cursor from `start` to `end`, in one
        transaction; False, changing nothing, when the cursor was not at `start`."""
        ...

    def partitions(self) -> list[Partition]:
        """Every (account, region) counted, by account then region (byte order)."""
        ...

    def live_series(self, account: str, region: str, since: int) -> list[LiveSeries]:
        """Series of a partition with counts since `since`, or with an open Insight."""
        ...

    def counts(self, series: int, lo: int, hi: int) -> FloatArray:
        """The series' count of each minute in [lo, hi)."""
        ...

    def attribution(self, series: int, attr: str, lo: int, hi: int) -> dict[str, int]:
        """Calls per value of `attr` in minutes [lo, hi)."""
        ...

    def save(self, states: Iterable[tuple[int, dict[str, Any]]], account: str, region: str,
             expected: int, decided: int) -> bool:
        """Store detector states and move the partition's decided minute from `expected`
        to `decided`; False, changing nothing, when it was no longer `expected`."""
        ...

    def metric(self, account: str | None, region: str, key: MetricKey,
               lo: int, hi: int) -> dict[int, int]:
        """Summed counts per minute in [lo, hi) for ListInsightsMetricData (every
        account's when `account` is None, every errorCode's when the key's is None)."""
        ...

    def close(self) -> None: ...


class CounterStore:
    """`InsightsStore` in DATA_DIR/insights.db: one connection, one re-entrant lock (the
    engine's thread and the API's worker threads may share a store)."""

    def __init__(self, data_dir: Path) -> None:
        self.conn = sqlite3.connect(data_dir / INSIGHTS_FILE, isolation_level=None,
                                    check_same_thread=False)
        self.conn.execute("PRAGMA busy_timeout=10000")
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(SCHEMA)
        self._ids: dict[SeriesTuple, int] = {}
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def cursor(self) -> int:
        with self._lock:
            row = self.conn.execute("SELECT seq FROM cursor WHERE name='ledger'").fetchone()
        return int(row[0]) if row else 0

    def add(self, tally: Tally, start: int, end: int) -> bool:
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                added = self._add(tally, start, end)
            except BaseException:
                self.conn.execute("ROLLBACK")
                self._ids.clear()  # ids minted in the rolled-back transaction are gone
                raise
            self.conn.execute("COMMIT")
        return added

    def _add(self, tally: Tally, start: int, end: int) -> bool:
        if self.cursor() != start:
            return False
        self.conn.execute("INSERT OR REPLACE INTO cursor VALUES ('ledger', ?)", (end,))
        latest = tally.latest()
        ids = [self._series_id(key, latest.get(n, 0)) for key, n in tally.series.items()]
        self.conn.executemany(
            "INSERT INTO counts VALUES (?,?,?) ON CONFLICT DO UPDATE SET n = n + excluded.n",
            [(ids[s], m, n) for (s, m), n in tally.counts.items()])
        self.conn.executemany(
            "INSERT INTO attributions VALUES (?,?,?,?,?) "
            "ON CONFLICT DO UPDATE SET n = n + excluded.n",
            [(ids[s], a, v, m, n) for (s, a, v, m), n in tally.attributions.items()])
        self.conn.executemany("UPDATE series SET last = max(last, ?) WHERE id = ?",
                              [(m, ids[s]) for s, m in latest.items()])
        self.conn.executemany(
            "INSERT INTO partitions VALUES (?,?,?,?,?) ON CONFLICT DO UPDATE SET "
            "first = min(first, excluded.first), latest = max(latest, excluded.latest)",
            [(a, r, lo, hi, lo) for (a, r), (lo, hi) in tally.spans.items()])
        for (account, region), (lo, _) in tally.spans.items():
            self._rewind(account, region, lo)
        return True

    def _series_id(self, key: SeriesTuple, minute: int) -> int:
        """The id of (account, region, source, name, type, error), created on first use."""
        found = self._ids.get(key)
        if found is None:
            row = self.conn.execute(
                "INSERT INTO series (account, region, source, name, type, error, last) "
                "VALUES (?,?,?,?,?,?,?) ON CONFLICT DO UPDATE SET last = last RETURNING id",
                (*key, minute)).fetchone()
            found = self._ids[key] = int(row[0])
        return found

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
        with self._lock:
            rows = self.conn.execute("SELECT account, region, first, latest, decided "
                                     "FROM partitions ORDER BY account, region").fetchall()
        return [Partition(*row) for row in rows]

    def live_series(self, account: str, region: str, since: int) -> list[LiveSeries]:
        with self._lock:
            rows = self.conn.execute(
                "SELECT id, source, name, type, error, state FROM series WHERE account = ? "
                "AND region = ? AND (last >= ? OR state LIKE '%\"open\":{%') ORDER BY id",
                (account, region, since)).fetchall()
        return [(sid, SeriesKey(account, region, src, name, typ, err),
                 orjson.loads(state) if state else None)
                for sid, src, name, typ, err, state in rows]

    def counts(self, series: int, lo: int, hi: int) -> FloatArray:
        out = np.zeros(max(hi - lo, 0))
        with self._lock:
            rows = self.conn.execute("SELECT minute, n FROM counts WHERE series = ? AND "
                                     "minute >= ? AND minute < ?", (series, lo, hi)).fetchall()
        for minute, n in rows:
            out[minute - lo] = n
        return out

    def attribution(self, series: int, attr: str, lo: int, hi: int) -> dict[str, int]:
        with self._lock:
            rows = self.conn.execute(
                "SELECT value, SUM(n) FROM attributions WHERE series = ? AND attr = ? AND "
                "minute >= ? AND minute < ? GROUP BY value", (series, attr, lo, hi)).fetchall()
        return {value: int(n) for value, n in rows}

    def save(self, states: Iterable[tuple[int, dict[str, Any]]], account: str, region: str,
             expected: int, decided: int) -> bool:
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                moved = self.conn.execute(
                    "UPDATE partitions SET decided = ? WHERE account = ? AND region = ? "
                    "AND decided = ?", (decided, account, region, expected)).rowcount == 1
                if moved:
                    self.conn.executemany(
                        "UPDATE series SET state = ? WHERE id = ?",
                        [(orjson.dumps(st).decode(), sid) for sid, st in states])
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        return moved

    def metric(self, account: str | None, region: str, key: MetricKey,
               lo: int, hi: int) -> dict[int, int]:
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
