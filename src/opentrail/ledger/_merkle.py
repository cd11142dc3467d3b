"""RFC 9162 (Certificate Transparency v2) Merkle tree hashing.

Leaf hash = SHA-256(0x00 || entry); node hash = SHA-256(0x01 || left || right). The tree
over n leaves splits at the largest power of two below n, so appending never rewrites
an old subtree. `CompactRange` folds leaves left to right in O(log n) memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

__all__ = ["EMPTY_ROOT", "CompactRange", "leaf_hash", "node_hash", "root_of"]

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class CompactRange:
    """The perfect subtrees covering leaves [0, size): enough to append and take a root."""

    def __init__(self) -> None:
        self.size = 0
        self._peaks: list[bytes] = []  # left to right, sizes strictly decreasing powers of 2

    def append(self, leaf: bytes) -> None:
        node = leaf
        size = self.size
        # Merge while the lowest bit says the rightmost peak has a sibling of equal size.
        while size & 1:
            node = node_hash(self._peaks.pop(), node)
            size >>= 1
        self._peaks.append(node)
        self.size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        if not self._peaks:
            return EMPTY_ROOT
        node = self._peaks[-1]
        for peak in reversed(self._peaks[:-1]):
            node = node_hash(peak, node)
        return node


def root_of(leaves: Iterable[bytes]) -> bytes:
    """MTH(D[n]) of RFC 9162 section 2.1.1 over already-hashed leaves."""
    compact = CompactRange()
    compact.extend(leaves)
    return compact.root()
