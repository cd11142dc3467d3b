"""The ledger's reader interface: everything a follower may ask of the ledger.

A follower (the history indexer and its queries, Insights, trail delivery, the Lake
writer, the console's activity page, `opentrail verify`) reads the ledger only through a
`LedgerReader`; none writes SQL against the ledger's tables, so a second backend only
has to answer these calls (and pass tests/ledger/test_ledger_reader_contract.py).

One meaning of "cursor" everywhere: the next sequence number a follower will read;
every seq below it has been consumed. A follower asks `rows(cursor, limit)` and moves
its cursor to the last row's seq + 1. A follower that routes by account and region and
decides from the body alone (the rule engine, the Sigma detector) asks `bodies_from`, the
same rows without the columns it would throw away.

Change detection is `size()`: the ledger only grows, so a follower that has consumed up
to `size()` has seen everything (a retention purge only drops bodies of events every
follower read long ago). No backend-specific polling (`PRAGMA data_version`) is needed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple, Protocol

from opentrail.ledger._merkle import CompactRange

__all__ = ["BodyRow", "LedgerReader", "LedgerRow", "scan", "tree_head"]

SCAN_CHUNK = 10_000


class LedgerRow(NamedTuple):
    """One stored event as followers see it."""

    seq: int  # leaf index: from 0, no gaps, in acknowledgement order
    account: str
    region: str
    category: int  # events.Category
    event_time: int  # epoch seconds of eventTime
    ingested: int  # epoch seconds of acknowledgement; grows with seq
    leaf: bytes  # SHA-256(0x00 || body), kept after expiry
    body: bytes | None  # canonical bytes; None once the ledger's retention expired it


class BodyRow(NamedTuple):
    """A stored event as followers that route by account and region read it."""

    seq: int
    account: str
    region: str
    body: bytes | None  # None once the ledger's retention expired it


class LedgerReader(Protocol):
    """Read access to the ledger. Safe to share between threads; each call sees a
    committed state (calls are not one snapshot together)."""

    def size(self) -> int:
        """The number of events stored: the seq the next appended event will get."""
        ...

    def rows(self, start: int, limit: int, end: int | None = None, *,
             category: int | None = None) -> list[LedgerRow]:
        """Up to `limit` rows with `start <= seq` (and `seq < end` when given), in seq
        order; only rows of `category` when given (the limit counts those)."""
        ...

    def bodies_from(self, start: int, limit: int) -> list[BodyRow]:
        """What `rows(start, limit)` answers, as (seq, account, region, body) only: about
        half the cost of a full row per event for a follower reading every body."""
        ...

    def bodies(self, seqs: Sequence[int]) -> dict[int, bytes | None]:
        """Body by seq for each of `seqs` the ledger holds (None once expired)."""
        ...

    def leaves(self, seqs: Sequence[int]) -> dict[int, bytes]:
        """Merkle leaf hash by seq for each of `seqs` the ledger holds."""
        ...

    def event(self, account: str, event_id: str) -> LedgerRow | None:
        """The row of (account, eventID), unique in the ledger, if stored."""
        ...

    def accounts(self) -> list[str]:
        """Every account with an event in the ledger, in byte order."""
        ...

    def first_ingested_at(self, ingested: int) -> int:
        """The first seq acknowledged at or after `ingested` (epoch seconds); `size()`
        when none is."""
        ...

    def close(self) -> None:
        """Release what the reader holds; it is not used afterwards."""
        ...


def scan(reader: LedgerReader, start: int = 0, chunk: int = SCAN_CHUNK) -> Iterator[LedgerRow]:
    """Every row from `start` to the end, chunk by chunk (bounded memory)."""
    while True:
        rows = reader.rows(start, chunk)
        if not rows:
            return
        yield from rows
        start = rows[-1].seq + 1


def tree_head(reader: LedgerReader) -> tuple[int, bytes]:
    """(size, RFC 9162 root) over every stored leaf hash."""
    compact = CompactRange()
    compact.extend(row.leaf for row in scan(reader))
    return compact.size, compact.root()
