"""The one place detect/ reads the ledger: a reader, rows from a sequence number, and
the head.

The continuous detector reads through `ledger_bodies` (seq, account, region and body: all
it needs to evaluate, at about half the cost of full rows), the history replay
(RunSigmaRules) through `ledger_rows` (it also filters by eventTime), so when the ledger's
backend changes only this module follows it.
"""

from __future__ import annotations

from pathlib import Path

from opentrail.ledger import BodyRow, LedgerReader, LedgerRow, open_ledger_reader

__all__ = ["ledger_bodies", "ledger_rows", "open_ledger"]


def open_ledger(data_dir: Path) -> LedgerReader:
    """A reader of the ledger (close it when done)."""
    return open_ledger_reader(data_dir)


def ledger_rows(ledger: LedgerReader, start: int, limit: int,
                end: int | None = None) -> tuple[int, list[LedgerRow]]:
    """The ledger's head (the next seq it will assign) and up to `limit` rows with
    `start <= seq` (and `seq < end`), in sequence order."""
    head = ledger.size()
    return head, ledger.rows(start, limit, end) if start < head and limit > 0 else []


def ledger_bodies(ledger: LedgerReader, start: int, limit: int) -> list[BodyRow]:
    """Up to `limit` rows from `start`, as (seq, account, region, body)."""
    return ledger.bodies_from(start, limit) if limit > 0 else []
