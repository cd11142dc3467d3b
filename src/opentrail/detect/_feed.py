"""The one place detect/ reads the ledger: a reader, rows from a sequence number, and
the head.

Both the continuous detector and the history replay (RunSigmaRules) read through
`ledger_rows`, so when the ledger's backend changes only this module follows it.
"""

from __future__ import annotations

from pathlib import Path

from opentrail.ledger import LedgerReader, LedgerRow, open_ledger_reader

__all__ = ["ledger_rows", "open_ledger"]


def open_ledger(data_dir: Path) -> LedgerReader:
    """A reader of the ledger (close it when done)."""
    return open_ledger_reader(data_dir)


def ledger_rows(ledger: LedgerReader, start: int, limit: int,
                end: int | None = None) -> tuple[int, list[LedgerRow]]:
    """The ledger's head (the next seq it will assign) and up to `limit` rows with
    `start <= seq` (and `seq < end`), in sequence order."""
    head = ledger.size()
    return head, ledger.rows(start, limit, end) if start < head and limit > 0 else []
