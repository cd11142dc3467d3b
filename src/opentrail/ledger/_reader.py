"""Reading the ledger: bodies by sequence number and the tree head."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator

from opentrail.ledger._merkle import CompactRange

__all__ = ["bodies", "tree_head"]

SCAN_CHUNK = 10_000


def bodies(conn: sqlite3.Connection, seqs: Iterable[int]) -> dict[int, bytes | None]:
    """Stored bodies by sequence number (None for expired events)."""
    wanted = list(seqs)
    out: dict[int, bytes | None] = {}
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(f"SELECT seq, body FROM events WHERE seq IN ({marks})", chunk)
        out.update(rows)
    return out


def _leaves(conn: sqlite3.Connection) -> Iterator[tuple[int, bytes, bytes | None]]:
    last = -1
    while True:
        rows = conn.execute(
            "SELECT seq, leaf, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            (last, SCAN_CHUNK)).fetchall()
        if not rows:
            return
        yield from rows
        last = rows[-1][0]


def tree_head(conn: sqlite3.Connection) -> tuple[int, bytes]:
    """(size, RFC 9162 root) over every stored leaf hash."""
    compact = CompactRange()
    compact.extend(leaf for _, leaf, _ in _leaves(conn))
    return compact.size, compact.root()
