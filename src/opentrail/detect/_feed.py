"""The one place detect/ reads the ledger: a read-only connection, rows from a sequence
number, and the head.

Both the continuous detector and the history replay (RunSigmaRules) read through
`ledger_rows`, so when the ledger's reader interface changes (another backend, another
reader shape) only this module follows it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from opentrail.ledger import LedgerRow, next_seq, open_reader, rows_from

__all__ = ["ledger_rows", "open_ledger"]


def open_ledger(data_dir: Path) -> sqlite3.Connection:
    """A read-only connection to the ledger (close it when done)."""
    return open_reader(data_dir)


def ledger_rows(conn: sqlite3.Connection, start: int, limit: int,
                end: int | None = None) -> tuple[int, list[LedgerRow]]:
    """The ledger's head (the next seq it will assign) and up to `limit` rows with
    `start <= seq` (and `seq < end`), in sequence order."""
    head = next_seq(conn)
    return head, rows_from(conn, start, limit, end) if start < head else []
