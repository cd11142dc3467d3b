"""Trails in DATA_DIR/trails.db: `TrailRows` (trails/_rows.py) on SQLite."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, cast

from opentrail.backends.sqlite._db import SqliteDb, SqliteRows
from opentrail.trails._rows import TrailRow

__all__ = ["SqliteTrailRows"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS trails (
    arn TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    home_region TEXT NOT NULL,
    name TEXT NOT NULL,
    multi_region INTEGER NOT NULL,
    config BLOB NOT NULL,
    status BLOB NOT NULL,
    UNIQUE (account, home_region, name)
);
CREATE INDEX IF NOT EXISTS trails_by_account ON trails (account, name);
CREATE TABLE IF NOT EXISTS bucket_owners (
    bucket  TEXT PRIMARY KEY,
    account TEXT NOT NULL
);
"""

Stored = list[tuple[bytes, bytes]]


class _Tx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def _select(self, where: str, args: tuple[Any, ...]) -> Stored:
        rows = self._conn.execute(
            f"SELECT config, status FROM trails WHERE {where} ORDER BY name, home_region",
            args).fetchall()
        return [(config, status) for config, status in rows]

    def select_all(self) -> Stored:
        return self._select("1", ())

    def select_account(self, account: str) -> Stored:
        return self._select("account = ?", (account,))

    def select_visible(self, account: str, region: str) -> Stored:
        return self._select("account = ? AND (home_region = ? OR multi_region = 1)",
                            (account, region))

    def select_arn(self, arn: str) -> Stored:
        return self._select("arn = ?", (arn,))

    def insert(self, row: TrailRow) -> None:
        self._conn.execute(
            "INSERT INTO trails (arn, account, home_region, name, multi_region, config, "
            "status) VALUES (?,?,?,?,?,?,?)",
            (row.arn, row.account, row.home_region, row.name, int(row.multi_region),
             row.config, row.status))

    def update_config(self, arn: str, multi_region: bool, config: bytes) -> bool:
        cursor = self._conn.execute(
            "UPDATE trails SET multi_region = ?, config = ? WHERE arn = ?",
            (int(multi_region), config, arn))
        return cursor.rowcount > 0

    def _column(self, column: str, arn: str) -> bytes | None:
        row = self._conn.execute(f"SELECT {column} FROM trails WHERE arn = ?",
                                 (arn,)).fetchone()
        return None if row is None else cast(bytes, row[0])  # JSON: bytes or text

    def config(self, arn: str) -> bytes | None:
        return self._column("config", arn)

    def status(self, arn: str) -> bytes | None:
        return self._column("status", arn)

    def set_status(self, arn: str, status: bytes) -> None:
        self._conn.execute("UPDATE trails SET status = ? WHERE arn = ?", (status, arn))

    def delete(self, arn: str) -> None:
        self._conn.execute("DELETE FROM trails WHERE arn = ?", (arn,))

    def bucket_owner(self, bucket: str) -> str | None:
        row = self._conn.execute("SELECT account FROM bucket_owners WHERE bucket = ?",
                                 (bucket,)).fetchone()
        return None if row is None else str(row[0])

    def add_bucket_owner(self, bucket: str, account: str) -> None:
        self._conn.execute("INSERT OR IGNORE INTO bucket_owners VALUES (?, ?)",
                           (bucket, account))


class SqliteTrailRows(SqliteRows[_Tx]):
    def __init__(self, data_dir: Path) -> None:
        super().__init__(SqliteDb(data_dir / "trails.db", SCHEMA, durable=True), _Tx)
