"""Channels in DATA_DIR/channels.db: `ChannelRows` (channels/_rows.py) on SQLite."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from opentrail.backends.sqlite._db import SqliteDb, SqliteRows
from opentrail.channels._rows import ChannelRow

__all__ = ["SqliteChannelRows"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS channels (
    arn TEXT PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
    source TEXT NOT NULL, destinations BLOB NOT NULL, tags BLOB NOT NULL,
    ingestion BLOB NOT NULL DEFAULT '{}',
    UNIQUE (account, region, name)
);
"""
_COLUMNS = "arn, account, region, name, source, destinations, tags, ingestion"


class _Tx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def select_region(self, account: str, region: str) -> list[ChannelRow]:
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM channels WHERE account = ? AND region = ? ORDER BY name",
            (account, region)).fetchall()
        return [ChannelRow(*row) for row in rows]

    def select_arns(self, account: str | None, arns: tuple[str, ...]) -> list[ChannelRow]:
        marks = ",".join("?" * len(arns))
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM channels WHERE arn IN ({marks})"
            " AND (? IS NULL OR account = ?) ORDER BY arn", (*arns, account, account)).fetchall()
        return [ChannelRow(*row) for row in rows]

    def insert(self, row: ChannelRow) -> bool:
        try:
            self._conn.execute(f"INSERT INTO channels ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)",
                               tuple(row))
        except sqlite3.IntegrityError:
            return False
        return True

    def update(self, arn: str, name: str, destinations: bytes) -> bool:
        try:
            self._conn.execute("UPDATE channels SET name = ?, destinations = ? WHERE arn = ?",
                               (name, destinations, arn))
        except sqlite3.IntegrityError:
            return False
        return True

    def set_tags(self, arn: str, tags: bytes) -> None:
        self._conn.execute("UPDATE channels SET tags = ? WHERE arn = ?", (tags, arn))

    def set_ingestion(self, arn: str, ingestion: bytes) -> None:
        self._conn.execute("UPDATE channels SET ingestion = ? WHERE arn = ?", (ingestion, arn))

    def delete(self, arn: str) -> None:
        self._conn.execute("DELETE FROM channels WHERE arn = ?", (arn,))


class SqliteChannelRows(SqliteRows[_Tx]):
    def __init__(self, data_dir: Path) -> None:
        super().__init__(SqliteDb(data_dir / "channels.db", SCHEMA, timeout=5), _Tx)
