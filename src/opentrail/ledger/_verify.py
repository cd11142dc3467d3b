"""Verifying the ledger: each leaf against its stored bytes, the tree against every signed
checkpoint, and each missing body against the retention period.

What verification can prove: a leaf hash is a column beside the body, so anyone who can
write ledger.db can rewrite both (dropping the triggers for a moment). The checkpoints
are signed: recomputing the root at every checkpoint's size and comparing it with the
signed root catches any change to a leaf a checkpoint covers. A body may only be missing
once the retention period is over; the ingest time column can be rewritten too, so each
missing body is also dated by the checkpoints: a leaf beyond a checkpoint's size was
appended after that checkpoint was signed.
"""

from __future__ import annotations

import hashlib
import math
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from opentrail.ledger._checkpoint import CHECKPOINTS_FILE, Checkpoint, open_checkpoint
from opentrail.ledger._checkpoint_rows import CheckpointRows
from opentrail.ledger._merkle import CompactRange
from opentrail.ledger._note import NoteError, NoteVerifier
from opentrail.ledger._reader import LedgerReader, scan
from opentrail.ledger._schema import TRIGGERS, expected_guards, guards
from opentrail.ledger._sqlite_reader import SqliteLedgerReader

__all__ = ["Mismatch", "Retention", "SignedCheckpoints", "VerifyReport", "guard_problems",
           "verify_ledger", "verify_reader"]

SCAN_CHUNK = 10_000
# A checkpoint's time is taken just after its tree size is read: a leaf beyond that size
# may carry an ingest time up to this much before the checkpoint's time.
CHECKPOINT_SLACK = 300
DAY = 86400


@dataclass(frozen=True)
class Mismatch:
    seq: int  # -1: the ledger as a whole (a trigger, a checkpoint)
    reason: str


@dataclass(frozen=True)
class Retention:
    """Bodies of events ingested or happening at or after `cutoff` must still be there;
    `text` says which setting that comes from ("90 days")."""

    cutoff: float
    text: str

    @classmethod
    def of_days(cls, days: int, now: float) -> Retention:
        """One setting as of `now` (0 keeps bodies forever)."""
        if days <= 0:
            return cls(-math.inf, "forever")
        return cls(now - days * DAY, f"{days} days")

    @classmethod
    def of_history(cls, periods: Sequence[tuple[int, int]], now: float) -> Retention | None:
        """The settings the writer ran with, (since, days) oldest first: a setting in
        force until the next one started allowed purges up to that end minus its days,
        so raising the retention later never turns old purges into alarms."""
        if not periods:
            return None
        cutoff = -math.inf
        for i, (_since, days) in enumerate(periods):
            end = periods[i + 1][0] if i + 1 < len(periods) else now
            if days > 0:
                cutoff = max(cutoff, end - days * DAY)
        texts = [cls.of_days(days, now).text for _since, days in periods]
        text = texts[-1] if len(set(texts)) == 1 else f"{texts[-1]}, earlier {texts[-2]}"
        return cls(cutoff, text)


@dataclass
class VerifyReport:
    size: int = 0
    checked: int = 0
    expired: int = 0
    checkpoints: int = 0  # signed checkpoints whose root was recomputed and matched
    root: bytes = b""
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SignedCheckpoints:
    """The checkpoints in DATA_DIR/checkpoints.db (or in `rows`, `Backend.checkpoints()`)
    in size order, each opened with `verifier`; one that does not verify is not yielded
    but noted in `problems`."""

    def __init__(self, data_dir: Path, verifier: NoteVerifier | None,
                 rows: CheckpointRows | None = None) -> None:
        self._path = data_dir / CHECKPOINTS_FILE
        self._verifier = verifier
        self._rows = rows
        self.problems: list[Mismatch] = []

    def __iter__(self) -> Iterator[Checkpoint]:
        if self._rows is not None:
            yield from self._opened(_paged(self._rows))
            return
        if not self._path.exists():
            return
        conn = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True)
        try:
            yield from self._opened(_checkpoint_rows(conn))
        finally:
            conn.close()

    def _opened(self, rows: Iterator[tuple[int, bytes, str]]) -> Iterator[Checkpoint]:
        for size, root, note in rows:
            checkpoint = self._open(size, bytes(root), note)
            if checkpoint is not None:
                yield checkpoint

    def _open(self, size: int, root: bytes, note: str) -> Checkpoint | None:
        where = f"the signed checkpoint of tree size {size}"
        if self._verifier is None:
            if not self.problems:  # said once, not once per checkpoint
                self.problems.append(Mismatch(-1, "checkpoints.db holds signed checkpoints "
                                                  "but there is no public key to check them "
                                                  "with (checkpoint.pub or --public-key)"))
            return None
        try:
            checkpoint = open_checkpoint(note, self._verifier)
        except NoteError as err:
            self.problems.append(Mismatch(-1, f"{where} does not verify: {err}"))
            return None
        if (checkpoint.size, checkpoint.root) != (size, root):
            self.problems.append(Mismatch(-1, f"{where}: its stored size or root differs "
                                              "from the signed note"))
        return checkpoint


def _paged(rows: CheckpointRows) -> Iterator[tuple[int, bytes, str]]:
    last = -1
    while found := rows.after(last, SCAN_CHUNK):
        yield from ((row.size, row.root, row.note) for row in found)
        last = found[-1].size


def _checkpoint_rows(conn: sqlite3.Connection) -> Iterator[tuple[int, bytes, str]]:
    last = -1
    while True:
        rows = conn.execute("SELECT size, root, note FROM checkpoints WHERE size > ? "
                            "ORDER BY size LIMIT ?", (last, SCAN_CHUNK)).fetchall()
        if not rows:
            return
        yield from rows
        last = rows[-1][0]


class _Roots:
    """Walks the signed checkpoints beside the leaf scan, comparing roots size by size."""

    def __init__(self, checkpoints: Iterable[Checkpoint], report: VerifyReport) -> None:
        self._pending = iter(checkpoints)
        self._next = next(self._pending, None)
        self._report = report
        self.since: float | None = None  # time of the newest checkpoint not past the scan

    def check(self, compact: CompactRange) -> None:
        """Compare every checkpoint of the size the scan has reached."""
        while self._next is not None and self._next.size <= compact.size:
            cp = self._next
            if cp.size == compact.size:
                self._compare(cp, compact.root())
            self.since = cp.time if self.since is None else max(self.since, cp.time)
            self._next = next(self._pending, None)

    def _compare(self, cp: Checkpoint, root: bytes) -> None:
        if root == cp.root:
            self._report.checkpoints += 1
            return
        self._report.mismatches.append(Mismatch(-1, (
            f"the ledger's Merkle root at tree size {cp.size} is {root.hex()}, but the "
            f"checkpoint signed at {_iso(cp.time)} says {cp.root.hex()}: leaves it covers "
            "were changed")))

    def finish(self, size: int) -> None:
        while self._next is not None:
            self._report.mismatches.append(Mismatch(-1, (
                f"a checkpoint signed at {_iso(self._next.time)} covers {self._next.size} "
                f"events, but the ledger holds only {size}")))
            self._next = next(self._pending, None)


def _missing_body(seq: int, event_time: int, ingested: int, since: float | None,
                  retention: Retention | None) -> Mismatch | None:
    """Why a missing body at `seq` was dropped too early, or None if it had expired."""
    if retention is None:
        return None
    lost = "its body is missing"
    if retention.cutoff == -math.inf:
        return Mismatch(seq, f"{lost}, but bodies are kept forever (retention 0)")
    cutoff, within = retention.cutoff, f"within the retention period ({retention.text})"
    if since is not None and since - CHECKPOINT_SLACK >= cutoff:
        return Mismatch(seq, f"{lost}, but it was appended after the checkpoint signed at "
                             f"{_iso(since)}, {within}")
    if ingested >= cutoff:
        return Mismatch(seq, f"{lost}, but it was ingested at {_iso(ingested)}, {within}")
    if event_time >= cutoff:
        return Mismatch(seq, f"{lost}, but its event time {_iso(event_time)} is {within}")
    return None


def guard_problems(conn: sqlite3.Connection) -> list[Mismatch]:
    """The ledger.db triggers that are missing or were replaced."""
    found, expected = guards(conn), expected_guards()
    out = []
    for name in TRIGGERS:
        if name not in found:
            out.append(Mismatch(-1, f"append-only trigger {name} is missing"))
        elif found[name] != expected[name]:
            out.append(Mismatch(-1, f"append-only trigger {name} was replaced by another"))
    return out


def verify_ledger(conn: sqlite3.Connection, *, checkpoints: Iterable[Checkpoint] = (),
                  retention: Retention | None = None) -> VerifyReport:
    """Recompute every leaf from its stored bytes and the root at every checkpoint's size
    (`checkpoints` in size order, signatures already checked); check sequence gaps, the
    guards and, given `retention`, that no body went missing before it expired."""
    return verify_reader(SqliteLedgerReader.over(conn), checkpoints=checkpoints,
                         retention=retention, guards=lambda: guard_problems(conn))


def verify_reader(reader: LedgerReader, *, checkpoints: Iterable[Checkpoint] = (),
                  retention: Retention | None = None,
                  guards: Callable[[], list[Mismatch]] = list) -> VerifyReport:
    """`verify_ledger` over any backend's reader; `guards` reports the backend's
    append-only guards that are missing or replaced."""
    report = VerifyReport()
    compact = CompactRange()
    roots = _Roots(checkpoints, report)
    for seq, _account, _region, _category, event_time, ingested, leaf, body in scan(
            reader, chunk=SCAN_CHUNK):
        if seq != compact.size:
            report.mismatches.append(Mismatch(seq, f"sequence gap: expected {compact.size}"))
        roots.check(compact)
        compact.append(leaf)
        if body is None:
            early = _missing_body(seq, event_time, ingested, roots.since, retention)
            if early is None:
                report.expired += 1
            else:
                report.mismatches.append(early)
        elif not isinstance(body, bytes):
            report.mismatches.append(Mismatch(seq, "stored body is not a blob: it was rewritten"))
        elif hashlib.sha256(b"\x00" + body).digest() != leaf:
            report.mismatches.append(Mismatch(seq, "stored bytes do not match the leaf hash"))
        else:
            report.checked += 1
    roots.check(compact)
    roots.finish(compact.size)
    report.mismatches.extend(guards())
    report.size, report.root = compact.size, compact.root()
    return report
