"""RFC 9162 (section 2.1.3 and 2.1.4) inclusion and consistency proofs.

Generation is written against `SubtreeHash`, a function giving MTH(D[start:end]) for the
ranges the RFC's recursion visits, so the same code serves an in-memory list in tests and
the stored tree (ledger/_tree.py) in the server. Verification is pure: hashes in, a
`ProofError` naming the reason out, so a verifier needs nothing but this module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from opentrail.ledger._merkle import node_hash

__all__ = [
    "HASH_SIZE",
    "ProofError",
    "SubtreeHash",
    "consistency_proof",
    "inclusion_proof",
    "root_from_inclusion",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32

SubtreeHash = Callable[[int, int], bytes]  # (start, end) -> MTH(D[start:end])


class ProofError(ValueError):
    """A proof does not verify, or its parameters are out of range; the message says which."""


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1): where the RFC splits D[n]."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_proof(index: int, size: int, subtree: SubtreeHash) -> list[bytes]:
    """PATH(index, D[size]), leaf-side sibling first (RFC 9162 2.1.3.1)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not inside a tree of size {size}.")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:  # walk down from the root, noting each sibling
        k = _split(end - start)
        if index < start + k:
            path.append(subtree(start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start += k
    path.reverse()
    return path


def consistency_proof(first: int, second: int, subtree: SubtreeHash) -> list[bytes]:
    """PROOF(first, D[second]) (RFC 9162 2.1.4.1); empty when the sizes are equal."""
    if not 0 < first <= second:
        raise ProofError(f"a consistency proof needs 0 < first <= second; got first={first}, "
                         f"second={second}.")
    path: list[bytes] = []
    start, end, complete = 0, second, True
    m = first
    while m != end - start:  # SUBPROOF(m, D[start:end], complete), unrolled
        k = _split(end - start)
        if m <= k:
            path.append(subtree(start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start, m, complete = start + k, m - k, False
    if not complete:
        path.append(subtree(start, end))
    path.reverse()
    return path


def _check_hashes(what: str, hashes: Sequence[bytes]) -> None:
    for i, h in enumerate(hashes):
        if len(h) != HASH_SIZE:
            raise ProofError(f"{what}[{i}] is {len(h)} bytes; a SHA-256 hash is {HASH_SIZE}.")


def root_from_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes:
    """The root that `path` proves `leaf` (at `index`) into (RFC 9162 2.1.3.2)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not inside a tree of size {size}.")
    _check_hashes("leaf hash", [leaf])
    _check_hashes("proof", path)
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise ProofError("the inclusion proof is longer than the tree is high.")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the inclusion proof is shorter than the tree is high.")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes],
                     root: bytes) -> None:
    """Raise ProofError unless `path` proves `leaf` at `index` in the tree `root` of `size`."""
    if root_from_inclusion(index, size, leaf, path) != root:
        raise ProofError(f"the inclusion proof of leaf {index} does not lead to the root "
                         f"of the tree of size {size}.")


def verify_consistency(first: int, second: int, path: Sequence[bytes], first_root: bytes,
                       second_root: bytes) -> None:
    """Raise ProofError unless tree `second_root` extends tree `first_root` (RFC 9162 2.1.4.2)."""
    _check_hashes("root", [first_root, second_root])
    _check_hashes("proof", path)
    if not 0 <= first <= second:
        raise ProofError(f"a consistency proof needs first <= second; got first={first}, "
                         f"second={second}.")
    if first in (0, second):  # nothing to prove beyond the roots themselves
        if path:
            raise ProofError("the proof must be empty when first is 0 or equals second.")
        if first == second and first_root != second_root:
            raise ProofError(f"two different roots for the same tree size {first}.")
        return
    if not path:
        raise ProofError("the consistency proof is empty.")
    fr, sr = _consistency_roots(first, second, path, first_root)
    if fr != first_root:
        raise ProofError(f"the consistency proof does not lead to the root of size {first}.")
    if sr != second_root:
        raise ProofError(f"the consistency proof does not lead to the root of size {second}.")


def _consistency_roots(first: int, second: int, path: Sequence[bytes],
                       first_root: bytes) -> tuple[bytes, bytes]:
    hashes = list(path)
    if first & (first - 1) == 0:  # an exact power of two: the old root is a node of the new
        hashes.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = hashes[0]
    for c in hashes[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is longer than the tree is high.")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the consistency proof is shorter than the tree is high.")
    return fr, sr
