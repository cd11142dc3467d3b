"""What `opentrail verify` reads beside the ledger's rows: the backend's `LedgerAudit`.

The rows come through the `LedgerReader`; the checkpoint public key, the signed
checkpoints, the retention settings the writer ran with and the append-only guards are
kept differently by each backend, so each answers these four questions its own way
(`SqliteLedgerAudit` here for the data dir, backends/postgres for the database).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

from opentrail.ledger._checkpoint import PUBLIC_KEY_FILE, Checkpoint
from opentrail.ledger._note import NoteVerifier
from opentrail.ledger._schema import open_reader, recorded_retention
from opentrail.ledger._verify import Mismatch, SignedCheckpoints, guard_problems

__all__ = ["CheckpointSource", "LedgerAudit", "NoCheckpoints", "SqliteLedgerAudit"]


class CheckpointSource(Iterable[Checkpoint], Protocol):
    """Signed checkpoints in size order, each verified; `problems` after iterating."""

    problems: list[Mismatch]


class LedgerAudit(Protocol):
    def public_key(self) -> NoteVerifier | None:
        """The checkpoint key the backend holds (None: it holds none)."""
        ...

    def signed_checkpoints(self, verifier: NoteVerifier | None) -> CheckpointSource: ...

    def retention(self) -> list[tuple[int, int]]:
        """Every (since, days) the writer ran with, oldest first."""
        ...

    def guard_problems(self) -> list[Mismatch]:
        """Append-only guards that are missing or were replaced."""
        ...


class NoCheckpoints:
    """A backend that keeps no signed checkpoints (yet)."""

    problems: list[Mismatch]

    def __init__(self) -> None:
        self.problems = []

    def __iter__(self) -> Iterator[Checkpoint]:
        return iter(())


class SqliteLedgerAudit:
    """DATA_DIR's checkpoint.pub, checkpoints.db and ledger.db's retention and triggers."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)

    def public_key(self) -> NoteVerifier | None:
        path = self.data_dir / PUBLIC_KEY_FILE
        return NoteVerifier.parse(path.read_text()) if path.exists() else None

    def signed_checkpoints(self, verifier: NoteVerifier | None) -> SignedCheckpoints:
        return SignedCheckpoints(self.data_dir, verifier)

    def retention(self) -> list[tuple[int, int]]:
        conn = open_reader(self.data_dir)
        try:
            return recorded_retention(conn)
        finally:
            conn.close()

    def guard_problems(self) -> list[Mismatch]:
        conn = open_reader(self.data_dir)
        try:
            return guard_problems(conn)
        finally:
            conn.close()
