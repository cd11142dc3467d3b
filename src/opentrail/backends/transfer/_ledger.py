"""The ledger's move: checked in the data dir first, copied in committed chunks, checked
again in the database.

`check_source` recomputes every leaf from its stored bytes and the root at every signed
checkpoint (`verify_ledger`), and refuses on any mismatch, naming the seq. `copy_events`
compares the events an earlier run copied with the data dir's, leaf by leaf, then
appends the rest in chunks, each one transaction under the sequencer's lock that checks
the database's ledger ends where the chunk starts (no node may be appending), hashing
each body again on the way. The database's tree head is then recomputed through its
`LedgerReader` and must be the data dir's.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from opentrail.backends.postgres import PgDb, PgLedgerReader
from opentrail.backends.postgres._db import LEDGER_LOCK
from opentrail.backends.transfer._errors import MigrationRefused
from opentrail.ledger import (
    LEDGER_FILE,
    CompactRange,
    NoteVerifier,
    SignedCheckpoints,
    open_reader,
    recorded_retention,
    verify_ledger,
)

__all__ = ["CHUNK", "TreeHead", "check_source", "copy_events", "database_head"]

CHUNK = 10_000
TreeHead = tuple[int, bytes, int]  # size, root, signed checkpoints matched
_SOURCE = ("SELECT seq, account, region, category, event_time, ingested, event_id, leaf, "
           "body FROM events WHERE seq >= ? AND seq < ? ORDER BY seq")
_COPY = ("COPY events (seq, account, region, category, event_time, ingested, event_id, "
         "leaf, body) FROM STDIN (FORMAT BINARY)")
_TYPES = ["int8", "text", "text", "int4", "int8", "int8", "text", "bytea", "bytea"]
_SHOWN = 10  # mismatches listed in a refusal


def _open(data_dir: Path) -> sqlite3.Connection | None:
    return open_reader(data_dir) if (data_dir / LEDGER_FILE).exists() else None


def check_source(data_dir: Path, verifier: NoteVerifier) -> TreeHead:
    """The data dir's tree head, after every leaf and signed checkpoint checked."""
    conn = _open(data_dir)
    if conn is None:
        return 0, CompactRange().root(), 0
    try:
        signed = SignedCheckpoints(data_dir, verifier)
        report = verify_ledger(conn, checkpoints=signed)
    finally:
        conn.close()
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
    conn = _open(data_dir)
    if conn is None:
        return 0
    try:
        _same_prefix(conn, db, min(have, size), data_dir)
        for start in range(have, size, CHUNK):
            _append(db, _source_rows(conn, start, min(start + CHUNK, size)), start)
            progress(min(start + CHUNK, size))
        _copy_retention(conn, db)
    finally:
        conn.close()
    return max(size - have, 0)


def _source_rows(conn: sqlite3.Connection, start: int, end: int) -> list[tuple[Any, ...]]:
    rows = conn.execute(_SOURCE, (start, end)).fetchall()
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


def _append(db: PgDb, rows: list[tuple[Any, ...]], start: int) -> None:
    with db.transaction(LEDGER_LOCK) as conn:
        top = conn.execute("SELECT max(seq) FROM events").fetchone()
        end = 0 if top is None or top[0] is None else int(top[0]) + 1
        if end != start:
            raise MigrationRefused(
                f"The database {db.where} gained events while this migration ran (its "
                f"ledger ends at seq {end}, not {start}): stop every OpenTrail node using "
                "it, then run the migration again.")
        with conn.cursor() as cur, cur.copy(_COPY) as copy:
            copy.set_types(_TYPES)
            for row in rows:
                copy.write_row(row)


def _same_prefix(conn: sqlite3.Connection, db: PgDb, have: int, data_dir: Path) -> None:
    """The events an earlier run copied are the data dir's, leaf by leaf."""
    reader = PgLedgerReader(db)
    for start in range(0, have, CHUNK):
        end = min(start + CHUNK, have)
        ours = conn.execute("SELECT seq, leaf FROM events WHERE seq >= ? AND seq < ? "
                            "ORDER BY seq", (start, end)).fetchall()
        theirs = {row.seq: row.leaf for row in reader.rows(start, CHUNK, end)}
        for seq, leaf in ours:
            if theirs.get(seq) != leaf:
                raise MigrationRefused(
                    f"Event seq {seq} in the database {db.where} is not the one in "
                    f"{data_dir}: the database holds another ledger.")


def _copy_retention(conn: sqlite3.Connection, db: PgDb) -> None:
    """The retention settings the data dir's writer ran with (`opentrail verify` reads)."""
    periods = recorded_retention(conn)
    with db.transaction(LEDGER_LOCK) as pg:
        for since, days in periods:
            pg.execute("INSERT INTO ledger_retention VALUES (%s, %s) "
                       "ON CONFLICT (since) DO NOTHING", (since, days))


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
