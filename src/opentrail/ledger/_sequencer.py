"""The ledger's write side under its writer: the interface each backend implements.

`LedgerWriter` (the queue, group commit, back-pressure and futures) is the same on every
backend; below it a `Sequencer` stores one batch. Its invariant, on every backend: one
batch at a time in the whole ledger (SQLite's `BEGIN IMMEDIATE`, PostgreSQL's advisory
lock), so inside it the next sequence number and the stored (account, eventID) pairs
are read fresh, the batch gets consecutive seqs with no gap and no duplicate even with
several writers (processes or nodes) appending, and `append` returns only after the
commit is durable: acknowledged means committed. A failed append stored nothing of the
batch, or (connection lost during COMMIT) its outcome is unknown: the caller was not
told "stored", and a retry is deduplicated by eventID.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from opentrail.events import Record

__all__ = ["Sequencer"]


class Sequencer(Protocol):
    """Appends batches to one ledger; used by one writer thread at a time."""

    def size(self) -> int:
        """Events committed (by any writer): the seq the next stored event gets."""
        ...

    def append(self, records: Sequence[Record], now: int) -> list[bool]:
        """Store the records not yet in the ledger (by (account, eventID), also within
        the batch), with consecutive seqs, leaf = SHA-256(0x00 || body) and ingest time
        `now` (never below a stored event's), in one durable commit; per record True if
        stored, False if a duplicate."""
        ...

    def purge(self, cutoff: int) -> int:
        """Drop bodies older than `cutoff` by event and by ingest time (leaves stay);
        returns how many were dropped."""
        ...

    def close(self) -> None: ...
