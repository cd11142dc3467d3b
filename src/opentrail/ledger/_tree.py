"""Stored Merkle tree nodes: the derived structure that makes proofs O(log n).

`tree.db` holds the hash of every perfect subtree of 2**FLOOR leaves or more
(`nodes(level, idx, hash)`, level FLOOR = chunks of 256 leaves). Subtrees below that
level are recomputed from the ledger's leaf hashes: one read of at most two 256-leaf
chunks per proof, about 255 hashes. At 10 M events the table holds ~78 k nodes (a few
MB) instead of 20 M.

`TreeFollower` is a ledger reader like the history indexer: it consumes whole chunks
from its cursor and commits the new nodes together with the cursor, so a crash never
leaves a gap or a half-written chunk; deleting tree.db rebuilds it. `TreeReader`
answers subtree hashes, roots and proofs for any size up to the ledger's, recomputing
the few leaves past the cursor from the ledger itself.

Both read the ledger only through a `LedgerReader` (the SQLite one on the data dir
unless given one), so they work over either backend; tree.db itself is derived state in
the data dir (each node can keep its own, rebuilt from the shared ledger).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from opentrail.errors import NotFound, Throttled, ValidationError
from opentrail.ledger._merkle import EMPTY_ROOT, node_hash
from opentrail.ledger._proof import consistency_proof, inclusion_proof
from opentrail.ledger._reader import LedgerReader
from opentrail.ledger._sqlite_reader import open_ledger_reader

__all__ = ["FLOOR", "TREE_FILE", "LedgerEntry", "TreeFollower", "TreeReader", "open_tree"]

TREE_FILE = "tree.db"
FLOOR = 8  # lowest stored level: subtrees of 256 leaves
CHUNK = 1 << FLOOR
BATCH_CHUNKS = 64  # chunks per follower transaction (16,384 leaves)
MAX_LAG = 64 * CHUNK  # past this many uncovered leaves, proofs wait for the follower

SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    level INTEGER NOT NULL,   -- subtree of 2**level leaves
    idx   INTEGER NOT NULL,   -- its position among subtrees of that level
    hash  BLOB    NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cursor (name TEXT PRIMARY KEY, size INTEGER NOT NULL);
"""


def open_tree(data_dir: Path) -> sqlite3.Connection:
    """tree.db, created on first use. Derived state: NORMAL sync, re-derived after a crash."""
    conn = sqlite3.connect(data_dir / TREE_FILE, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(SCHEMA)
    return conn


def _cursor(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT size FROM cursor WHERE name='ledger'").fetchone()
    return int(row[0]) if row else 0


def perfect_root(leaves: Sequence[bytes]) -> bytes:
    """MTH of a power-of-two run of leaf hashes, pairwise, level by level."""
    level = list(leaves)
    while len(level) > 1:
        level = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest()
                 for i in range(0, len(level), 2)]
    return level[0]


def _leaf_run(ledger: LedgerReader, start: int, end: int) -> list[bytes]:
    """Leaf hashes from `start` up to `end` or the first seq the ledger lacks."""
    found = ledger.leaves(range(start, end))
    run = []
    for seq in range(start, end):
        leaf = found.get(seq)
        if leaf is None:
            break
        run.append(bytes(leaf))
    return run


class TreeFollower:
    """Follows the ledger chunk by chunk, writing perfect-subtree hashes to tree.db."""

    def __init__(self, data_dir: Path, ledger: LedgerReader | None = None) -> None:
        """`ledger`: the reader to follow (the caller keeps owning it); by default the
        SQLite ledger in `data_dir`."""
        self._conn = open_tree(data_dir)
        self._owned = ledger is None
        self._ledger = open_ledger_reader(data_dir) if ledger is None else ledger
        self.size = _cursor(self._conn)  # leaves covered: always a multiple of CHUNK

    def close(self) -> None:
        self._conn.close()
        if self._owned:
            self._ledger.close()

    def step(self, max_chunks: int = BATCH_CHUNKS) -> int:
        """Fold the next whole chunks of the ledger into tree.db; returns leaves consumed."""
        end = min(self.size + max_chunks * CHUNK, self._ledger.size())
        leaves = _leaf_run(self._ledger, self.size, end)
        whole = len(leaves) // CHUNK * CHUNK
        if whole == 0:
            return 0
        base = self.size >> FLOOR
        chunk_roots = [perfect_root(leaves[i:i + CHUNK]) for i in range(0, whole, CHUNK)]
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._write(FLOOR, base, chunk_roots)
            self._conn.execute("INSERT OR REPLACE INTO cursor VALUES ('ledger', ?)",
                               (self.size + whole,))
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self.size += whole
        return whole

    def _write(self, level: int, first: int, hashes: list[bytes]) -> None:
        """Store a run of new nodes and, level by level, every parent they complete."""
        while hashes:
            self._conn.executemany("INSERT OR REPLACE INTO nodes VALUES (?,?,?)",
                                   [(level, first + i, h) for i, h in enumerate(hashes)])
            if first & 1:  # the run starts with a right child: its left sibling is stored
                left = self._node(level, first - 1)
                hashes, first = [left, *hashes], first - 1
            parents = [node_hash(hashes[i], hashes[i + 1])
                       for i in range(0, len(hashes) - 1, 2)]
            level, first, hashes = level + 1, first >> 1, parents

    def _node(self, level: int, idx: int) -> bytes:
        row = self._conn.execute("SELECT hash FROM nodes WHERE level=? AND idx=?",
                                 (level, idx)).fetchone()
        if row is None:
            raise RuntimeError(f"tree.db lacks node ({level}, {idx}); delete it to rebuild.")
        node: bytes = row[0]
        return node


@dataclass(frozen=True)
class LedgerEntry:
    seq: int
    account: str
    leaf: bytes
    body: bytes | None  # None once the retention purge dropped it


class TreeReader:
    """Subtree hashes, roots and proofs over tree.db plus the ledger's leaves. Thread-safe."""

    def __init__(self, data_dir: Path, ledger: LedgerReader | None = None) -> None:
        """`ledger`: as for `TreeFollower`."""
        self._tree = open_tree(data_dir)
        self._owned = ledger is None
        self._ledger = open_ledger_reader(data_dir) if ledger is None else ledger
        self._lock = threading.RLock()  # one tree.db connection, shared by request threads

    def close(self) -> None:
        with self._lock:
            self._tree.close()
            if self._owned:
                self._ledger.close()

    def size(self) -> int:
        """The largest tree size proofs are served for: the ledger's, unless tree.db lags."""
        with self._lock:
            return min(self._ledger.size(), _cursor(self._tree) + MAX_LAG)

    def root(self, size: int) -> bytes:
        if size == 0:
            return EMPTY_ROOT
        with self._lock:
            return _Snapshot(self, self._check(size), size).mth(0, size)

    def inclusion(self, index: int, size: int) -> list[bytes]:
        with self._lock:
            snap = _Snapshot(self, self._check(size), size)
            return inclusion_proof(index, size, snap.mth)

    def consistency(self, first: int, second: int) -> list[bytes]:
        with self._lock:
            snap = _Snapshot(self, self._check(second, "second"), second)
            return consistency_proof(first, second, snap.mth)

    def _check(self, size: int, name: str = "treeSize") -> int:
        ledger = self._ledger.size()
        if size > ledger:
            raise ValidationError(f"{name} {size} is larger than the ledger ({ledger} "
                                  "events).")
        cursor = _cursor(self._tree)
        if size > cursor + MAX_LAG:
            raise Throttled(f"The Merkle tree is catching up with the ledger ({ledger - cursor}"
                            " events behind); retry in a few seconds.")
        return cursor

    def entry(self, account: str, event_id: str) -> LedgerEntry | None:
        """The ledger entry of (account, eventID), by the ledger's unique index."""
        row = self._ledger.event(account, event_id)
        return None if row is None else LedgerEntry(row.seq, row.account, row.leaf, row.body)

    def accounts(self) -> list[str]:
        """Every account in the ledger."""
        return self._ledger.accounts()

    def leaves(self, start: int, end: int) -> list[bytes]:
        """Leaf hashes [start, end) from the ledger; NotFound if any is missing."""
        leaves = _leaf_run(self._ledger, start, end)
        if len(leaves) != end - start:
            raise NotFound(f"The ledger holds {len(leaves)} of the leaves {start}..{end - 1}.")
        return leaves

    def node(self, level: int, idx: int) -> bytes | None:
        """The stored hash of perfect subtree `idx` of 2**level leaves, if folded yet."""
        with self._lock:
            row = self._tree.execute("SELECT hash FROM nodes WHERE level=? AND idx=?",
                                     (level, idx)).fetchone()
        return None if row is None else bytes(row[0])


class _Snapshot:
    """One proof's view of the tree of `size`: stored nodes below `cursor`, leaves above."""

    def __init__(self, reader: TreeReader, cursor: int, size: int) -> None:
        self._reader = reader
        self._cursor = cursor
        self._size = size
        self._chunks: dict[int, list[bytes]] = {}

    def mth(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for the ranges the RFC's recursion visits (aligned starts)."""
        n = end - start
        if n & (n - 1) == 0:  # a perfect subtree
            level = n.bit_length() - 1
            if level >= FLOOR and end <= self._cursor:
                node = self._reader.node(level, start >> level)
                if node is not None:
                    return node
            if level <= FLOOR:
                return perfect_root(self._leaves(start, end))
            half = n >> 1
        else:
            half = 1 << ((n - 1).bit_length() - 1)
        return node_hash(self.mth(start, start + half), self.mth(start + half, end))

    def _leaves(self, start: int, end: int) -> list[bytes]:
        """Leaves of one chunk (never crosses one: ranges here are aligned and <= CHUNK)."""
        chunk = start >> FLOOR
        cached = self._chunks.get(chunk)
        if cached is None:
            first = chunk << FLOOR
            stop = min(first + CHUNK, self._size)
            cached = self._chunks[chunk] = self._reader.leaves(first, stop)
        offset = start - (chunk << FLOOR)
        return cached[offset:offset + end - start]
