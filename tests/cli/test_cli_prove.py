"""`opentrail verify-proof` offline: valid files pass, every kind of bad input exits 1."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from opentrail.cli.prove import CONSISTENCY_KIND, INCLUSION_KIND, verify_proof
from opentrail.clock import ManualClock
from opentrail.ledger import Checkpointer, NoteSigner, leaf_hash
from opentrail.ledger._schema import open_ledger


def append(conn: sqlite3.Connection, count: int) -> None:
    """Append synthetic events straight into the ledger table (event e<seq>)."""
    start = conn.execute("SELECT COALESCE(MAX(seq) + 1, 0) FROM events").fetchone()[0]
    rows = [(seq, "123456789012", "us-east-1", 0, 1, 1, f"e{seq}", leaf_hash(body), body)
            for seq in range(start, start + count)
            for body in [f'{{"eventID":"e{seq}"}}'.encode()]]
    conn.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?)", rows)


@pytest.fixture
def log(tmp_path: Path) -> tuple[Checkpointer, Path]:
    append(open_ledger(tmp_path / "data"), 40)
    checkpoints = Checkpointer(tmp_path / "data", ManualClock(1_764_000_000), interval=60)
    key = tmp_path / "log.pub"
    key.write_text(checkpoints.public_key.text() + "\n")
    return checkpoints, key


def inclusion_doc(checkpoints: Checkpointer, index: int) -> dict[str, Any]:
    checkpoint = checkpoints.make_checkpoint()
    leaf = checkpoints.tree.leaves(index, index + 1)[0]
    return {"kind": INCLUSION_KIND, "eventId": f"e{index}", "leafIndex": index,
            "treeSize": checkpoint.size, "leafHash": leaf.hex(),
            "hashes": [h.hex() for h in checkpoints.tree.inclusion(index, checkpoint.size)],
            "checkpoint": checkpoint.note, "event": f'{{"eventID":"e{index}"}}'}


def run(path: Path, doc: object, key: Path, *extra: str) -> tuple[int, str]:
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    result = CliRunner().invoke(verify_proof, [str(path), "--public-key", str(key), *extra])
    return result.exit_code, result.output


def test_a_valid_inclusion_proof(log: tuple[Checkpointer, Path], tmp_path: Path) -> None:
    checkpoints, key = log
    code, out = run(tmp_path / "p.json", inclusion_doc(checkpoints, 17), key)
    assert code == 0
    assert out.startswith("VALID: event e17 is leaf 17 of the tree of size 40")


def test_an_expired_event_proves_its_leaf_only(log: tuple[Checkpointer, Path],
                                               tmp_path: Path) -> None:
    doc = inclusion_doc(log[0], 3) | {"event": None}
    code, out = run(tmp_path / "p.json", doc, log[1])
    assert code == 0
    assert "only its leaf hash is proven" in out


def test_a_consistency_proof(log: tuple[Checkpointer, Path], tmp_path: Path) -> None:
    checkpoints, key = log
    first = checkpoints.make_checkpoint()
    append(open_ledger(tmp_path / "data"), 25)
    second = checkpoints.make_checkpoint()
    doc = {"kind": CONSISTENCY_KIND, "first": 40, "second": 65,
           "hashes": [h.hex() for h in checkpoints.tree.consistency(40, 65)],
           "firstCheckpoint": first.note, "secondCheckpoint": second.note}
    assert run(tmp_path / "c.json", doc, key, "--consistency")[0] == 0
    swapped = doc | {"firstCheckpoint": second.note, "secondCheckpoint": first.note}
    code, out = run(tmp_path / "c.json", swapped, key)
    assert code == 1
    assert "tree size 65, the proof for 40" in out


@pytest.mark.parametrize(("change", "reason"), [
    ("not json", "is not a JSON proof file"),
    ({"kind": "something/else"}, "no known 'kind'"),
    ({"leafIndex": "17"}, "'leafIndex' is missing or not a int"),
    ({"hashes": ["zz"]}, "list of hex strings"),
    ({"leafIndex": True}, "'leafIndex' is missing"),
    ({"checkpoint": "just text\n"}, "does not verify"),
])
def test_malformed_files_exit_1(log: tuple[Checkpointer, Path], tmp_path: Path,
                                change: dict[str, Any] | str, reason: str) -> None:
    doc: object = change if isinstance(change, str) else inclusion_doc(log[0], 5) | change
    code, out = run(tmp_path / "p.json", doc, log[1])
    assert code == 1
    assert out.startswith("INVALID: ")
    assert reason in out


def test_the_wrong_key_or_kind_exits_1(log: tuple[Checkpointer, Path], tmp_path: Path) -> None:
    checkpoints, key = log
    doc = inclusion_doc(checkpoints, 5)
    code, out = run(tmp_path / "p.json", doc, key, "--consistency")
    assert (code, "not a consistency proof" in out) == (1, True)
    stranger = tmp_path / "stranger.pub"
    stranger.write_text(NoteSigner.generate(checkpoints.public_key.name).verifier().text())
    code, out = run(tmp_path / "p.json", doc, stranger)
    assert (code, "no signature by the key" in out) == (1, True)
    garbage = tmp_path / "garbage.pub"
    garbage.write_text("-----BEGIN PUBLIC KEY-----\n")
    code, out = run(tmp_path / "p.json", doc, garbage)
    assert (code, "is not a checkpoint public key" in out) == (1, True)
