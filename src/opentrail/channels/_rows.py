"""The channel registry's storage interface (implemented in opentrail.backends).

A `write()` transaction is serialised against every other channel write on every node,
so the per-region limit checked inside it holds at commit; `insert` and `update` answer
False instead of storing a second channel of the same (account, region, name).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import NamedTuple, Protocol

__all__ = ["ChannelRow", "ChannelRows", "ChannelTx"]


class ChannelRow(NamedTuple):
    arn: str
    account: str
    region: str
    name: str
    source: str
    destinations: bytes  # JSON
    tags: bytes  # JSON
    ingestion: bytes  # JSON


class ChannelTx(Protocol):
    def select_region(self, account: str, region: str) -> list[ChannelRow]:
        """`account`'s channels in `region`, by name."""
        ...

    def select_arns(self, account: str | None, arns: tuple[str, ...]) -> list[ChannelRow]:
        """The channels with one of these ARNs (of `account` only, unless None)."""
        ...

    def insert(self, row: ChannelRow) -> bool: ...

    def update(self, arn: str, name: str, destinations: bytes) -> bool: ...

    def set_tags(self, arn: str, tags: bytes) -> None: ...

    def set_ingestion(self, arn: str, ingestion: bytes) -> None: ...

    def delete(self, arn: str) -> None: ...


class ChannelRows(Protocol):
    def read(self) -> AbstractContextManager[ChannelTx]: ...

    def write(self) -> AbstractContextManager[ChannelTx]: ...

    def close(self) -> None: ...
