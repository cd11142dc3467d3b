"""Access keys in PostgreSQL: `KeyRows` (auth/_key_rows.py).

Every change bumps `access_key_changes.version` in its own transaction, which is the
`change_marker` each node's KeyStore polls to drop its cache (a key deleted on one node
stops working on all within the KeyStore's refresh interval).
"""

from __future__ import annotations

from typing import Any

from opentrail.auth._key_rows import KeyRow
from opentrail.backends.postgres._db import KEY_LOCK, PgDb

__all__ = ["PgKeyRows"]

_COLUMNS = "access_key_id, account, organization, role, name, created, sealed_secret"
_BUMP = "UPDATE access_key_changes SET version = version + 1"


def _row(row: tuple[Any, ...]) -> KeyRow:
    key_id, account, organization, role, name, created, sealed = row
    return KeyRow(key_id, account, bool(organization), role, name, float(created),
                  bytes(sealed))


class PgKeyRows:
    def __init__(self, db: PgDb) -> None:
        self._db = db
        self.where = db.where

    def insert(self, row: KeyRow) -> None:
        with self._db.transaction(KEY_LOCK) as conn:
            conn.execute(f"INSERT INTO access_keys ({_COLUMNS}) VALUES "
                         "(%s, %s, %s, %s, %s, %s, %s)", tuple(row))
            conn.execute(_BUMP)

    def select_all(self) -> list[KeyRow]:
        with self._db.transaction() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM access_keys ORDER BY created, "
                                'access_key_id COLLATE "C"').fetchall()
        return [_row(row) for row in rows]

    def select(self, access_key_id: str) -> KeyRow | None:
        with self._db.transaction() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM access_keys WHERE access_key_id = %s",
                               (access_key_id,)).fetchone()
        return None if row is None else _row(row)

    def delete(self, access_key_id: str) -> bool:
        with self._db.transaction(KEY_LOCK) as conn:
            cursor = conn.execute("DELETE FROM access_keys WHERE access_key_id = %s",
                                  (access_key_id,))
            conn.execute(_BUMP)
        return cursor.rowcount > 0

    def any(self) -> bool:
        with self._db.transaction() as conn:
            return conn.execute("SELECT 1 FROM access_keys LIMIT 1").fetchone() is not None

    def change_marker(self) -> int:
        with self._db.transaction() as conn:
            row = conn.execute("SELECT version FROM access_key_changes").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        """The pool belongs to the backend, which closes it."""
