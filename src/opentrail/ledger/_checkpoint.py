"""Signed checkpoints of the ledger's Merkle tree, and the thread that publishes them.

A checkpoint is a signed note (ledger/_note.py) in the C2SP tlog-checkpoint shape:

    <origin>
    <tree size>
    <base64 root hash>
    time <RFC 3339 UTC>

    — <origin> <base64(key id || Ed25519 signature)>

The signing key lives in DATA_DIR/checkpoint.key (0600), created on first start with a
fresh origin name (or, on PostgreSQL, in the database: `Backend.checkpoint_signer()`).
Checkpoints are kept in `CheckpointRows` (checkpoints.db, fsync'd, or a shared table:
unlike tree.db they are statements we published, not derived state). Before signing,
each new checkpoint is checked to extend the previous one (a consistency proof), so a
damaged tree.db or ledger is never signed over. With several nodes, only the one whose
`signs()` is true (the elected checkpoint signer) signs; the others hand out what it
stored.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opentrail.clock import Clock
from opentrail.errors import OpenTrailError, Throttled
from opentrail.ledger._checkpoint_rows import (
    CHECKPOINTS_FILE,
    CheckpointRow,
    CheckpointRows,
    SqliteCheckpointRows,
)
from opentrail.ledger._note import NoteError, NoteSigner, NoteVerifier
from opentrail.ledger._proof import ProofError, verify_consistency
from opentrail.ledger._reader import LedgerReader
from opentrail.ledger._tree import TreeFollower, TreeReader

__all__ = [
    "CHECKPOINTS_FILE",
    "CHECKPOINT_KEY_FILE",
    "PUBLIC_KEY_FILE",
    "Checkpoint",
    "Checkpointer",
    "checkpoint_text",
    "load_signer",
    "open_checkpoint",
]

log = logging.getLogger(__name__)

CHECKPOINT_KEY_FILE = "checkpoint.key"
PUBLIC_KEY_FILE = "checkpoint.pub"  # the verifier key, for operators to hand out
IDLE = 0.1  # seconds the tree thread waits when the ledger has no new whole chunk
ASK_SIGNER = 1.0  # seconds between a non-signer's asks for the signer's role

@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    time: int
    note: str

    def to_json(self) -> dict[str, Any]:
        return {"origin": self.origin, "treeSize": self.size, "rootHash": self.root.hex(),
                "time": _iso(self.time), "checkpoint": self.note}


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def checkpoint_text(origin: str, size: int, root: bytes, time: int) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\ntime {_iso(time)}\n"


def _parse(text: str) -> tuple[str, int, bytes, int]:
    lines = text.split("\n")
    if len(lines) < 4 or not lines[1].isdigit() or (lines[1] != "0" and lines[1][0] == "0"):
        raise NoteError("a checkpoint reads: origin, tree size, base64 root hash, lines.")
    try:
        root = base64.b64decode(lines[2], validate=True)
    except ValueError:
        raise NoteError("the checkpoint's root hash is not valid base64.") from None
    times = [line.removeprefix("time ") for line in lines[3:] if line.startswith("time ")]
    try:
        when = datetime.strptime(times[0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except (IndexError, ValueError):
        raise NoteError("the checkpoint has no valid 'time' line.") from None
    if len(root) != 32:
        raise NoteError("the checkpoint's root hash is not 32 bytes.")
    return lines[0], int(lines[1]), root, int(when.timestamp())


def open_checkpoint(note: str, verifier: NoteVerifier) -> Checkpoint:
    """Verify a checkpoint's signature with `verifier` and parse it; NoteError otherwise."""
    origin, size, root, time = _parse(verifier.open(note))
    if origin != verifier.name:
        raise NoteError(f"the checkpoint is for the log {origin!r}, but the key is for "
                        f"{verifier.name!r}.")
    return Checkpoint(origin, size, root, time, note)


def load_signer(data_dir: Path, file: str = CHECKPOINT_KEY_FILE,
                kind: str = "ledger") -> NoteSigner:
    """DATA_DIR/checkpoint.key (or `file`), created (0600, exclusively) with a fresh
    name `opentrail.local/KIND/<random>` if absent."""
    path = data_dir / file
    try:
        return NoteSigner.parse(path.read_text())
    except FileNotFoundError:
        pass
    signer = NoteSigner.generate(f"opentrail.local/{kind}/{secrets.token_hex(6)}")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its key
        return NoteSigner.parse(path.read_text())
    with os.fdopen(fd, "w") as f:
        f.write(signer.text() + "\n")
        f.flush()
        os.fsync(f.fileno())
    return signer


class Checkpointer:
    """Keeps tree.db following the ledger and publishes signed checkpoints. Thread-safe."""

    def __init__(self, data_dir: Path, clock: Clock, interval: float,
                 ledger: LedgerReader | None = None,
                 signer: NoteSigner | None = None, store: CheckpointRows | None = None,
                 signs: Callable[[], bool] | None = None) -> None:
        """`ledger`: the ledger to follow (the SQLite one in `data_dir` by default); the
        caller keeps owning it. `signer`: the checkpoint key (by default
        DATA_DIR/checkpoint.key; `Backend.checkpoint_signer()` gives the backend's).
        `store`: where checkpoints are kept (DATA_DIR/checkpoints.db by default; this
        checkpointer closes it). `signs`: whether this node may sign now (the elected
        signer's role; always by default)."""
        self.tree = TreeReader(data_dir, ledger)
        self.signer = load_signer(data_dir) if signer is None else signer
        public = data_dir / PUBLIC_KEY_FILE
        if not public.exists():
            public.write_text(self.signer.verifier().text() + "\n")
        self._follower = TreeFollower(data_dir, ledger)
        self._store = SqliteCheckpointRows(data_dir) if store is None else store
        self._signs = signs or (lambda: True)
        self._clock = clock
        self._interval = interval
        self._lock = threading.Lock()

    @property
    def public_key(self) -> NoteVerifier:
        return self.signer.verifier()

    def latest_checkpoint(self) -> Checkpoint:
        """The newest published checkpoint (one is made if none was published yet)."""
        with self._lock:
            latest = self._latest()
        return latest or self.make_checkpoint()

    def checkpoint_at(self, size: int) -> Checkpoint | None:
        with self._lock:
            return self._made(self._store.at(size))

    def between(self, start: int, end: int) -> list[Checkpoint]:
        """Published checkpoints signed at epoch seconds [start, end), oldest first, and
        the last one signed before `start` (the tree the period began with) first."""
        with self._lock:
            rows = [self._store.last_before(start), *self._store.between(start, end)]
        return [cp for cp in map(self._made, rows) if cp is not None]

    def first_since(self, when: int) -> Checkpoint | None:
        """The first checkpoint signed at or after epoch second `when`."""
        with self._lock:
            found = self._store.between(when, 2**62, limit=1)
        return self._made(found[0]) if found else None

    def _latest(self) -> Checkpoint | None:
        return self._made(self._store.latest())

    def _made(self, row: CheckpointRow | None) -> Checkpoint | None:
        return None if row is None else Checkpoint(self.signer.name, *row)

    def make_checkpoint(self) -> Checkpoint:
        """Sign and store a checkpoint of the tree as it is now; the latest if it did not
        grow, or if another node is the signer (Throttled while none was signed yet)."""
        with self._lock:
            size = self.tree.size()
            previous = self._latest()
            if previous is not None and previous.size >= size:
                return previous
            if not self._signs():
                if previous is None:
                    raise Throttled("No checkpoint of the ledger has been signed yet; "
                                    "retry in a few seconds.")
                return previous
            root = self.tree.root(size)
            if previous is not None:
                self._check_extends(previous, size, root)
            now = int(self._clock.now())
            note = self.signer.sign(checkpoint_text(self.signer.name, size, root, now))
            checkpoint = Checkpoint(self.signer.name, size, root, now, note)
            self._store.add(CheckpointRow(size, root, now, note))
            # another signer's, had one stored this size first
            return self._made(self._store.at(size)) or checkpoint

    def _check_extends(self, previous: Checkpoint, size: int, root: bytes) -> None:
        proof = self.tree.consistency(previous.size, size) if previous.size else []
        try:
            verify_consistency(previous.size, size, proof, previous.root, root)
        except ProofError as err:
            log.error("refusing to sign tree size %d: %s", size, err)
            raise OpenTrailError(f"The Merkle tree of size {size} does not extend the "
                                 f"checkpoint of size {previous.size}; the operator should run "
                                 "`opentrail verify`.") from err

    def covering(self, index: int) -> Checkpoint:
        """A checkpoint whose tree holds leaf `index`: the latest, or a fresh one."""
        latest = self.latest_checkpoint()
        if latest.size > index:
            return latest
        fresh = self.make_checkpoint()
        if fresh.size <= index:
            raise Throttled("The Merkle tree is catching up with the ledger; retry in a few "
                            "seconds.")
        return fresh

    def run(self, stop: threading.Event) -> None:
        """The tree thread: follow the ledger, publish a checkpoint every `interval` seconds
        (on the signer's node; another node asks for the role every ASK_SIGNER seconds)."""
        last = float("-inf")
        while not stop.is_set():
            try:
                consumed = self._follower.step()
                if self._clock.now() - last >= self._interval:
                    last = self._clock.now()
                    if self._signs():
                        self.make_checkpoint()
                    else:
                        last -= self._interval - min(self._interval, ASK_SIGNER)
            except Exception:  # keep following: the next round retries
                log.exception("the Merkle tree thread failed a round")
                consumed = 0
            if not consumed:
                stop.wait(IDLE)

    def close(self) -> None:
        self._follower.close()
        self.tree.close()
        self._store.close()
