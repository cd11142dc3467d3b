"""Sigma findings in PostgreSQL: `FindingStore` (detect/_store.py) over the `findings` and
`detect_cursor` tables (migration 0013), shared by every node.

A finding acknowledged on one node is acknowledged on every node (one row; the update
keeps the first acknowledgement, as in SQLite: a second node's concurrent update
re-reads the row and finds it no longer open). `save` holds DETECT_LOCK and moves the
cursor only from the value its batch started at, so a detector that lost the `detector`
role without noticing (a partitioned node) stores nothing instead of moving the cursor
back or storing a batch twice; findings are keyed by their derived eventID, so the same
finding is never stored twice either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentrail.backends.postgres._db import DETECT_LOCK, PgDb
from opentrail.detect._finding import Finding
from opentrail.detect._store import StoredFinding, detail_text, stored_finding

__all__ = ["PgFindingStore"]

_COLUMNS = "id, account, region, created, state, acknowledged_by, acknowledged_at, detail"
_CURSOR = "ledger"


class PgFindingStore:
    def __init__(self, db: PgDb) -> None:
        self._db = db

    def close(self) -> None:
        """The pool belongs to the backend, which closes it."""

    def cursor(self) -> int | None:
        with self._db.transaction() as conn:
            row = conn.execute("SELECT seq FROM detect_cursor WHERE name = %s",
                               (_CURSOR,)).fetchone()
        return None if row is None else int(row[0])

    def save(self, findings: Sequence[Finding], cursor: int, start: int | None) -> bool:
        rows = [(f.id, f.account, f.region, f.created, detail_text(f)) for f in findings]
        with self._db.transaction(DETECT_LOCK) as conn:
            row = conn.execute("SELECT seq FROM detect_cursor WHERE name = %s",
                               (_CURSOR,)).fetchone()
            if (None if row is None else int(row[0])) != start:
                return False
            if rows:
                with conn.cursor() as cur:
                    cur.executemany("INSERT INTO findings (id, account, region, created, "
                                    "detail) VALUES (%s, %s, %s, %s, %s) "
                                    "ON CONFLICT (id) DO NOTHING", rows)
            conn.execute("INSERT INTO detect_cursor (name, seq) VALUES (%s, %s) ON CONFLICT "
                         "(name) DO UPDATE SET seq = excluded.seq", (_CURSOR, cursor))
        return True

    def listed(self, accounts: tuple[str, ...] | None, state: str | None, limit: int,
               after: tuple[float, str] | None = None) -> list[StoredFinding]:
        """Newest first, as SQLite's (ids compare byte-wise: the "C" collation)."""
        where, args = _scope(accounts)
        if state is not None:
            where.append("state = %s")
            args.append(state)
        if after is not None:
            where.append("(created, id) < (%s, %s)")
            args += [after[0], after[1]]
        sql = (f"SELECT {_COLUMNS} FROM findings"
               + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY created DESC, id DESC LIMIT %s")
        with self._db.transaction() as conn:
            rows = conn.execute(sql, [*args, limit]).fetchall()
        return [stored_finding(row) for row in rows]

    def acknowledge(self, finding_id: str, accounts: tuple[str, ...] | None, by: str,
                    now: float) -> StoredFinding | None:
        where, args = _scope(accounts)
        cond = " AND ".join(["id = %s", *where])
        with self._db.transaction() as conn:
            conn.execute(f"UPDATE findings SET state = 'acknowledged', acknowledged_by = %s, "
                         f"acknowledged_at = %s WHERE {cond} AND state = 'open'",
                         [by, now, finding_id, *args])
            row = conn.execute(f"SELECT {_COLUMNS} FROM findings WHERE {cond}",
                               [finding_id, *args]).fetchone()
        return None if row is None else stored_finding(row)

    def unpublished(self, limit: int) -> list[Finding]:
        with self._db.transaction() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM findings WHERE NOT published "
                                "ORDER BY created, id LIMIT %s", (limit,)).fetchall()
        return [stored_finding(row).finding for row in rows]

    def mark_published(self, ids: Sequence[str]) -> None:
        with self._db.transaction() as conn:
            conn.execute("UPDATE findings SET published = true WHERE id = ANY(%s)",
                         (list(ids),))


def _scope(accounts: tuple[str, ...] | None) -> tuple[list[str], list[Any]]:
    if accounts is None:
        return [], []
    return ["account = ANY(%s)"], [list(accounts)]
