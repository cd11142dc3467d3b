"""Trail delivery's storage interface: what Delivery needs of a database, no more.

Delivery (trails/_delivery.py) keeps every rule: which events a trail selects, file and
digest layout, the order of uploads. A backend stores its rows: per trail a cursor, an
outbox of finished objects, the log files the next digest lists (`undigested`), the open
digest chains, and the record of what was delivered. Implemented by backends/sqlite
(DATA_DIR/delivery.db) and backends/postgres (tables shared by every node, so the node
holding the trail-delivery role can change and the next one goes on from the same
cursor, outbox and chains). A `write()` is one transaction: the cursor moves in the same
transaction that puts the files it covered in the outbox.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import NamedTuple, Protocol

from opentrail.trails._record import DeliveredObject

__all__ = ["DeliveryRows", "DeliveryTx", "StoredCursor", "StoredOutgoing"]


class StoredCursor(NamedTuple):
    created: float  # the trail's creation time it belongs to
    seq: int  # the last ledger seq considered (the cursor - 1)
    period: float | None  # start_logging_time of the logging period being delivered
    last_run: float  # delivery time of the last delivery


class StoredOutgoing(NamedTuple):
    id: int
    kind: str  # "log", "digest" or "checkpoint"
    bucket: str
    key: str
    body: bytes
    metadata: str  # JSON object of S3 user metadata


class DeliveryTx(Protocol):
    """One transaction's view of the delivery state."""

    def cursor(self, arn: str) -> StoredCursor | None: ...

    def known(self) -> list[tuple[str, float]]:
        """(arn, created) of every trail with a cursor."""
        ...

    def set_cursor(self, arn: str, cursor: StoredCursor) -> None:
        """Insert or replace the trail's cursor."""
        ...

    def move(self, arn: str, expected: int, seq: int, last_run: float) -> bool:
        """Move the cursor from `expected` (the seq the writer read) to `seq`; False,
        changing nothing, when it is no longer at `expected` (another node moved it)."""
        ...

    def forget(self, arn: str) -> None:
        """Drop the trail's cursor, outbox, undigested files and chains (not its record)."""
        ...

    def outbox(self, arn: str) -> list[StoredOutgoing]:
        """The trail's outbox in the order its objects were put there."""
        ...

    def put_outbox(self, arn: str, kind: str, bucket: str, key: str, body: bytes,
                   metadata: str, seqs: tuple[int, int] | None, created: float) -> None: ...

    def done(self, outbox_id: int, delivered: float, version_id: str | None,
             lock_mode: str | None, retain_until: float | None) -> None:
        """Out of the outbox, into the delivery record."""
        ...

    def chains(self, arn: str) -> list[tuple[str, float, str | None]]:
        """(chain, next window start, previous digest's link as JSON), by chain."""
        ...

    def open_chain(self, arn: str, chain: str, start: float, like: str | None = None) -> None:
        """Open `chain` unless open, starting where the open chain `like` starts (or at
        `start` when `like` is None or not open)."""
        ...

    def advance_chain(self, arn: str, chain: str, start: float, prev: str) -> None: ...

    def drop_chains(self, arn: str, chain: str | None = None) -> None:
        """Close one chain of the trail, or all of them."""
        ...

    def undigested(self, arn: str, chain: str) -> list[tuple[int, str]]:
        """(id, LogFile as JSON) of the chain's log files not yet digested, in order."""
        ...

    def add_undigested(self, arn: str, chain: str, file: str) -> None: ...

    def drop_undigested(self, arn: str, ids: list[int] | None = None) -> None:
        """Drop those ids, or every undigested file of the trail."""
        ...

    def delivered(self, arn: str | None, start: float | None,
                  end: float | None) -> list[DeliveredObject]:
        """The record of objects delivered in [start, end), in delivery order."""
        ...


class DeliveryRows(Protocol):
    def read(self) -> AbstractContextManager[DeliveryTx]: ...

    def write(self) -> AbstractContextManager[DeliveryTx]: ...

    def close(self) -> None: ...
