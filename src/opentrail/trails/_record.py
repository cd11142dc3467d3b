"""The delivery record: every object a trail delivered, with its version and lock.

Rows of DATA_DIR/delivery.db's `delivered` table, written by Delivery in the transaction
that takes the object out of the outbox. Beside key and ledger range, a row keeps what the
destination answered: the S3 VersionId (None for the folder and unversioned buckets) and
the Object Lock mode and retain-until date the object was written with. Validation reads
by these version IDs, and the compliance report's Object Lock check (OT-14) starts from
`delivered_objects`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DeliveredObject", "add_lock_columns", "delivered_objects"]

LOCK_COLUMNS = (("version_id", "TEXT"), ("lock_mode", "TEXT"), ("retain_until", "REAL"))


@dataclass(frozen=True)
class DeliveredObject:
    arn: str
    kind: str                   # log, digest, checkpoint
    bucket: str
    key: str
    version_id: str | None
    lock_mode: str | None       # COMPLIANCE, GOVERNANCE, or None (not locked)
    retain_until: float | None  # epoch seconds, UTC
    delivered: float
    first_seq: int | None = None
    last_seq: int | None = None


def add_lock_columns(conn: sqlite3.Connection) -> None:
    """Older delivery.db files lack the lock columns: add them (rows before stay NULL)."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(delivered)")}
    for name, kind in LOCK_COLUMNS:
        if name not in have:
            conn.execute(f"ALTER TABLE delivered ADD COLUMN {name} {kind}")


def _query(conn: sqlite3.Connection, arn: str | None, start: float | None,
           end: float | None) -> list[DeliveredObject]:
    where, args = ["1"], []
    for clause, value in (("arn = ?", arn), ("delivered >= ?", start), ("delivered < ?", end)):
        if value is not None:
            where.append(clause)
            args.append(value)
    rows = conn.execute(
        "SELECT arn, kind, bucket, key, version_id, lock_mode, retain_until, delivered, "
        f"first_seq, last_seq FROM delivered WHERE {' AND '.join(where)} ORDER BY id",
        args).fetchall()
    return [DeliveredObject(*row) for row in rows]


def delivered_objects(source: Path | sqlite3.Connection, arn: str | None = None,
                      start: float | None = None, end: float | None = None
                      ) -> list[DeliveredObject]:
    """Objects delivered in [start, end) (epoch seconds), of one trail or of all, in
    delivery order. `source` is the data dir (opened read-only) or an open connection."""
    if isinstance(source, sqlite3.Connection):
        return _query(source, arn, start, end)
    path = source / "delivery.db"
    if not path.exists():
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        have = {row[1] for row in conn.execute("PRAGMA table_info(delivered)")}
        if not {name for name, _ in LOCK_COLUMNS} <= have:
            return []  # written by a version before the lock columns; nothing to add
        return _query(conn, arn, start, end)
    finally:
        conn.close()
