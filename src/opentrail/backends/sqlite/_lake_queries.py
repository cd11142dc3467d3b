"""Lake queries' state in DATA_DIR/lake-queries.db: `QueryRows` (lake/_query_rows.py) on
SQLite, the file and schema queries always used. The two columns that say which node
runs a query and when it last said so (`node`, `heartbeat`) are added to an older file
when it is opened; its rows have neither, and count as a stopped node's."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from opentrail.backends.sqlite._db import SqliteDb
from opentrail.lake._query_rows import DeliveredResult, NewQuery, QueryInfo

__all__ = ["QUERIES_FILE", "SqliteQueryRows"]

QUERIES_FILE = "lake-queries.db"
SCHEMA = """
CREATE TABLE IF NOT EXISTS queries (
    id TEXT PRIMARY KEY, account TEXT NOT NULL, owner TEXT NOT NULL, region TEXT NOT NULL,
    statement TEXT NOT NULL, status TEXT NOT NULL, created REAL NOT NULL,
    started REAL, ended REAL, error TEXT, columns BLOB,
    total INTEGER NOT NULL DEFAULT 0, events_scanned INTEGER NOT NULL DEFAULT 0,
    bytes_scanned INTEGER NOT NULL DEFAULT 0, millis INTEGER NOT NULL DEFAULT 0,
    delivery_uri TEXT, delivery_status TEXT);
CREATE INDEX IF NOT EXISTS queries_ended ON queries (ended);
CREATE INDEX IF NOT EXISTS queries_account ON queries (account, status);
CREATE TABLE IF NOT EXISTS query_stores (
    store TEXT NOT NULL, query TEXT NOT NULL, PRIMARY KEY (store, query)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS delivered_results (
    query TEXT NOT NULL, account TEXT NOT NULL, bucket TEXT NOT NULL, key TEXT NOT NULL,
    version_id TEXT, lock_mode TEXT, retain_until REAL, delivered REAL NOT NULL,
    PRIMARY KEY (query, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS query_rows (
    query TEXT NOT NULL, n INTEGER NOT NULL, row BLOB NOT NULL,
    PRIMARY KEY (query, n)) WITHOUT ROWID;
"""
NODE_COLUMNS = (("node", "TEXT"), ("heartbeat", "REAL"))
INFO = ("SELECT id, account, owner, statement, status, created, started, ended, error, "
        "total, events_scanned, bytes_scanned, millis, delivery_uri, delivery_status, node, "
        "heartbeat FROM queries")
ACTIVE_SQL = "status IN ('QUEUED', 'RUNNING')"


def add_node_columns(conn: sqlite3.Connection) -> None:
    """The liveness columns, on a file made before they existed."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(queries)")}
    for name, kind in NODE_COLUMNS:
        if name not in have:
            conn.execute(f"ALTER TABLE queries ADD COLUMN {name} {kind}")


class SqliteQueryRows:
    def __init__(self, data_dir: Path) -> None:
        self._db = SqliteDb(Path(data_dir) / QUERIES_FILE, SCHEMA)
        with self._db.write() as conn:
            add_node_columns(conn)

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._db.read() as conn:
            return conn.execute(sql, args).fetchall()

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        with self._db.write() as conn:
            return conn.execute(sql, args).rowcount

    def add(self, query: NewQuery, stores: list[str], max_active: int) -> int:
        with self._db.write() as conn:
            (active,) = conn.execute(f"SELECT count(*) FROM queries WHERE account = ? AND "
                                     f"{ACTIVE_SQL}", (query.account,)).fetchone()
            if active >= max_active:
                return int(active)
            conn.execute(
                "INSERT INTO queries (id, account, owner, region, statement, status, "
                "created, delivery_uri, delivery_status, node, heartbeat) "
                "VALUES (?, ?, ?, ?, ?, 'QUEUED', ?, ?, ?, ?, ?)",
                (query.id, query.account, query.owner, query.region, query.statement,
                 query.created, query.delivery_uri, query.delivery_status, query.node,
                 query.created))
            conn.executemany("INSERT OR IGNORE INTO query_stores VALUES (?, ?)",
                             [(store, query.id) for store in stores])
            return int(active)

    def info(self, query_id: str) -> QueryInfo | None:
        rows = self._all(INFO + " WHERE id = ?", (query_id,))
        return QueryInfo(*rows[0]) if rows else None

    def details(self, query_id: str) -> tuple[str, bytes | None]:
        region, columns = self._all("SELECT region, columns FROM queries WHERE id = ?",
                                    (query_id,))[0]
        return str(region), columns

    def set_running(self, query_id: str, now: float) -> None:
        self._run("UPDATE queries SET status = 'RUNNING', started = ? WHERE id = ? AND "
                  "status = 'QUEUED'", (now, query_id))

    def set_scanned(self, query_id: str, events: int, scanned_bytes: int) -> None:
        self._run("UPDATE queries SET events_scanned = ?, bytes_scanned = ? WHERE id = ?",
                  (events, scanned_bytes, query_id))

    def set_columns(self, query_id: str, columns: bytes) -> None:
        self._run("UPDATE queries SET columns = ? WHERE id = ?", (columns, query_id))

    def add_rows(self, query_id: str, first: int, rows: list[bytes]) -> str:
        with self._db.write() as conn:
            conn.executemany("INSERT INTO query_rows VALUES (?, ?, ?)",
                             [(query_id, first + i, row) for i, row in enumerate(rows)])
            conn.execute("UPDATE queries SET total = ? WHERE id = ?",
                         (first + len(rows), query_id))
            (status,) = conn.execute("SELECT status FROM queries WHERE id = ?",
                                     (query_id,)).fetchone()
            return str(status)

    def end(self, query_id: str, status: str, error: str | None, now: float, millis: int,
            delivery: str | None) -> None:
        self._run("UPDATE queries SET status = ?, error = ?, ended = ?, millis = ?, "
                  "delivery_status = CASE WHEN delivery_uri IS NULL THEN NULL "
                  "ELSE coalesce(?, delivery_status) END "
                  f"WHERE id = ? AND {ACTIVE_SQL}",
                  (status, error, now, millis, delivery, query_id))

    def set_delivery_status(self, query_id: str, status: str) -> None:
        self._run("UPDATE queries SET delivery_status = ? WHERE id = ?", (status, query_id))

    def record_delivery(self, account: str, written: list[DeliveredResult]) -> None:
        with self._db.write() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO delivered_results (query, account, bucket, key, "
                "version_id, lock_mode, retain_until, delivered) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(d.query, account, d.bucket, d.key, d.version_id, d.lock_mode,
                  d.retain_until, d.delivered) for d in written])

    def delivered(self, account: str, query_id: str) -> list[DeliveredResult]:
        rows = self._all("SELECT query, bucket, key, version_id, lock_mode, retain_until, "
                         "delivered FROM delivered_results WHERE query = ? AND account = ? "
                         "ORDER BY key LIKE '%/result_sign.json', key", (query_id, account))
        return [DeliveredResult(*row) for row in rows]

    def rows(self, query_id: str, start: int, limit: int) -> list[bytes]:
        return [row for (row,) in self._all(
            "SELECT row FROM query_rows WHERE query = ? AND n >= ? ORDER BY n LIMIT ?",
            (query_id, start, limit))]

    def stores_of(self, query_id: str) -> list[str]:
        return [r[0] for r in self._all("SELECT store FROM query_stores WHERE query = ? "
                                        "ORDER BY store",
                                        (query_id,))]

    def find(self, account: str, store: str, *, start: float | None, end: float | None,
             status: str | None, limit: int, offset: int) -> list[str]:
        where, args = ["q.account = ?", "s.store = ?"], [account, store]
        for clause, value in (("q.created >= ?", start), ("q.created <= ?", end),
                              ("q.status = ?", status)):
            if value is not None:
                where.append(clause)
                args.append(value)  # type: ignore[arg-type]
        return [qid for (qid,) in self._all(
            "SELECT q.id FROM queries q JOIN query_stores s ON s.query = q.id WHERE "
            + " AND ".join(where) + " ORDER BY q.created DESC, q.id LIMIT ? OFFSET ?",
            (*args, limit, offset))]

    def purge(self, cutoff: float) -> int:
        with self._db.write() as conn:
            old = [r[0] for r in conn.execute(
                "SELECT id FROM queries WHERE ended IS NOT NULL AND ended < ?", (cutoff,))]
            for query in old:
                conn.execute("DELETE FROM query_rows WHERE query = ?", (query,))
                conn.execute("DELETE FROM query_stores WHERE query = ?", (query,))
                conn.execute("DELETE FROM queries WHERE id = ?", (query,))
        return len(old)

    def heartbeat(self, node: str, now: float, query_ids: list[str]) -> dict[str, str]:
        with self._db.write() as conn:
            conn.execute(f"UPDATE queries SET heartbeat = ? WHERE node = ? AND {ACTIVE_SQL}",
                         (now, node))
            marks = ", ".join("?" * len(query_ids))
            return dict(conn.execute(f"SELECT id, status FROM queries WHERE id IN ({marks})",
                                     query_ids).fetchall())

    def fail_orphans(self, error: str, now: float, *, node: str | None = None,
                     before: float | None = None) -> int:
        return self._run(
            "UPDATE queries SET status = 'FAILED', error = ?, ended = ?, delivery_status = "
            "CASE WHEN delivery_uri IS NULL THEN NULL ELSE 'CANCELLED' END "
            f"WHERE {ACTIVE_SQL} AND (node = ? OR coalesce(heartbeat, created) < ?)",
            (error, now, node, before if before is not None else float("-inf")))

    def close(self) -> None:
        self._db.close()
