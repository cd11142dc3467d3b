"""The Lake catalog in DATA_DIR/lake.db: `CatalogRows` (lake/_catalog_rows.py) on SQLite."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import cast

from opentrail.backends.sqlite._db import SqliteDb, SqliteRows
from opentrail.lake._catalog_rows import StoreRow

__all__ = ["SqliteCatalogRows"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS stores (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    name TEXT NOT NULL,
    record BLOB NOT NULL,          -- the EventDataStore's fields as JSON
    tags BLOB NOT NULL DEFAULT '[]',
    prior_status TEXT,             -- the status DeleteEventDataStore replaced (for Restore)
    UNIQUE (account, region, name)
);
"""


class _Tx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def records(self, account: str | None = None, region: str | None = None,
                store_id: str | None = None) -> list[bytes]:
        rows = self._conn.execute(
            "SELECT record FROM stores WHERE (?1 IS NULL OR account = ?1) AND"
            " (?2 IS NULL OR region = ?2) AND (?3 IS NULL OR id = ?3)"
            " ORDER BY account, region, name", (account, region, store_id)).fetchall()
        return [row[0] for row in rows]

    def count(self, account: str, region: str) -> int:
        (count,) = self._conn.execute(
            "SELECT COUNT(*) FROM stores WHERE account = ? AND region = ?",
            (account, region)).fetchone()
        return int(count)

    def name_taken(self, account: str, region: str, name: str, other_than: str) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM stores WHERE account = ? AND region = ? AND name = ? AND id != ?",
            (account, region, name, other_than)).fetchone()
        return row is not None

    def insert(self, row: StoreRow) -> None:
        self._conn.execute("INSERT INTO stores (id, account, region, name, record, tags) "
                           "VALUES (?,?,?,?,?,?)", tuple(row))

    def update(self, store_id: str, name: str, record: bytes) -> None:
        self._conn.execute("UPDATE stores SET name = ?, record = ? WHERE id = ?",
                           (name, record, store_id))

    def mark_deleted(self, store_id: str, record: bytes, prior_status: str) -> None:
        self._conn.execute("UPDATE stores SET record = ?, prior_status = ? WHERE id = ?",
                           (record, prior_status, store_id))

    def prior_status(self, store_id: str) -> str | None:
        row = self._conn.execute("SELECT prior_status FROM stores WHERE id = ?",
                                 (store_id,)).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def restore(self, store_id: str, record: bytes) -> None:
        self._conn.execute("UPDATE stores SET record = ?, prior_status = NULL WHERE id = ?",
                           (record, store_id))

    def tags(self, store_id: str) -> bytes | None:
        row = self._conn.execute("SELECT tags FROM stores WHERE id = ?",
                                 (store_id,)).fetchone()
        return None if row is None else cast(bytes, row[0])  # JSON: bytes or text

    def set_tags(self, store_id: str, tags: bytes) -> None:
        self._conn.execute("UPDATE stores SET tags = ? WHERE id = ?", (tags, store_id))

    def delete_if(self, store_id: str, record: bytes) -> bool:
        cursor = self._conn.execute("DELETE FROM stores WHERE id = ? AND record = ?",
                                    (store_id, record))
        return cursor.rowcount > 0


class SqliteCatalogRows(SqliteRows[_Tx]):
    def __init__(self, data_dir: Path) -> None:
        super().__init__(SqliteDb(data_dir / "lake.db", SCHEMA, durable=True), _Tx)
