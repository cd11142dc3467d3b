"""Packed postings: a term's events in one bucket of BUCKET consecutive seqs, as one blob.

A blob holds the bucket's (event time, seq) pairs of one term, sorted ascending by
(time, seq): the seqs as 16-bit offsets from the bucket's first seq, then the times as
deltas from the row's first time (32-bit, or 64-bit when the span needs it); zlib level 1
over both when that is shorter. The offsets come first so that an AND, which needs only
the seqs of its other terms, decompresses no further. The invariant:
`decode(encode(pairs))` gives back exactly the pairs, in (time, seq) order, and a seq
occurs at most once in a blob.
"""

from __future__ import annotations

import sys
import zlib
from array import array
from collections.abc import Iterable, Sequence
from itertools import accumulate

__all__ = ["BUCKET", "Pairs", "bucket_of", "decode", "encode", "intersect", "offsets",
           "sort_pairs", "unpack"]

BUCKET = 4096  # seqs per bucket: offsets fit 16 bits
_ZLIB, _WIDE = 1, 2  # flags, the blob's first byte
_COMPRESS_FROM = 48  # bytes: below this zlib's header and checksum cost more than it saves
_SWAP = sys.byteorder != "little"  # blobs are little-endian on every machine

Pairs = tuple[list[int], list[int]]  # (times, seqs), parallel, sorted by (time, seq)


def bucket_of(seq: int) -> int:
    return seq // BUCKET


def sort_pairs(times: list[int], seqs: list[int]) -> Pairs:
    """The pairs in (time, seq) order. When the times already ascend nothing moves, so
    pairs of equal time must come in seq order: as the ledger's rows do, and as parts
    concatenated in seq order do (each sorted by (time, seq), each part's seqs below the
    next part's)."""
    if all(map(int.__le__, times, times[1:])):
        return times, seqs
    pairs = sorted(zip(times, seqs, strict=True))
    return [t for t, _ in pairs], [s for _, s in pairs]


def encode(times: Sequence[int], seqs: Sequence[int], bucket: int) -> bytes:
    """The blob of pairs sorted by (time, seq), every seq inside `bucket`."""
    base = bucket * BUCKET
    first = times[0]
    deltas = list(map(int.__sub__, times[1:], times[:-1]))
    wide = first < 0 or times[-1] - first >= 2**32
    body = array("q" if wide else "I", deltas)
    offsets = array("H", [s - base for s in seqs])
    if _SWAP:
        body.byteswap()
        offsets.byteswap()
    raw = offsets.tobytes() + body.tobytes()
    flags = _WIDE if wide else 0
    if len(raw) >= _COMPRESS_FROM:
        packed = zlib.compress(raw, 1)
        if len(packed) < len(raw):
            return bytes((flags | _ZLIB,)) + packed
    return bytes((flags,)) + raw


def decode(blob: bytes, first: int, bucket: int) -> Pairs:
    """(times, seqs) of a blob; `first` is its first (smallest) time, kept in its row."""
    times, offs = unpack(blob, first)
    return times, list(map((bucket * BUCKET).__add__, offs))


def unpack(blob: bytes, first: int) -> tuple[list[int], array[int]]:
    """(times, seq offsets) of a blob: `decode` without adding the bucket's first seq to
    every offset, for a reader that wants a few of them."""
    flags = blob[0]
    raw = zlib.decompress(blob[1:]) if flags & _ZLIB else blob[1:]
    body = array("q" if flags & _WIDE else "I")
    n = (len(raw) + body.itemsize) // (body.itemsize + 2)  # n offsets, n - 1 deltas
    offs = array("H")
    offs.frombytes(raw[:2 * n])
    body.frombytes(raw[2 * n:])
    if _SWAP:
        body.byteswap()
        offs.byteswap()
    return list(accumulate(body, initial=first)), offs


def offsets(blob: bytes, n: int) -> array[int]:
    """The seq offsets (seq - the bucket's first seq) of a blob of n pairs, in (time, seq)
    order, decompressing no more than they take."""
    end = 2 * n
    raw = (zlib.decompressobj().decompress(blob[1:], end) if blob[0] & _ZLIB
           else blob[1:end + 1])
    out = array("H")
    out.frombytes(raw)
    if _SWAP:
        out.byteswap()
    return out


def intersect(driver: Pairs, others: Iterable[Iterable[int]], bucket: int) -> Pairs:
    """The driver's pairs whose seq's offset in `bucket` every one of `others` (offsets,
    as `offsets` gives them) holds. `others` is consumed lazily: once no driver pair is
    left, the rest are not read."""
    base = bucket * BUCKET
    keep = {s - base for s in driver[1]}
    for other in others:
        if not keep:
            break
        keep = keep.intersection(other)  # iterates `other`; builds no set of it
    index = [i for i, s in enumerate(driver[1]) if s - base in keep]
    return [driver[0][i] for i in index], [driver[1][i] for i in index]
