"""The ledger's reader interface for followers: batches of rows from a cursor.

A follower (the Lake writer, and in time history, Insights and delivery) asks for the
rows at or after its cursor, in sequence order, and never writes SQL against the
ledger's `events` table itself, so a second backend only has to answer these calls.
"""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

__all__ = ["LedgerRow", "leaves", "next_seq", "rows_from"]


class LedgerRow(NamedTuple):
    seq: int
    account: str
    region: str
    category: int  # events.Category
    event_time: int  # epoch seconds of eventTime
    body: bytes | None  # canonical bytes; None once the ledger's retention expired it


def rows_from(conn: sqlite3.Connection, start: int, limit: int,
              end: int | None = None) -> list[LedgerRow]:
    """Up to `limit` rows with `start <= seq` (and `seq < end` when given), by seq."""
    if end is None:
        rows = conn.execute(
            "SELECT seq, account, region, category, event_time, body FROM events "
            "WHERE seq >= ? ORDER BY seq LIMIT ?", (start, limit)).fetchall()
    else:
        rows = conn.execute(
            "SELECT seq, account, region, category, event_time, body FROM events "
            "WHERE seq >= ? AND seq < ? ORDER BY seq LIMIT ?", (start, end, limit)).fetchall()
    return [LedgerRow(*row) for row in rows]


def next_seq(conn: sqlite3.Connection) -> int:
    """The ledger's size: the seq the next appended event will get."""
    row = conn.execute("SELECT MAX(seq) FROM events").fetchone()
    return 0 if row[0] is None else int(row[0]) + 1


def leaves(conn: sqlite3.Connection, seqs: list[int]) -> dict[int, bytes]:
    """The Merkle leaf hash (SHA-256 of 0x00 || body) of each seq the ledger holds."""
    out: dict[int, bytes] = {}
    for i in range(0, len(seqs), 500):
        chunk = seqs[i : i + 500]
        marks = ",".join("?" * len(chunk))
        out.update(conn.execute(f"SELECT seq, leaf FROM events WHERE seq IN ({marks})", chunk))
    return out
