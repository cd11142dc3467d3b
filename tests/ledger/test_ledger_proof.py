"""RFC 9162 proofs: the RFC 6962 reference vectors, then random trees with hypothesis."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opentrail.ledger import (
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_from_inclusion,
    root_of,
    verify_consistency,
    verify_inclusion,
)

# The reference tree of certificate-transparency's merkle tests (and transparency-dev/merkle
# proof/verify_test.go): eight leaf inputs, the roots of their first 1..8 leaves, and known
# inclusion (1-based leaf) and consistency proofs.
LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f")]
ROOTS = [bytes.fromhex(h) for h in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")]
INCLUSION = [
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (2, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (1, 1, []),
]
CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]


def subtree_of(hashes: list[bytes]) -> Callable[[int, int], bytes]:
    return lambda start, end: root_of(hashes[start:end])


REFERENCE = [leaf_hash(x) for x in LEAVES]


@pytest.mark.parametrize("size", range(1, 9))
def test_reference_roots(size: int) -> None:
    assert root_of(REFERENCE[:size]) == ROOTS[size - 1]


@pytest.mark.parametrize(("leaf", "size", "path"), INCLUSION)
def test_reference_inclusion_proofs(leaf: int, size: int, path: list[str]) -> None:
    want = [bytes.fromhex(h) for h in path]
    assert inclusion_proof(leaf - 1, size, subtree_of(REFERENCE[:size])) == want
    verify_inclusion(leaf - 1, size, REFERENCE[leaf - 1], want, ROOTS[size - 1])
    assert root_from_inclusion(leaf - 1, size, REFERENCE[leaf - 1], want) == ROOTS[size - 1]


@pytest.mark.parametrize(("first", "second", "path"), CONSISTENCY)
def test_reference_consistency_proofs(first: int, second: int, path: list[str]) -> None:
    want = [bytes.fromhex(h) for h in path]
    assert consistency_proof(first, second, subtree_of(REFERENCE[:second])) == want
    verify_consistency(first, second, want, ROOTS[first - 1], ROOTS[second - 1])


def inclusion_probes(index: int, size: int, path: list[bytes], root: bytes,
                     leaf: bytes) -> list[tuple[int, int, bytes, list[bytes], bytes]]:
    """Every way the Go reference corrupts a proof (transparency-dev/merkle verify_test)."""
    some = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
    probes = [(index - 1, size, leaf, path, root), (index + 1, size, leaf, path, root),
              (index ^ 2, size, leaf, path, root), (index, size * 2, leaf, path, root),
              (index, size // 2, leaf, path, root), (index, size, b"WrongLeaf", path, root),
              (index, size, leaf, path, root_of([])), (index, size, leaf, path, some),
              (index, size, leaf, [*path, b""], root), (index, size, leaf, [*path, root], root),
              (index, size, leaf, [b"", *path], root), (index, size, leaf, [root, *path], root)]
    for i in range(len(path)):
        wrong = list(path)
        wrong[i] = bytes([wrong[i][0] ^ 8]) + wrong[i][1:]
        probes.append((index, size, leaf, wrong, root))
    if path:
        probes.append((index, size, leaf, path[:-1], root))
    if len(path) > 1:
        probes.append((index, size, leaf, [path[0], some, *path[1:]], root))
    return probes


@pytest.mark.parametrize(("leaf", "size", "path"), INCLUSION[:4])
def test_reference_inclusion_corruptions_fail(leaf: int, size: int, path: list[str]) -> None:
    hashes = [bytes.fromhex(h) for h in path]
    for index, n, lh, p, root in inclusion_probes(leaf - 1, size, hashes, ROOTS[size - 1],
                                                  REFERENCE[leaf - 1]):
        with pytest.raises(ProofError):
            verify_inclusion(index, n, lh, p, root)


@pytest.mark.parametrize(("first", "second", "path"), CONSISTENCY[1:])
def test_reference_consistency_corruptions_fail(first: int, second: int,
                                                path: list[str]) -> None:
    p = [bytes.fromhex(h) for h in path]
    r1, r2 = ROOTS[first - 1], ROOTS[second - 1]
    probes = [(first - 1, second, r1, r2, p), (first + 1, second, r1, r2, p),
              (first ^ 2, second, r1, r2, p), (first, second * 2, r1, r2, p),
              (first, second // 2, r1, r2, p), (first, second, b"WrongRoot", r2, p),
              (first, second, r1, b"WrongRoot", p), (first, second, r2, r1, p),
              (first, second, r1, r2, []), (first, second, r1, r2, [*p, b""]),
              (first, second, r1, r2, [*p, r1]), (first, second, r1, r2, [*p, r2]),
              (first, second, r1, r2, [b"", *p]), (first, second, r1, r2, [r1, *p]),
              (first, second, r1, r2, [r2, *p]), (first, second, r1, r2, [p[0], *p]),
              (first, second, r1, r2, p[:-1])]
    for i in range(len(p)):
        wrong = list(p)
        wrong[i] = bytes([wrong[i][0] ^ 16]) + wrong[i][1:]
        probes.append((first, second, r1, r2, wrong))
    for size1, size2, root1, root2, proof in probes:
        with pytest.raises(ProofError):
            verify_consistency(size1, size2, proof, root1, root2)


def test_out_of_range_parameters_are_refused() -> None:
    subtree = subtree_of(REFERENCE)
    for index, size in ((0, 0), (8, 8), (-1, 8)):
        with pytest.raises(ProofError, match="not inside a tree"):
            inclusion_proof(index, size, subtree)
    for first, second in ((0, 8), (9, 8), (3, 2)):
        with pytest.raises(ProofError, match="first"):
            consistency_proof(first, second, subtree)
    verify_consistency(0, 5, [], ROOTS[0], ROOTS[4])  # the empty tree is a prefix of any


def flip(data: bytes, position: int, bit: int) -> bytes:
    i = position % len(data)
    return data[:i] + bytes([data[i] ^ (1 << bit)]) + data[i + 1:]


trees = st.integers(min_value=1, max_value=300).map(
    lambda n: [leaf_hash(i.to_bytes(4, "big")) for i in range(n)])


@settings(max_examples=150, deadline=None)
@given(trees, st.data())
def test_every_inclusion_proof_verifies_and_any_altered_byte_fails(
        hashes: list[bytes], data: st.DataObject) -> None:
    size = len(hashes)
    index = data.draw(st.integers(0, size - 1))
    root = root_of(hashes)
    path = inclusion_proof(index, size, subtree_of(hashes))
    verify_inclusion(index, size, hashes[index], path, root)
    byte, bit = data.draw(st.integers(0, 10_000)), data.draw(st.integers(0, 7))
    with pytest.raises(ProofError):
        verify_inclusion(index, size, flip(hashes[index], byte, bit), path, root)
    with pytest.raises(ProofError):
        verify_inclusion(index, size, hashes[index], path, flip(root, byte, bit))
    if path:
        which = data.draw(st.integers(0, len(path) - 1))
        altered = [*path[:which], flip(path[which], byte, bit), *path[which + 1:]]
        with pytest.raises(ProofError):
            verify_inclusion(index, size, hashes[index], altered, root)
    # A size with the same tree shape proves the same path: the signed checkpoint binds the
    # size to its root, so here only sizes of another height must fail (as in the reference).
    for other in (size * 2, size // 2):
        with pytest.raises(ProofError):
            verify_inclusion(index, other, hashes[index], path, root)
    if size > 1:
        moved = data.draw(st.integers(0, size - 1).filter(lambda i: i != index))
        with pytest.raises(ProofError):
            verify_inclusion(moved, size, hashes[index], path, root)


@settings(max_examples=150, deadline=None)
@given(trees, st.data())
def test_every_consistency_proof_verifies_and_any_altered_byte_fails(
        hashes: list[bytes], data: st.DataObject) -> None:
    second = len(hashes)
    first = data.draw(st.integers(1, second))
    r1, r2 = root_of(hashes[:first]), root_of(hashes)
    path = consistency_proof(first, second, subtree_of(hashes))
    verify_consistency(first, second, path, r1, r2)
    byte, bit = data.draw(st.integers(0, 10_000)), data.draw(st.integers(0, 7))
    with pytest.raises(ProofError):
        verify_consistency(first, second, path, flip(r1, byte, bit), r2)
    with pytest.raises(ProofError):
        verify_consistency(first, second, path, r1, flip(r2, byte, bit))
    if path:
        which = data.draw(st.integers(0, len(path) - 1))
        altered = [*path[:which], flip(path[which], byte, bit), *path[which + 1:]]
        with pytest.raises(ProofError):
            verify_consistency(first, second, altered, r1, r2)
    if first < second:
        other = data.draw(st.integers(1, second).filter(lambda s: s != first))
        with pytest.raises(ProofError):
            verify_consistency(other, second, path, root_of(hashes[:other]), r2)
