"""The PostgreSQL `CheckpointRows` (ledger/_checkpoint_rows.py): the `checkpoints` table.

Every node reads the checkpoints the elected signer stored. A checkpoint is added under
CHECKPOINT_LOCK and only when it is for a larger tree than every stored one, so even
two nodes that both believed they were the signer (a partitioned holder that has not yet
noticed) leave a sequence that grows in size and signing order, first signed wins.
"""

from __future__ import annotations

from typing import Any

from opentrail.backends.postgres._db import CHECKPOINT_LOCK, PgDb
from opentrail.ledger._checkpoint_rows import CheckpointRow

__all__ = ["PgCheckpointRows"]

_SELECT = "SELECT size, root, time, note FROM checkpoints"


class PgCheckpointRows:
    def __init__(self, db: PgDb) -> None:
        self._db = db

    def add(self, row: CheckpointRow) -> None:
        with self._db.transaction(CHECKPOINT_LOCK) as conn:
            conn.execute("INSERT INTO checkpoints (size, root, time, note) "
                         "SELECT %s, %s, %s, %s WHERE NOT EXISTS "
                         "(SELECT 1 FROM checkpoints WHERE size >= %s)", (*row, row.size))

    def latest(self) -> CheckpointRow | None:
        return self._one("ORDER BY size DESC LIMIT 1", ())

    def at(self, size: int) -> CheckpointRow | None:
        return self._one("WHERE size = %s", (size,))

    def last_before(self, time: int) -> CheckpointRow | None:
        return self._one("WHERE time < %s ORDER BY size DESC LIMIT 1", (time,))

    def between(self, start: int, end: int, limit: int | None = None) -> list[CheckpointRow]:
        return self._all("WHERE time >= %s AND time < %s ORDER BY size LIMIT %s",
                         (start, end, limit))

    def after(self, size: int, limit: int) -> list[CheckpointRow]:
        return self._all("WHERE size > %s ORDER BY size LIMIT %s", (size, limit))

    def _one(self, where: str, args: tuple[Any, ...]) -> CheckpointRow | None:
        found = self._all(where, args)
        return found[0] if found else None

    def _all(self, where: str, args: tuple[Any, ...]) -> list[CheckpointRow]:
        with self._db.transaction() as conn:
            rows = conn.execute(f"{_SELECT} {where}", args).fetchall()
        return [CheckpointRow(r[0], bytes(r[1]), r[2], r[3]) for r in rows]

    def close(self) -> None:
        """The pool belongs to the backend, which closes it."""
