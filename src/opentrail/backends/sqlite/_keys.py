"""Access keys in DATA_DIR/keys.db (0600): `KeyRows` (auth/_key_rows.py) on SQLite.

One connection shared under a lock: `PRAGMA data_version` then changes only on other
connections' commits (the CLI while the server runs).
"""

from __future__ import annotations

from pathlib import Path

from opentrail.auth._key_rows import KeyRow
from opentrail.backends.sqlite._db import SqliteDb

__all__ = ["SqliteKeyRows"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS access_keys (
    access_key_id TEXT PRIMARY KEY,
    account TEXT,                    -- NULL for organization keys
    organization INTEGER NOT NULL,
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    created REAL NOT NULL,
    sealed_secret BLOB NOT NULL      -- version || nonce || AES-GCM(secret)
) STRICT
"""
_COLUMNS = "access_key_id, account, organization, role, name, created, sealed_secret"


def _row(row: tuple[str, str | None, int, str, str, float, bytes]) -> KeyRow:
    key_id, account, organization, role, name, created, sealed = row
    return KeyRow(key_id, account, bool(organization), role, name, created, sealed)


class SqliteKeyRows:
    def __init__(self, data_dir: Path) -> None:
        self._db = SqliteDb(Path(data_dir) / "keys.db", SCHEMA, private=True, timeout=10)
        self.where = str(self._db.path)

    def insert(self, row: KeyRow) -> None:
        with self._db.write() as conn:
            conn.execute(f"INSERT INTO access_keys ({_COLUMNS}) VALUES (?,?,?,?,?,?,?)",
                         (*row[:2], int(row.organization), *row[3:]))

    def select_all(self) -> list[KeyRow]:
        with self._db.read() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM access_keys"
                                " ORDER BY created, access_key_id").fetchall()
        return [_row(row) for row in rows]

    def select(self, access_key_id: str) -> KeyRow | None:
        with self._db.read() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM access_keys WHERE access_key_id = ?",
                               (access_key_id,)).fetchone()
        return None if row is None else _row(row)

    def delete(self, access_key_id: str) -> bool:
        with self._db.write() as conn:
            cursor = conn.execute("DELETE FROM access_keys WHERE access_key_id = ?",
                                  (access_key_id,))
        return cursor.rowcount > 0

    def any(self) -> bool:
        with self._db.read() as conn:
            return conn.execute("SELECT 1 FROM access_keys LIMIT 1").fetchone() is not None

    def change_marker(self) -> int:
        with self._db.read() as conn:
            return int(conn.execute("PRAGMA data_version").fetchone()[0])

    def close(self) -> None:
        self._db.close()
