"""Signed notes and checkpoints: the Go reference vector, keys, publishing, tampering."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from test_ledger_proof_tree import append, leaves

from opentrail.clock import ManualClock
from opentrail.ledger import (
    CHECKPOINT_KEY_FILE,
    Checkpointer,
    NoteError,
    NoteSigner,
    NoteVerifier,
    open_checkpoint,
    root_of,
    verify_consistency,
)
from opentrail.ledger._schema import open_ledger

# golang.org/x/mod/sumdb/note's documented example: our notes are byte-compatible with it.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = ("If you think cryptography is the answer to your problem,\n"
           "then you don't know what your problem is.\n")
GO_NOTE = (GO_TEXT + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1F"
           "FYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")


def test_the_go_signed_note_vector() -> None:
    signer = NoteSigner.parse(GO_SKEY)
    assert signer.text() == GO_SKEY
    assert signer.verifier().text() == GO_VKEY
    assert signer.sign(GO_TEXT) == GO_NOTE  # Ed25519 is deterministic
    assert NoteVerifier.parse(GO_VKEY).open(GO_NOTE) == GO_TEXT
    with pytest.raises(NoteError):
        NoteVerifier.parse(GO_VKEY).open(GO_NOTE.replace("answer", "Answer"))
    with pytest.raises(NoteError, match="id does not match"):
        NoteVerifier.parse(GO_VKEY.replace("c74f20a3", "c74f20a4"))


@pytest.fixture
def checkpointer(tmp_path: Path) -> tuple[Checkpointer, ManualClock, Path]:
    clock = ManualClock(1_764_000_000)
    append(open_ledger(tmp_path), 700)
    return Checkpointer(tmp_path, clock, interval=60), clock, tmp_path


def test_the_key_is_private_and_kept(checkpointer: tuple[Checkpointer, ManualClock, Path]
                                     ) -> None:
    cp, clock, data_dir = checkpointer
    mode = stat.S_IMODE((data_dir / CHECKPOINT_KEY_FILE).stat().st_mode)
    assert mode == 0o600
    again = Checkpointer(data_dir, clock, interval=60)
    assert again.public_key.text() == cp.public_key.text()
    assert cp.public_key.name.startswith("opentrail.local/ledger/")


def test_a_checkpoint_is_a_signed_note_of_the_tree(
        checkpointer: tuple[Checkpointer, ManualClock, Path]) -> None:
    cp, _clock, data_dir = checkpointer
    checkpoint = cp.make_checkpoint()
    hashes = leaves(open_ledger(data_dir))
    origin = cp.public_key.name
    root = base64.b64encode(root_of(hashes)).decode()
    assert checkpoint.note.startswith(f"{origin}\n700\n{root}\ntime 2025-11-24T16:00:00Z\n\n— ")
    opened = open_checkpoint(checkpoint.note, cp.public_key)
    assert (opened.size, opened.root, opened.time) == (700, root_of(hashes), 1_764_000_000)
    assert cp.latest_checkpoint() == checkpoint == cp.checkpoint_at(700)
    assert cp.checkpoint_at(699) is None


@pytest.mark.parametrize(("old", "new"), [("\n700\n", "\n701\n"), ("time 2025", "time 2024"),
                                          ("opentrail.local", "opentrail.locals")])
def test_any_change_to_a_checkpoint_fails(checkpointer: tuple[Checkpointer, ManualClock, Path],
                                          old: str, new: str) -> None:
    cp = checkpointer[0]
    note = cp.make_checkpoint().note
    with pytest.raises(NoteError):
        open_checkpoint(note.replace(old, new, 1), cp.public_key)


def test_a_flipped_signature_byte_or_another_key_fails(
        checkpointer: tuple[Checkpointer, ManualClock, Path]) -> None:
    cp = checkpointer[0]
    note = cp.make_checkpoint().note
    text, _, sig_line = note.rstrip("\n").rpartition("\n")
    name, _, sig = sig_line.rpartition(" ")
    raw = bytearray(base64.b64decode(sig))
    raw[-1] ^= 1
    forged = f"{text}\n{name} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(NoteError, match="does not match"):
        open_checkpoint(forged, cp.public_key)
    stranger = NoteSigner.generate(cp.public_key.name).verifier()
    with pytest.raises(NoteError, match="no signature by the key"):
        open_checkpoint(note, stranger)


def test_checkpoints_grow_with_the_ledger_and_stay_consistent(
        checkpointer: tuple[Checkpointer, ManualClock, Path]) -> None:
    cp, clock, data_dir = checkpointer
    first = cp.make_checkpoint()
    clock.advance(60)
    assert cp.make_checkpoint() == first  # the tree did not grow: nothing new to sign
    append(open_ledger(data_dir), 300)
    second = cp.make_checkpoint()
    assert (second.size, second.time) == (1_000, first.time + 60)
    verify_consistency(700, 1_000, cp.tree.consistency(700, 1_000), first.root, second.root)
    assert cp.covering(699) == second
    append(open_ledger(data_dir), 1)
    assert cp.covering(1_000).size == 1_001  # a fresh event gets a fresh checkpoint


def test_the_thread_follows_the_ledger_and_publishes(
        checkpointer: tuple[Checkpointer, ManualClock, Path]) -> None:
    import threading

    cp, _clock, data_dir = checkpointer
    stop = threading.Event()
    thread = threading.Thread(target=cp.run, args=(stop,))
    thread.start()
    try:
        from conftest import wait_until

        wait_until(lambda: cp.checkpoint_at(700) is not None)
        wait_until(lambda: cp.tree.node(9, 0) is not None)  # two whole chunks folded in
    finally:
        stop.set()
        thread.join()
    assert cp.tree.root(700) == root_of(leaves(open_ledger(data_dir)))
