"""Where digest signing keys are kept: the interface SigningKeys needs (opentrail.backends).

A key is stored once and never changed: its region, the time it becomes valid, its
fingerprint and its private key as PKCS#8 PEM (a backend that shares keys between nodes
seals the PEM; SigningKeys never sees how). `creating(region)` serialises the creation
of a region's keys across every process or node, so a rotation happens once.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import NamedTuple, Protocol

__all__ = ["SigningKeyRow", "SigningKeyRows", "StoredKey"]


class SigningKeyRow(NamedTuple):
    valid_from: float
    fingerprint: str
    pem: bytes


class StoredKey(NamedTuple):
    """A stored key as the health log reports it (no private part)."""

    region: str
    valid_from: float
    fingerprint: str
    file_mode: str | None  # e.g. "0o600" for a key file; None when kept sealed in a database


class SigningKeyRows(Protocol):
    def load(self, region: str) -> list[SigningKeyRow]:
        """The region's keys, oldest first."""
        ...

    def add(self, region: str, row: SigningKeyRow) -> None: ...

    def creating(self, region: str) -> AbstractContextManager[None]: ...

    def listed(self) -> list[StoredKey]:
        """Every region's keys, without their private parts."""
        ...
