"""RFC 9162 tree heads: reference vectors and the recursive definition."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from opentrail.ledger import EMPTY_ROOT, leaf_hash, node_hash, root_of

# The leaf inputs and roots of the RFC 6962 reference tests (certificate-transparency).
INPUTS = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f")]


def mth(entries: list[bytes]) -> bytes:
    """MTH(D[n]) exactly as RFC 9162 section 2.1.1 defines it, recursively."""
    n = len(entries)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaf_hash(entries[0])
    k = 1 << ((n - 1).bit_length() - 1)
    return node_hash(mth(entries[:k]), mth(entries[k:]))


def test_reference_roots() -> None:
    leaves = [leaf_hash(e) for e in INPUTS]
    assert root_of([]) == EMPTY_ROOT
    assert root_of(leaves[:1]).hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    assert root_of(leaves).hex() == (
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")


@given(st.lists(st.binary(max_size=8), max_size=70))
def test_compact_range_matches_the_definition(entries: list[bytes]) -> None:
    assert root_of([leaf_hash(e) for e in entries]) == mth(entries)
