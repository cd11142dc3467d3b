"""Events appended as they are, seqs and ingest times kept: a ledger moved in from
another backend (`opentrail migrate`), never new events (those go through PgSequencer).

`append_exact` is one transaction under LEDGER_LOCK that first checks the database's
ledger ends exactly where the rows start, so nothing can interleave (a node appending
meanwhile is refused, not merged), then inserts the rows with one binary COPY.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentrail.backends.postgres._db import LEDGER_LOCK, PgDb
from opentrail.backends.postgres._ledger_sequencer import _COPY, _TYPES

__all__ = ["append_exact", "record_retention"]


def append_exact(db: PgDb, rows: Sequence[tuple[Any, ...]], start: int) -> int | None:
    """Append `rows` (the events' columns in COPY order) at seq `start`; None when done,
    else the seq the database's ledger really ends at (nothing was written)."""
    with db.transaction(LEDGER_LOCK) as conn:
        top = conn.execute("SELECT max(seq) FROM events").fetchone()
        end = 0 if top is None or top[0] is None else int(top[0]) + 1
        if end != start:
            return end
        with conn.cursor() as cur, cur.copy(_COPY) as copy:
            copy.set_types(_TYPES)
            for row in rows:
                copy.write_row(row)
    return None


def record_retention(db: PgDb, periods: Sequence[tuple[int, int]]) -> None:
    """Each (since, days) a writer ran with, kept once."""
    with db.transaction(LEDGER_LOCK) as conn:
        for since, days in periods:
            conn.execute("INSERT INTO ledger_retention VALUES (%s, %s) "
                         "ON CONFLICT (since) DO NOTHING", (since, days))
