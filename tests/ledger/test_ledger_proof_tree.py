"""The stored tree (tree.db): follows the ledger, survives restarts, serves proofs."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opentrail.errors import ValidationError
from opentrail.ledger import (
    EMPTY_ROOT,
    TREE_FILE,
    ProofError,
    TreeFollower,
    TreeReader,
    leaf_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from opentrail.ledger._schema import open_ledger
from opentrail.ledger._tree import CHUNK


def append(conn: sqlite3.Connection, count: int, account: str = "123456789012") -> None:
    """Append `count` synthetic events straight into the ledger table."""
    start = conn.execute("SELECT COALESCE(MAX(seq) + 1, 0) FROM events").fetchone()[0]
    rows = []
    for seq in range(start, start + count):
        body = b'{"eventID":"e%d"}' % seq
        rows.append((seq, account, "us-east-1", 0, 1, 1, f"e{seq}", leaf_hash(body), body))
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?)", rows)
    conn.execute("COMMIT")


def leaves(conn: sqlite3.Connection) -> list[bytes]:
    return [bytes(r[0]) for r in conn.execute("SELECT leaf FROM events ORDER BY seq")]


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[bytes]]:
    """A ledger of 5,000 events with tree.db caught up to its last whole chunk."""
    data_dir = tmp_path_factory.mktemp("tree")
    conn = open_ledger(data_dir)
    append(conn, 5_000)
    follower = TreeFollower(data_dir)
    while follower.step(max_chunks=3):
        pass
    assert follower.size == 5_000 // CHUNK * CHUNK
    follower.close()
    return data_dir, leaves(conn)


def test_roots_match_the_ledger_for_every_kind_of_size(ledger: tuple[Path, list[bytes]]) -> None:
    data_dir, hashes = ledger
    reader = TreeReader(data_dir)
    assert reader.size() == 5_000
    for size in (0, 1, 255, 256, 257, 1024, 4863, 4864, 4865, 5_000):
        assert reader.root(size) == (root_of(hashes[:size]) if size else EMPTY_ROOT)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_proofs_from_the_stored_tree_verify(ledger: tuple[Path, list[bytes]],
                                            data: st.DataObject) -> None:
    data_dir, hashes = ledger
    reader = TreeReader(data_dir)
    size = data.draw(st.integers(1, 5_000))
    index = data.draw(st.integers(0, size - 1))
    root = root_of(hashes[:size])
    assert reader.root(size) == root
    verify_inclusion(index, size, hashes[index], reader.inclusion(index, size), root)
    first = data.draw(st.integers(1, size))
    verify_consistency(first, size, reader.consistency(first, size),
                       root_of(hashes[:first]), root)


def test_a_size_past_the_ledger_is_refused(ledger: tuple[Path, list[bytes]]) -> None:
    reader = TreeReader(ledger[0])
    with pytest.raises(ValidationError, match="treeSize 5001"):
        reader.inclusion(0, 5_001)


def test_the_follower_resumes_from_its_cursor_and_a_deleted_tree_is_rebuilt(
        tmp_path: Path) -> None:
    conn = open_ledger(tmp_path)
    append(conn, 3 * CHUNK + 10)
    first = TreeFollower(tmp_path)
    assert first.step(max_chunks=2) == 2 * CHUNK
    first.close()  # as a crash would: the cursor was committed with its nodes
    append(conn, CHUNK)
    again = TreeFollower(tmp_path)
    assert again.size == 2 * CHUNK
    assert again.step() == 2 * CHUNK
    assert again.step() == 0  # ten leaves wait for a whole chunk
    again.close()
    expected = root_of(leaves(conn))
    assert TreeReader(tmp_path).root(4 * CHUNK + 10) == expected
    (tmp_path / TREE_FILE).unlink()
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"{TREE_FILE}{suffix}").unlink(missing_ok=True)
    rebuilt = TreeFollower(tmp_path)
    while rebuilt.step():
        pass
    assert TreeReader(tmp_path).root(4 * CHUNK + 10) == expected


def test_a_tree_behind_the_ledger_still_proves_from_leaves(tmp_path: Path) -> None:
    conn = open_ledger(tmp_path)
    append(conn, 5 * CHUNK + 3)
    hashes = leaves(conn)
    reader = TreeReader(tmp_path)  # nothing stored yet: every node comes from leaves
    size = len(hashes)
    path = reader.inclusion(CHUNK + 7, size)
    verify_inclusion(CHUNK + 7, size, hashes[CHUNK + 7], path, root_of(hashes))


def test_a_stored_node_is_what_the_proof_uses(tmp_path: Path) -> None:
    """Corrupting tree.db changes the root: proofs come from the stored nodes."""
    conn = open_ledger(tmp_path)
    append(conn, 2 * CHUNK)
    follower = TreeFollower(tmp_path)
    follower.step()
    follower.close()
    tree = sqlite3.connect(tmp_path / TREE_FILE)
    tree.execute("UPDATE nodes SET hash = ? WHERE level = 8 AND idx = 0",
                 (hashlib.sha256(b"forged").digest(),))
    tree.commit()
    hashes = leaves(conn)
    path = TreeReader(tmp_path).inclusion(CHUNK + 1, 2 * CHUNK)  # its top sibling is (8, 0)
    assert path[-1] == hashlib.sha256(b"forged").digest()
    with pytest.raises(ProofError):
        verify_inclusion(CHUNK + 1, 2 * CHUNK, hashes[CHUNK + 1], path, root_of(hashes))
