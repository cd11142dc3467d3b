"""The SQLite ledger's rows whole, eventIDs included, to move it to another backend.

Followers read through `LedgerReader`, which has no eventIDs in its rows; moving a
ledger (`opentrail migrate`) needs every column as stored, in seq order. Read-only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opentrail.ledger._schema import LEDGER_FILE, open_reader, recorded_retention

__all__ = ["LedgerExport"]

_ROWS = ("SELECT seq, account, region, category, event_time, ingested, event_id, leaf, "
         "body FROM events WHERE seq >= ? AND seq < ? ORDER BY seq")


class LedgerExport:
    """DATA_DIR/ledger.db opened read-only; `rows` answers whole rows by seq range."""

    def __init__(self, data_dir: Path) -> None:
        path = Path(data_dir) / LEDGER_FILE
        self._conn = open_reader(Path(data_dir)) if path.exists() else None

    def rows(self, start: int, end: int) -> list[tuple[Any, ...]]:
        """(seq, account, region, category, event_time, ingested, event_id, leaf, body)
        for seqs in [start, end), in seq order."""
        if self._conn is None:
            return []
        return self._conn.execute(_ROWS, (start, end)).fetchall()

    def retention(self) -> list[tuple[int, int]]:
        return [] if self._conn is None else recorded_retention(self._conn)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
