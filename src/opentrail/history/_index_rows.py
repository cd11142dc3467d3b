"""The history index's storage interface: what the indexer writes, what lookups ask.

Implemented by backends/postgres (`PgIndexRows`); the embedded backend keeps its own
history.db (`HistoryIndexer`, `HistoryReader`) behind the same `HistoryIndex` handle.
The history package keeps every rule (which terms an event is found by, the retention
window, pagination tokens, summaries); a backend only stores postings and finds hits.

`add` commits a batch's postings together with the cursor past it, so a crash never
leaves a gap or a duplicate, and with several nodes indexing only one batch per cursor
position is stored (a batch whose cursor moved meanwhile is refused, not duplicated).
`page` answers newest first by (event_time, seq), strictly below `after`, with each
event's body from the ledger (in the same read where the backend can: PostgreSQL holds
both in one database, so a page is one statement).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol

from opentrail.history._fields import Attr

if TYPE_CHECKING:
    from opentrail.clock import Clock
    from opentrail.history._activity_rows import ActivityRows
    from opentrail.history._query import LookupQuery, LookupResult
    from opentrail.ledger import LedgerReader

__all__ = [
    "Found",
    "HistoryIndex",
    "Hit",
    "IndexRows",
    "IndexedEvent",
    "Indexer",
    "Lookups",
    "Scope",
    "Term",
]

Hit = tuple[int, int]  # (event_time, seq)
Term = tuple[Attr, str]  # (attribute, value), as lookup_terms yields it
Found = tuple[int, int, bytes | None]  # (event_time, seq, the ledger's body or None)


class Scope(NamedTuple):
    """The partition a lookup reads: one account's events of one region and category."""

    account: str
    region: str
    category: int


class IndexedEvent(NamedTuple):
    seq: int
    scope: Scope
    event_time: int
    terms: list[Term]  # every (attribute, value) the event is found by, ALL first


class IndexRows(Protocol):
    def cursor(self) -> int:
        """The next ledger seq to index (0 for an empty index)."""
        ...

    def add(self, events: Sequence[IndexedEvent], start: int, end: int) -> bool:
        """Store the postings of seqs [start, end) and move the cursor from `start` to
        `end`, in one transaction; False (nothing stored) if the cursor was not `start`."""
        ...

    def purge(self, cutoff: int) -> int:
        """Remove postings of events older than `cutoff` (epoch s); returns how many."""
        ...

    def accounts(self) -> list[str]:
        """Every account with indexed events."""
        ...

    def page(self, scope: Scope, terms: Sequence[Term], lo: int, hi: int,
             after: Hit | None, limit: int) -> list[Found]:
        """Up to `limit` hits of events in `scope` having every term (every event of the
        scope when `terms` is empty), lo <= event_time <= hi, below `after`, newest first,
        each with its body in the ledger (None once the retention purge dropped it)."""
        ...

    def has(self, scope: Scope, terms: Sequence[Term], hit: Hit) -> bool:
        """Whether the event `hit` of `scope` has every one of `terms`."""
        ...

    def close(self) -> None: ...


class Indexer(Protocol):
    """A ledger follower keeping the index (`HistoryIndexer` or `RowsIndexer`)."""

    cursor: int

    def step(self) -> int: ...

    def purge(self) -> int: ...

    def run(self, stop: Callable[[], bool], idle: float = 0.01) -> None: ...

    def close(self) -> None: ...


class Lookups(Protocol):
    """What serves LookupEvents (`HistoryReader` or `RowsReader`)."""

    def window(self, query: LookupQuery) -> tuple[int, int]: ...

    def lookup(self, query: LookupQuery) -> LookupResult: ...


class HistoryIndex(Protocol):
    """A backend's history index, as `Backend.history_index()` hands it out."""

    def indexer(self, clock: Clock, retention_days: int,
                ledger: LedgerReader | None = None) -> Indexer: ...

    def reader(self, clock: Clock, retention_days: int,
               ledger: LedgerReader | None = None) -> Lookups: ...

    def activity(self) -> ActivityRows:
        """What the console's activity overview reads (history/_activity_rows.py)."""
        ...
