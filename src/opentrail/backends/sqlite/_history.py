"""The embedded history index: history.db under the data dir, as always.

Hands out today's `HistoryIndexer` and `HistoryReader` unchanged behind the backend's
`HistoryIndex` handle (history/_index_rows.py), so callers need not know the backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentrail.clock import Clock
    from opentrail.history import HistoryDbActivityRows, HistoryIndexer, HistoryReader
    from opentrail.ledger import LedgerReader

__all__ = ["SqliteHistoryIndex"]


class SqliteHistoryIndex:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def indexer(self, clock: Clock, retention_days: int,
                ledger: LedgerReader | None = None) -> HistoryIndexer:
        from opentrail.history import HistoryIndexer

        return HistoryIndexer(self.data_dir, clock, retention_days, ledger=ledger)

    def reader(self, clock: Clock, retention_days: int,
               ledger: LedgerReader | None = None) -> HistoryReader:
        from opentrail.history import HistoryReader, create_history

        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        create_history(self.data_dir).close()  # the reader opens it read-only
        return HistoryReader(self.data_dir, clock, retention_days, ledger=ledger)

    def activity(self) -> HistoryDbActivityRows:
        from opentrail.history import HistoryDbActivityRows, create_history

        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        create_history(self.data_dir).close()  # opened read-only
        return HistoryDbActivityRows(self.data_dir)
