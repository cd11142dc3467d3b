"""The key store's storage interface (implemented in opentrail.backends).

Rows hold secrets sealed by KeyStore only; a backend never sees a secret in clear.
`change_marker` differs after any commit by another connection (or node), so KeyStore
can drop its cache when a key was deleted elsewhere.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

__all__ = ["KeyRow", "KeyRows"]


class KeyRow(NamedTuple):
    access_key_id: str
    account: str | None  # None for organization keys
    organization: bool
    role: str
    name: str
    created: float
    sealed_secret: bytes  # version || nonce || AES-GCM(secret), the key id as data


class KeyRows(Protocol):
    where: str  # for messages: the file or the database (URL without password)

    def insert(self, row: KeyRow) -> None: ...

    def select_all(self) -> list[KeyRow]:
        """Every key, oldest first (then by id)."""
        ...

    def select(self, access_key_id: str) -> KeyRow | None: ...

    def delete(self, access_key_id: str) -> bool: ...

    def any(self) -> bool: ...

    def change_marker(self) -> int: ...

    def close(self) -> None: ...
