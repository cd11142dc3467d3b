"""Reading the ledger: bodies by sequence number, the tree head, and full verification."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from opentrail.ledger._merkle import CompactRange
from opentrail.ledger._schema import TRIGGERS

__all__ = ["Mismatch", "VerifyReport", "bodies", "tree_head", "verify_ledger"]

SCAN_CHUNK = 10_000


def bodies(conn: sqlite3.Connection, seqs: Iterable[int]) -> dict[int, bytes | None]:
    """Stored bodies by sequence number (None for expired events)."""
    wanted = list(seqs)
    out: dict[int, bytes | None] = {}
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(f"SELECT seq, body FROM events WHERE seq IN ({marks})", chunk)
        out.update(rows)
    return out


def _leaves(conn: sqlite3.Connection) -> Iterator[tuple[int, bytes, bytes | None]]:
    last = -1
    while True:
        rows = conn.execute(
            "SELECT seq, leaf, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            (last, SCAN_CHUNK)).fetchall()
        if not rows:
            return
        yield from rows
        last = rows[-1][0]


def tree_head(conn: sqlite3.Connection) -> tuple[int, bytes]:
    """(size, RFC 9162 root) over every stored leaf hash."""
    compact = CompactRange()
    compact.extend(leaf for _, leaf, _ in _leaves(conn))
    return compact.size, compact.root()


@dataclass(frozen=True)
class Mismatch:
    seq: int
    reason: str


@dataclass
class VerifyReport:
    size: int = 0
    checked: int = 0
    expired: int = 0
    root: bytes = b""
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def verify_ledger(conn: sqlite3.Connection) -> VerifyReport:
    """Recompute every leaf from its stored bytes; check sequence gaps and the guards."""
    report = VerifyReport()
    compact = CompactRange()
    for seq, leaf, body in _leaves(conn):
        if seq != compact.size:
            report.mismatches.append(Mismatch(seq, f"sequence gap: expected {compact.size}"))
        compact.append(leaf)
        if body is None:
            report.expired += 1
        elif not isinstance(body, bytes):
            report.mismatches.append(Mismatch(seq, "stored body is not a blob: it was rewritten"))
        elif hashlib.sha256(b"\x00" + body).digest() != leaf:
            report.mismatches.append(Mismatch(seq, "stored bytes do not match the leaf hash"))
        else:
            report.checked += 1
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
    for missing in sorted(set(TRIGGERS) - names):
        report.mismatches.append(Mismatch(-1, f"append-only trigger {missing} is missing"))
    report.size, report.root = compact.size, compact.root()
    return report
