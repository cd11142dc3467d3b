"""The history indexer over an `IndexRows` backend: a ledger follower, batch by batch.

Reads the ledger from the index's cursor, extracts each event's lookup terms, and hands
the batch to the rows, which commit the postings with the cursor past them. If another
node's indexer moved the cursor meanwhile, the batch is refused and this one resumes
from where that one stopped: never a gap, never a posting stored twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson

from opentrail.clock import Clock
from opentrail.history._fields import lookup_terms
from opentrail.history._index_rows import IndexedEvent, IndexRows, Scope
from opentrail.ledger import LedgerReader, LedgerRow

__all__ = ["RowsIndexer", "indexed_events"]

BATCH = 5_000
PURGE_EVERY = 3600.0


def indexed_events(rows: list[LedgerRow]) -> list[IndexedEvent]:
    """What the index stores of each ledger row (nothing of an expired one)."""
    return [IndexedEvent(seq, Scope(account, region, category), event_time,
                         lookup_terms(orjson.loads(body)))
            for seq, account, region, category, event_time, _ingested, _leaf, body in rows
            if body is not None]


class RowsIndexer:
    def __init__(self, rows: IndexRows, ledger: LedgerReader, clock: Clock,
                 retention_days: int) -> None:
        self._rows = rows
        self._ledger = ledger
        self._clock = clock
        self._retention = retention_days
        self.cursor = rows.cursor()
        self._last_purge = 0.0

    def close(self) -> None:
        """The rows and the ledger reader belong to the backend."""

    def step(self) -> int:
        """Index the next batch of ledger events; returns how many were indexed."""
        rows = self._ledger.rows(self.cursor, BATCH)
        if not rows:
            return 0
        end = rows[-1].seq + 1
        if not self._rows.add(indexed_events(rows), self.cursor, end):
            self.cursor = self._rows.cursor()  # another indexer stored it: go on from there
            return 0
        self.cursor = end
        return len(rows)

    def purge(self) -> int:
        """Remove postings that fell out of the retention window (leaves stay in the ledger)."""
        if self._retention <= 0:
            return 0
        return self._rows.purge(int(self._clock.now()) - self._retention * 86400)

    def run(self, stop: Callable[[], bool], idle: float = 0.01) -> None:
        """Index until `stop()` is true; polls the ledger when caught up."""
        while not stop():
            if self._clock.now() - self._last_purge > PURGE_EVERY:
                self._last_purge = self._clock.now()
                self.purge()
            if self.step() == 0:
                time.sleep(idle)
