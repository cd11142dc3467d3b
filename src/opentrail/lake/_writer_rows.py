"""The Lake writer's storage interface: what LakeWriter needs of a database, no more.

The writer (lake/_writer.py) keeps every rule: which events a store receives, file and
manifest layout, when a manifest is due, what a crash leaves to clean up. A backend
stores its rows: the ledger cursor, each store's manifest chain (next number, head hash,
ranges examined and not yet in a manifest), each store's committed files, and the
`pending` keys being changed in the location. Implemented by backends/sqlite
(DATA_DIR/lake-writer.db, the file and schema the writer always used) and
backends/postgres (tables shared by every node, so the node that takes the lake-writer
role over goes on from the same cursor and the same chains, and every node's statistics
and EventsScanned read the same file list).

Guards, so that two writers (a node that lost the role without noticing, an import on
another node) never interleave: `exclusive()` is held across a whole commit (pending
keys, the location's puts, the record), one writer at a time anywhere; and inside a
`write()` the cursor and each chain move only from the value the writer read (`move`,
`set_chain` are compare-and-set), so a writer whose view is stale has its commit rolled
back (`LakeWriterMoved`) instead of writing a second chain or the same rows twice.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import NamedTuple, Protocol

from opentrail.lake._manifest import FileEntry

__all__ = ["EMPTY_CHAIN", "WRITER_FILE", "LakeWriterMoved", "StoredChain", "WriterRows",
           "WriterTx", "recorded_head"]

WRITER_FILE = "lake-writer.db"  # the embedded backend's file, under the data dir


class LakeWriterMoved(Exception):
    """Another writer moved the cursor or a chain since this one read it: its commit was
    rolled back; it reloads the state and goes on from there."""


class StoredChain(NamedTuple):
    next: int  # number of the next manifest
    head: str | None  # SHA-256 of the last manifest's bytes
    ranges: str  # JSON list of [start, end) ledger ranges examined, not yet in a manifest
    store: str | None  # the store as those ranges were examined (JSON)
    since: float | None  # when the first of those ranges was examined


EMPTY_CHAIN = StoredChain(0, None, "[]", None, None)


class WriterTx(Protocol):
    """One transaction's view of the writer's state."""

    def cursor(self) -> int:
        """The next ledger seq to read (0 before the first batch)."""
        ...

    def move(self, expected: int, to: int) -> bool:
        """Move the cursor from `expected` to `to`; False, changing nothing, when it is
        no longer at `expected` (another writer moved it)."""
        ...

    def chain(self, store_id: str) -> StoredChain | None: ...

    def chains(self) -> dict[str, StoredChain]:
        """Every store's chain, by store id."""
        ...

    def set_chain(self, store_id: str, expected_next: int, chain: StoredChain) -> bool:
        """Store the chain if its `next` is still `expected_next` (0: no chain yet);
        False, changing nothing, otherwise."""
        ...

    def files(self, store_id: str) -> list[FileEntry]:
        """The store's committed files, by key."""
        ...

    def has_file(self, store_id: str, key: str) -> bool: ...

    def add_files(self, store_id: str, entries: list[FileEntry]) -> None:
        """Insert or replace these files."""
        ...

    def remove_files(self, store_id: str, keys: list[str]) -> None: ...

    def totals(self, store_id: str) -> tuple[int, int, int]:
        """(files, rows, bytes) of the store's committed files."""
        ...

    def recorded(self, store_id: str) -> dict[str, tuple[int, int]]:
        """key -> (rows, bytes) of the store's committed files."""
        ...

    def pending(self) -> list[str]:
        """Full keys (`<store id>/<key>`) being changed."""
        ...

    def add_pending(self, keys: list[str]) -> None: ...

    def clear_pending(self) -> None: ...

    def drop_store(self, store_id: str) -> None:
        """Forget the store's files and chain."""
        ...


class WriterRows(Protocol):
    def read(self) -> AbstractContextManager[WriterTx]: ...

    def write(self) -> AbstractContextManager[WriterTx]: ...

    def exclusive(self) -> AbstractContextManager[None]:
        """Held across a whole commit: one writer at a time among every process (or node)
        sharing these rows; re-entrant on the thread holding it."""
        ...

    def close(self) -> None: ...


def recorded_head(rows: WriterRows, store_id: str) -> tuple[int, str | None] | None:
    """(manifests, last manifest's SHA-256) as a writer committed them for the store, read
    without a running writer (`opentrail validate-lake`); None if it wrote none."""
    with rows.read() as tx:
        chain = tx.chain(store_id)
    return None if chain is None else (chain.next, chain.head)
