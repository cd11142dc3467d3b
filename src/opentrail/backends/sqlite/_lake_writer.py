"""The Lake writer's state in DATA_DIR/lake-writer.db: `WriterRows` (lake/_writer_rows.py)
on SQLite, the file and schema the writer always used (so existing data dirs keep their
cursor, chains and file lists). One writer per data dir runs at a time (the lake-writer
role's lock file), and the writer's own lock serialises its threads, so `exclusive()`
adds nothing here."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from opentrail.backends.sqlite._db import SqliteDb, SqliteRows
from opentrail.lake._manifest import FileEntry
from opentrail.lake._writer_rows import WRITER_FILE, StoredChain

__all__ = ["WRITER_FILE", "SqliteWriterRows"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS cursor (name TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS chain (
    store_id TEXT PRIMARY KEY,
    next     INTEGER NOT NULL,       -- number of the next manifest
    head     TEXT,                   -- SHA-256 of the last manifest's bytes
    ranges   TEXT NOT NULL DEFAULT '[]',  -- ledger ranges examined, not yet in a manifest
    store    TEXT,                   -- the store as those ranges were examined (JSON)
    since    REAL                    -- when the first of those ranges was examined
);
CREATE TABLE IF NOT EXISTS files (
    store_id  TEXT NOT NULL,
    key       TEXT NOT NULL,         -- relative to the store's folder
    sha256    TEXT NOT NULL,
    rows      INTEGER NOT NULL,
    bytes     INTEGER NOT NULL,
    first_seq INTEGER,
    last_seq  INTEGER,
    PRIMARY KEY (store_id, key)
);
CREATE TABLE IF NOT EXISTS pending (key TEXT PRIMARY KEY);  -- full keys being changed
"""


class _Tx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def cursor(self) -> int:
        row = self._conn.execute("SELECT seq FROM cursor WHERE name = 'ledger'").fetchone()
        return int(row[0]) if row else 0

    def move(self, expected: int, to: int) -> bool:
        if self._conn.execute("SELECT 1 FROM cursor WHERE name = 'ledger'").fetchone():
            return self._conn.execute("UPDATE cursor SET seq = ? WHERE name = 'ledger' AND "
                                      "seq = ?", (to, expected)).rowcount == 1
        if expected != 0:
            return False
        self._conn.execute("INSERT INTO cursor VALUES ('ledger', ?)", (to,))
        return True

    def chain(self, store_id: str) -> StoredChain | None:
        row = self._conn.execute("SELECT next, head, ranges, store, since FROM chain "
                                 "WHERE store_id = ?", (store_id,)).fetchone()
        return None if row is None else StoredChain(*row)

    def chains(self) -> dict[str, StoredChain]:
        rows = self._conn.execute("SELECT store_id, next, head, ranges, store, since "
                                  "FROM chain").fetchall()
        return {row[0]: StoredChain(*row[1:]) for row in rows}

    def set_chain(self, store_id: str, expected_next: int, chain: StoredChain) -> bool:
        found = self.chain(store_id)
        if (found.next if found else 0) != expected_next:
            return False
        self._conn.execute("INSERT OR REPLACE INTO chain VALUES (?,?,?,?,?,?)",
                           (store_id, *chain))
        return True

    def files(self, store_id: str) -> list[FileEntry]:
        rows = self._conn.execute("SELECT key, sha256, rows, bytes, first_seq, last_seq "
                                  "FROM files WHERE store_id = ? ORDER BY key", (store_id,))
        return [FileEntry(*row) for row in rows]

    def has_file(self, store_id: str, key: str) -> bool:
        return self._conn.execute("SELECT 1 FROM files WHERE store_id = ? AND key = ?",
                                  (store_id, key)).fetchone() is not None

    def add_files(self, store_id: str, entries: list[FileEntry]) -> None:
        self._conn.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?)",
                               [(store_id, e.key, e.sha256, e.rows, e.bytes,
                                 e.first_seq, e.last_seq) for e in entries])

    def remove_files(self, store_id: str, keys: list[str]) -> None:
        self._conn.executemany("DELETE FROM files WHERE store_id = ? AND key = ?",
                               [(store_id, key) for key in keys])

    def totals(self, store_id: str) -> tuple[int, int, int]:
        row = self._conn.execute("SELECT COUNT(*), COALESCE(SUM(rows), 0), "
                                 "COALESCE(SUM(bytes), 0) FROM files WHERE store_id = ?",
                                 (store_id,)).fetchone()
        return int(row[0]), int(row[1]), int(row[2])

    def recorded(self, store_id: str) -> dict[str, tuple[int, int]]:
        rows = self._conn.execute("SELECT key, rows, bytes FROM files WHERE store_id = ?",
                                  (store_id,)).fetchall()
        return {key: (count, size) for key, count, size in rows}

    def pending(self) -> list[str]:
        return [key for (key,) in self._conn.execute("SELECT key FROM pending ORDER BY key")]

    def add_pending(self, keys: list[str]) -> None:
        self._conn.executemany("INSERT OR IGNORE INTO pending VALUES (?)",
                               [(key,) for key in keys])

    def clear_pending(self) -> None:
        self._conn.execute("DELETE FROM pending")

    def drop_store(self, store_id: str) -> None:
        self._conn.execute("DELETE FROM files WHERE store_id = ?", (store_id,))
        self._conn.execute("DELETE FROM chain WHERE store_id = ?", (store_id,))


class SqliteWriterRows(SqliteRows[_Tx]):
    def __init__(self, data_dir: Path) -> None:
        super().__init__(SqliteDb(Path(data_dir) / WRITER_FILE, SCHEMA, durable=True,
                                  timeout=10), _Tx)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        yield
