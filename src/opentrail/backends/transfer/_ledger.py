"""The ledger's move: checked in the data dir first, copied in committed chunks, checked
again in the database.

`check_source` recomputes every leaf from its stored bytes and the root at every signed
checkpoint (`verify_reader` with the data dir's `LedgerAudit`), and refuses on any
mismatch, naming the seq. `copy_events` compares the events an earlier run copied with
the data dir's, leaf by leaf, then appends the rest in chunks (`append_exact`: one
transaction each, under the sequencer's lock, refused if the database's ledger does not
end where the chunk starts), hashing each body again on the way. The database's tree
head is then recomputed through its `LedgerReader` and must be the data dir's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from opentrail.backends.postgres import PgDb, PgLedgerReader
from opentrail.backends.postgres._ledger_import import append_exact, record_retention
from opentrail.backends.transfer._errors import MigrationRefused
from opentrail.ledger import (
    LEDGER_FILE,
    CompactRange,
    LedgerExport,
    LedgerReader,
    NoteVerifier,
    SqliteLedgerAudit,
    open_ledger_reader,
    verify_reader,
)

__all__ = ["CHUNK", "TreeHead", "check_source", "copy_events", "database_head"]

CHUNK = 10_000
TreeHead = tuple[int, bytes, int]  # size, root, signed checkpoints matched
_SHOWN = 10  # mismatches listed in a refusal


def check_source(data_dir: Path, verifier: NoteVerifier) -> TreeHead:
    """The data dir's tree head, after every leaf and signed checkpoint checked."""
    if not (data_dir / LEDGER_FILE).exists():
        return 0, CompactRange().root(), 0
    audit, reader = SqliteLedgerAudit(data_dir), open_ledger_reader(data_dir)
    try:
        signed = audit.signed_checkpoints(verifier)
        report = verify_reader(reader, checkpoints=signed, guards=audit.guard_problems)
    finally:
        reader.close()
    problems = signed.problems + report.mismatches
    if problems:
        lines = "".join(f"\n  {'event seq ' + str(m.seq) if m.seq >= 0 else 'ledger'}: "
                        f"{m.reason}" for m in problems[:_SHOWN])
        more = f"\n  ... and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
        raise MigrationRefused(
            f"The ledger in {data_dir} does not verify, so it was not migrated "
            f"({len(problems)} mismatches; `opentrail verify --data-dir {data_dir}` lists "
            f"them all):{lines}{more}")
    return report.size, report.root, report.checkpoints


def copy_events(data_dir: Path, db: PgDb, size: int,
                progress: Callable[[int], None]) -> int:
    """Copy seqs [database size, size) after checking the ones below are the data dir's;
    the number copied by this run."""
    have = PgLedgerReader(db).size()  # more than `size`: nodes appended since a run
    source = LedgerExport(data_dir)
    try:
        _same_prefix(source, PgLedgerReader(db), min(have, size), data_dir)
        for start in range(have, size, CHUNK):
            end = min(start + CHUNK, size)
            found = append_exact(db, _checked(source.rows(start, end), start, end), start)
            if found is not None:
                raise MigrationRefused(
                    f"The database {db.where} gained events while this migration ran (its "
                    f"ledger ends at seq {found}, not {start}): stop every OpenTrail node "
                    "using it, then run the migration again.")
            progress(end)
        record_retention(db, source.retention())
    finally:
        source.close()
    return max(size - have, 0)


def _checked(rows: list[tuple[Any, ...]], start: int, end: int) -> list[tuple[Any, ...]]:
    """The rows of [start, end), each body hashed again against its leaf."""
    for expected, row in enumerate(rows, start):
        seq, leaf, body = row[0], row[7], row[8]
        if seq != expected:
            raise MigrationRefused(f"The ledger has a gap: seq {expected} is missing.")
        if body is not None and hashlib.sha256(b"\x00" + body).digest() != leaf:
            raise MigrationRefused(f"Event seq {seq} changed while it was being migrated: "
                                   "its stored bytes no longer match its leaf hash.")
    if len(rows) != end - start:
        raise MigrationRefused(f"The ledger lost events while it was being migrated (seq "
                               f"{start + len(rows)} is gone).")
    return rows


def _same_prefix(source: LedgerExport, target: LedgerReader, have: int,
                 data_dir: Path) -> None:
    """The events an earlier run copied are the data dir's, leaf by leaf."""
    for start in range(0, have, CHUNK):
        end = min(start + CHUNK, have)
        theirs = {row.seq: row.leaf for row in target.rows(start, CHUNK, end)}
        for row in source.rows(start, end):
            if theirs.get(row[0]) != row[7]:
                raise MigrationRefused(
                    f"Event seq {row[0]} in the database is not the one in {data_dir}: "
                    "the database holds another ledger.")


def database_head(db: PgDb, size: int) -> tuple[int, bytes]:
    """The database's tree head over its first `size` leaves, and its whole size."""
    reader = PgLedgerReader(db)
    compact = CompactRange()
    start = 0
    while start < size:
        rows = reader.rows(start, CHUNK, size)
        if not rows:
            break
        compact.extend(row.leaf for row in rows)
        start = rows[-1].seq + 1
    return reader.size(), compact.root() if compact.size == size else b""
