"""Lake queries' storage interface: what QueryRunner needs of a database, no more.

QueryRunner (lake/_queries.py) keeps every rule: translation, limits, the life of a
query, pages and tokens, delivery. A backend stores its rows: the queries with their
statistics, the stores each one reads, its result rows (already rendered), and the record
of what a DeliveryS3Uri delivery wrote. Implemented by backends/sqlite
(DATA_DIR/lake-queries.db, the file and schema queries always used) and
backends/postgres (tables every node shares, so a query started on one node is
described, read, listed and cancelled on any).

A query runs on the node that started it (`node`), which stamps `heartbeat` on its
active queries every few seconds; an active query whose heartbeat is older than the
lease belongs to a node that stopped, and `fail_orphans` ends it FAILED.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol

__all__ = ["ACTIVE", "DeliveredResult", "NewQuery", "QueryInfo", "QueryRows"]

ACTIVE = ("QUEUED", "RUNNING")


@dataclass(frozen=True)
class QueryInfo:
    """One query as DescribeQuery and ListQueries see it."""

    id: str
    account: str
    owner: str
    statement: str
    status: str
    created: float
    started: float | None
    ended: float | None
    error: str | None
    total: int
    events_scanned: int
    bytes_scanned: int
    millis: int
    delivery_uri: str | None
    delivery_status: str | None
    node: str | None = None  # the node running it (None: recorded before nodes were)
    heartbeat: float | None = None  # when that node last said it still runs it


@dataclass(frozen=True)
class DeliveredResult:
    """One object a query's DeliveryS3Uri delivery wrote: its S3 VersionId (None for the
    folder and unversioned buckets) and the Object Lock it was written with."""

    query: str
    bucket: str
    key: str
    version_id: str | None
    lock_mode: str | None
    retain_until: float | None  # epoch seconds, UTC
    delivered: float


class NewQuery(NamedTuple):
    id: str
    account: str
    owner: str
    region: str
    statement: str
    created: float  # also its first heartbeat
    delivery_uri: str | None
    delivery_status: str | None  # PENDING with a DeliveryS3Uri
    node: str


class QueryRows(Protocol):
    def add(self, query: NewQuery, stores: list[str], max_active: int) -> int:
        """How many queries the account had QUEUED or RUNNING; when fewer than
        `max_active`, the query is stored QUEUED with the stores it reads, in the same
        transaction (so the limit holds with every node starting queries)."""
        ...

    def info(self, query_id: str) -> QueryInfo | None: ...

    def details(self, query_id: str) -> tuple[str, bytes | None]:
        """(region, result columns as JSON) of a stored query."""
        ...

    def set_running(self, query_id: str, now: float) -> None:
        """QUEUED becomes RUNNING (nothing else changes)."""
        ...

    def set_scanned(self, query_id: str, events: int, scanned_bytes: int) -> None: ...

    def set_columns(self, query_id: str, columns: bytes) -> None: ...

    def add_rows(self, query_id: str, first: int, rows: list[bytes]) -> str:
        """Store rows numbered from `first` and the new total; the query's status."""
        ...

    def end(self, query_id: str, status: str, error: str | None, now: float, millis: int,
            delivery: str | None) -> None:
        """End an active query (an ended one stays as it is); its delivery status becomes
        `delivery` when it has a DeliveryS3Uri and `delivery` is not None."""
        ...

    def set_delivery_status(self, query_id: str, status: str) -> None: ...

    def record_delivery(self, account: str, written: list[DeliveredResult]) -> None:
        """Record (or replace, by query and key) what a delivery wrote."""
        ...

    def delivered(self, account: str, query_id: str) -> list[DeliveredResult]:
        """The account's query's delivered objects, the sign file last, else by key."""
        ...

    def rows(self, query_id: str, start: int, limit: int) -> list[bytes]:
        """Stored rows from number `start`, in order."""
        ...

    def stores_of(self, query_id: str) -> list[str]: ...

    def find(self, account: str, store: str, *, start: float | None, end: float | None,
             status: str | None, limit: int, offset: int) -> list[str]:
        """IDs of the account's queries of `store` created in [start, end] with `status`,
        newest first (ties by ID)."""
        ...

    def purge(self, cutoff: float) -> int:
        """Forget every query that ended before `cutoff`, rows and stores included (not
        its delivery record); how many."""
        ...

    def heartbeat(self, node: str, now: float, query_ids: list[str]) -> dict[str, str]:
        """Stamp `now` on the node's active queries; the status of each of `query_ids`
        (one that is no longer active was ended elsewhere: cancelled on another node)."""
        ...

    def fail_orphans(self, error: str, now: float, *, node: str | None = None,
                     before: float | None = None) -> int:
        """End FAILED with `error` the active queries of `node` and those whose heartbeat
        is older than `before`; how many."""
        ...

    def close(self) -> None: ...
