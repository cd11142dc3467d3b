"""Where signed checkpoints are kept: the storage interface, and its SQLite file.

Checkpoints are statements OpenTrail published (unlike tree.db, not derived state), so
they are stored durably and never changed: one row per tree size, and the first one
stored for a size wins (a second `add` of that size is ignored). The embedded store is
DATA_DIR/checkpoints.db (fsync'd); backends/postgres keeps them in the `checkpoints`
table, shared by every node, so the node signing them can change.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, NamedTuple, Protocol

__all__ = ["CHECKPOINTS_FILE", "CheckpointRow", "CheckpointRows", "SqliteCheckpointRows"]

CHECKPOINTS_FILE = "checkpoints.db"

SCHEMA = """
CREATE TABLE IF NOT EXISTS checkpoints (
    size INTEGER PRIMARY KEY,   -- tree size: one checkpoint per size, the first signed
    root BLOB    NOT NULL,
    time INTEGER NOT NULL,      -- epoch seconds
    note TEXT    NOT NULL       -- the signed note, byte for byte as published
);
"""


class CheckpointRow(NamedTuple):
    size: int
    root: bytes
    time: int  # epoch seconds it was signed
    note: str  # the signed note as published


class CheckpointRows(Protocol):
    def add(self, row: CheckpointRow) -> None:
        """Store `row` unless a checkpoint of its size is stored (that one stays)."""
        ...

    def latest(self) -> CheckpointRow | None:
        """The checkpoint of the largest tree."""
        ...

    def at(self, size: int) -> CheckpointRow | None: ...

    def last_before(self, time: int) -> CheckpointRow | None:
        """The largest checkpoint signed before epoch second `time`."""
        ...

    def between(self, start: int, end: int, limit: int | None = None) -> list[CheckpointRow]:
        """Checkpoints signed at [start, end), by size (at most `limit`)."""
        ...

    def after(self, size: int, limit: int) -> list[CheckpointRow]:
        """Up to `limit` checkpoints of trees larger than `size`, by size (a full scan
        pages through them, for `opentrail verify`)."""
        ...

    def close(self) -> None: ...


class SqliteCheckpointRows:
    def __init__(self, data_dir: Path) -> None:
        self._conn = sqlite3.connect(data_dir / CHECKPOINTS_FILE, isolation_level=None,
                                     check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout=10000")
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(SCHEMA)

    def add(self, row: CheckpointRow) -> None:
        self._conn.execute("INSERT OR IGNORE INTO checkpoints VALUES (?,?,?,?)", row)

    def latest(self) -> CheckpointRow | None:
        return self._one("ORDER BY size DESC LIMIT 1", ())

    def at(self, size: int) -> CheckpointRow | None:
        return self._one("WHERE size = ?", (size,))

    def last_before(self, time: int) -> CheckpointRow | None:
        return self._one("WHERE time < ? ORDER BY size DESC LIMIT 1", (time,))

    def between(self, start: int, end: int, limit: int | None = None) -> list[CheckpointRow]:
        return self._all("WHERE time >= ? AND time < ? ORDER BY size LIMIT ?",
                         (start, end, -1 if limit is None else limit))

    def after(self, size: int, limit: int) -> list[CheckpointRow]:
        return self._all("WHERE size > ? ORDER BY size LIMIT ?", (size, limit))

    def _one(self, where: str, args: tuple[Any, ...]) -> CheckpointRow | None:
        found = self._all(where, args)
        return found[0] if found else None

    def _all(self, where: str, args: tuple[Any, ...]) -> list[CheckpointRow]:
        rows = self._conn.execute(f"SELECT size, root, time, note FROM checkpoints {where}",
                                  args).fetchall()
        return [CheckpointRow(r[0], bytes(r[1]), r[2], r[3]) for r in rows]

    def close(self) -> None:
        self._conn.close()
