"""The one place detect/ reads the ledger: rows from a sequence number, and the head.

Both the continuous detector and the history replay read through `ledger_rows`, so when
the ledger's reader interface changes (another backend, another reader shape) only this
function follows it.
"""

from __future__ import annotations

import sqlite3

from opentrail.ledger import LedgerRow, next_seq, rows_from

__all__ = ["ledger_rows"]


def ledger_rows(conn: sqlite3.Connection, start: int, limit: int,
                end: int | None = None) -> tuple[int, list[LedgerRow]]:
    """The ledger's head (the next seq it will assign) and up to `limit` rows with
    `start <= seq` (and `seq < end`), in sequence order."""
    head = next_seq(conn)
    return head, rows_from(conn, start, limit, end) if start < head else []
