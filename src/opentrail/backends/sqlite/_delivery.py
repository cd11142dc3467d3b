"""Trail delivery's state in DATA_DIR/delivery.db: `DeliveryRows` (trails/_delivery_rows.py)
on SQLite, the file and schema delivery always used (so `delivered_objects(data_dir)`
and older data dirs keep working)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from opentrail.backends.sqlite._db import SqliteDb, SqliteRows
from opentrail.trails._delivery import DELIVERY_FILE
from opentrail.trails._delivery_rows import StoredCursor, StoredOutgoing
from opentrail.trails._record import DeliveredObject, add_lock_columns, delivered_objects

__all__ = ["DELIVERY_FILE", "SqliteDeliveryRows"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS cursors (
    arn      TEXT PRIMARY KEY,
    created  REAL NOT NULL,     -- the trail's creation time: a re-created trail starts over
    seq      INTEGER NOT NULL,  -- last ledger seq considered (the cursor - 1)
    period   REAL,              -- start_logging_time of the logging period being delivered
    last_run REAL NOT NULL      -- delivery time of the last delivery
);
CREATE TABLE IF NOT EXISTS outbox (  -- finished objects not yet confirmed by the destination
    id INTEGER PRIMARY KEY, arn TEXT NOT NULL, kind TEXT NOT NULL, bucket TEXT NOT NULL,
    key TEXT NOT NULL, body BLOB NOT NULL, metadata TEXT NOT NULL,
    first_seq INTEGER, last_seq INTEGER, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS delivered (  -- the record of every object delivered
    id INTEGER PRIMARY KEY, arn TEXT NOT NULL, kind TEXT NOT NULL, bucket TEXT NOT NULL,
    key TEXT NOT NULL, first_seq INTEGER, last_seq INTEGER, created REAL NOT NULL,
    delivered REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS undigested (  -- log files the next digest of their region lists
    id INTEGER PRIMARY KEY, arn TEXT NOT NULL, region TEXT NOT NULL, file TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chains (  -- open digest chains: next window start, last digest
    arn TEXT NOT NULL, region TEXT NOT NULL, start REAL NOT NULL, prev TEXT,
    PRIMARY KEY (arn, region)
);
"""


class _Tx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def cursor(self, arn: str) -> StoredCursor | None:
        row = self._conn.execute("SELECT created, seq, period, last_run FROM cursors "
                                 "WHERE arn = ?", (arn,)).fetchone()
        return None if row is None else StoredCursor(*row)

    def known(self) -> list[tuple[str, float]]:
        return self._conn.execute("SELECT arn, created FROM cursors").fetchall()

    def set_cursor(self, arn: str, cursor: StoredCursor) -> None:
        self._conn.execute("INSERT OR REPLACE INTO cursors (arn, created, seq, period, "
                           "last_run) VALUES (?,?,?,?,?)", (arn, *cursor))

    def move(self, arn: str, expected: int, seq: int, last_run: float) -> bool:
        return self._conn.execute("UPDATE cursors SET seq = ?, last_run = ? "
                                  "WHERE arn = ? AND seq = ?",
                                  (seq, last_run, arn, expected)).rowcount == 1

    def forget(self, arn: str) -> None:
        for table in ("cursors", "outbox", "undigested", "chains"):
            self._conn.execute(f"DELETE FROM {table} WHERE arn = ?", (arn,))

    def outbox(self, arn: str) -> list[StoredOutgoing]:
        rows = self._conn.execute("SELECT id, kind, bucket, key, body, metadata FROM outbox "
                                  "WHERE arn = ? ORDER BY id", (arn,)).fetchall()
        return list(map(StoredOutgoing._make, rows))

    def put_outbox(self, arn: str, kind: str, bucket: str, key: str, body: bytes,
                   metadata: str, seqs: tuple[int, int] | None, created: float) -> None:
        self._conn.execute("INSERT INTO outbox (arn, kind, bucket, key, body, metadata, "
                           "first_seq, last_seq, created) VALUES (?,?,?,?,?,?,?,?,?)",
                           (arn, kind, bucket, key, body, metadata,
                            *(seqs or (None, None)), created))

    def done(self, outbox_id: int, delivered: float, version_id: str | None,
             lock_mode: str | None, retain_until: float | None) -> None:
        self._conn.execute("INSERT INTO delivered (arn, kind, bucket, key, first_seq, "
                           "last_seq, created, delivered, version_id, lock_mode, "
                           "retain_until) SELECT arn, kind, bucket, key, first_seq, last_seq, "
                           "created, ?, ?, ?, ? FROM outbox WHERE id = ?",
                           (delivered, version_id, lock_mode, retain_until, outbox_id))
        self._conn.execute("DELETE FROM outbox WHERE id = ?", (outbox_id,))

    def chains(self, arn: str) -> list[tuple[str, float, str | None]]:
        return self._conn.execute("SELECT region, start, prev FROM chains WHERE arn = ? "
                                  "ORDER BY region", (arn,)).fetchall()

    def open_chain(self, arn: str, chain: str, start: float, like: str | None = None) -> None:
        self._conn.execute("INSERT OR IGNORE INTO chains (arn, region, start, prev) SELECT "
                           "?, ?, COALESCE((SELECT start FROM chains WHERE arn = ? AND "
                           "region = ?), ?), NULL", (arn, chain, arn, like, start))

    def advance_chain(self, arn: str, chain: str, start: float, prev: str) -> None:
        self._conn.execute("UPDATE chains SET start = ?, prev = ? WHERE arn = ? AND "
                           "region = ?", (start, prev, arn, chain))

    def drop_chains(self, arn: str, chain: str | None = None) -> None:
        if chain is None:
            self._conn.execute("DELETE FROM chains WHERE arn = ?", (arn,))
        else:
            self._conn.execute("DELETE FROM chains WHERE arn = ? AND region = ?",
                               (arn, chain))

    def undigested(self, arn: str, chain: str) -> list[tuple[int, str]]:
        return self._conn.execute("SELECT id, file FROM undigested WHERE arn = ? AND "
                                  "region = ? ORDER BY id", (arn, chain)).fetchall()

    def add_undigested(self, arn: str, chain: str, file: str) -> None:
        self._conn.execute("INSERT INTO undigested (arn, region, file) VALUES (?,?,?)",
                           (arn, chain, file))

    def drop_undigested(self, arn: str, ids: list[int] | None = None) -> None:
        if ids is None:
            self._conn.execute("DELETE FROM undigested WHERE arn = ?", (arn,))
        else:
            self._conn.executemany("DELETE FROM undigested WHERE id = ?",
                                   [(i,) for i in ids])

    def delivered(self, arn: str | None, start: float | None,
                  end: float | None) -> list[DeliveredObject]:
        return delivered_objects(self._conn, arn, start, end)


class SqliteDeliveryRows(SqliteRows[_Tx]):
    def __init__(self, data_dir: Path) -> None:
        db = SqliteDb(Path(data_dir) / DELIVERY_FILE, SCHEMA, durable=True)
        with db.write() as conn:
            add_lock_columns(conn)
        super().__init__(db, _Tx)
