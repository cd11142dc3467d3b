"""The Lake catalog's storage interface (implemented in opentrail.backends).

Records are an EventDataStore's fields as JSON; StoreCatalog keeps every rule. A
`write()` transaction is serialised against every other catalog write on every node, so
the 10-stores limit and name uniqueness checked inside it hold at commit; inside a
`write()`, `read()` on the same thread answers from that transaction.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import NamedTuple, Protocol

__all__ = ["CatalogRows", "CatalogTx", "StoreRow"]


class StoreRow(NamedTuple):
    id: str
    account: str
    region: str
    name: str
    record: bytes
    tags: bytes


class CatalogTx(Protocol):
    def records(self, account: str | None = None, region: str | None = None,
                store_id: str | None = None) -> list[bytes]:
        """Records matching every filter given, by account, region and name."""
        ...

    def count(self, account: str, region: str) -> int: ...

    def name_taken(self, account: str, region: str, name: str, other_than: str) -> bool: ...

    def insert(self, row: StoreRow) -> None: ...

    def update(self, store_id: str, name: str, record: bytes) -> None: ...

    def mark_deleted(self, store_id: str, record: bytes, prior_status: str) -> None:
        """Save a PENDING_DELETION record and the status it replaced."""
        ...

    def prior_status(self, store_id: str) -> str | None: ...

    def restore(self, store_id: str, record: bytes) -> None:
        """Save a restored record and forget the prior status."""
        ...

    def tags(self, store_id: str) -> bytes | None: ...

    def set_tags(self, store_id: str, tags: bytes) -> None: ...

    def delete_if(self, store_id: str, record: bytes) -> bool:
        """Forget the store if its record is still `record`."""
        ...


class CatalogRows(Protocol):
    def read(self) -> AbstractContextManager[CatalogTx]: ...

    def write(self) -> AbstractContextManager[CatalogTx]: ...

    def close(self) -> None: ...
