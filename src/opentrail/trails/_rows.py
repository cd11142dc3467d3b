"""The trail store's storage interface: what TrailStore needs of a database, no more.

Implemented by backends/sqlite and backends/postgres (opentrail.backends); TrailStore
keeps every rule (names, the 5-trails limit, bucket owners), a backend only stores rows.
A `write()` transaction is serialised against every other trail write, on every node,
so a rule checked inside it still holds at commit. Inside a `write()`, `read()` on the
same thread answers from that transaction.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import NamedTuple, Protocol

__all__ = ["TrailRow", "TrailRows", "TrailTx"]


class TrailRow(NamedTuple):
    arn: str
    account: str
    home_region: str
    name: str
    multi_region: bool
    config: bytes  # JSON of the configuration fields
    status: bytes  # JSON of the TrailStatus


Stored = list[tuple[bytes, bytes]]  # (config, status), ordered by name then home region


class TrailTx(Protocol):
    """One transaction's view of the trails and bucket owners."""

    def select_all(self) -> Stored: ...

    def select_account(self, account: str) -> Stored: ...

    def select_visible(self, account: str, region: str) -> Stored:
        """`account`'s trails homed in `region` or multi-region."""
        ...

    def select_arn(self, arn: str) -> Stored: ...

    def insert(self, row: TrailRow) -> None: ...

    def update_config(self, arn: str, multi_region: bool, config: bytes) -> bool:
        """False when there is no such trail."""
        ...

    def config(self, arn: str) -> bytes | None: ...

    def status(self, arn: str) -> bytes | None: ...

    def set_status(self, arn: str, status: bytes) -> None: ...

    def delete(self, arn: str) -> None: ...

    def bucket_owner(self, bucket: str) -> str | None: ...

    def add_bucket_owner(self, bucket: str, account: str) -> None:
        """Record an owner for a bucket that has none (a no-op if it has one)."""
        ...


class TrailRows(Protocol):
    def read(self) -> AbstractContextManager[TrailTx]: ...

    def write(self) -> AbstractContextManager[TrailTx]: ...

    def close(self) -> None: ...
