"""The PostgreSQL `Sequencer` (ledger/_sequencer.py): the cluster's one appender at a time.

Each node runs its own `LedgerWriter` (queue, group commit, back-pressure) over a
`PgSequencer`. A batch is one transaction that first takes LEDGER_LOCK, a
transaction-scoped advisory lock: whoever holds it is the sequencer for that batch.
Under it the last seq and ingest time and the batch's already stored (account, eventID)
pairs are read fresh, so batches from any node get consecutive seqs with no gap and no
duplicate; the rows go in with one binary COPY; the lock ends with the COMMIT (or the
holder's death: PostgreSQL releases a dead session's locks), and `append` returns only
after COMMIT returned, so acknowledged means committed. A holder that stops answering
mid-transaction (a frozen node) is cut off by the server after IDLE_TIMEOUT, which
frees the lock for the others. Ingest time never goes below the last stored one, so it
grows with seq even when nodes' clocks differ. The unique (account, event_id) index is
the backstop: a duplicate the check missed fails the batch instead of being stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from opentrail.backends.postgres._db import LEDGER_LOCK, Conn, PgDb
from opentrail.backends.postgres._ledger_reader import first_ingested_at
from opentrail.events import Record

__all__ = ["PgSequencer"]

IDLE_TIMEOUT = "10s"  # a sequencer idle inside its transaction this long is cut off
PURGE_CHUNK = 20_000  # seqs per retention-purge transaction
_COPY = ("COPY events (seq, account, region, category, event_time, ingested, event_id, "
         "leaf, body) FROM STDIN (FORMAT BINARY)")
_TYPES = ["int8", "text", "text", "int4", "int8", "int8", "text", "bytea", "bytea"]
_STORED = ('SELECT e.account, e.event_id FROM events e JOIN unnest(%s::text[], %s::text[]) '
           'AS b(account, event_id) ON e.account = b.account COLLATE "C" '
           'AND e.event_id = b.event_id COLLATE "C"')


class PgSequencer:
    def __init__(self, db: PgDb, *, retention: tuple[int, float] | None = None) -> None:
        """`retention`: (days, now) the writer runs with, recorded for `opentrail verify`."""
        self._db = db
        self._purge_from = 0  # seqs below it hold no body that has expired yet
        if retention is not None:
            self._record_retention(*retention)

    def _record_retention(self, days: int, now: float) -> None:
        with self._db.transaction(LEDGER_LOCK) as conn:
            row = conn.execute("SELECT days FROM ledger_retention "
                               "ORDER BY since DESC LIMIT 1").fetchone()
            if row is None or row[0] != days:
                conn.execute("INSERT INTO ledger_retention VALUES (%s, %s) ON CONFLICT "
                             "(since) DO UPDATE SET days = excluded.days", (int(now), days))

    def size(self) -> int:
        with self._db.transaction() as conn:
            row = conn.execute("SELECT max(seq) FROM events").fetchone()
        return 0 if row is None or row[0] is None else int(row[0]) + 1

    def close(self) -> None:
        """Nothing to release: connections belong to the backend's pool."""

    def append(self, records: Sequence[Record], now: int) -> list[bool]:
        # Hashed before the lock is taken: the lock is held for database work only.
        leaves = [hashlib.sha256(b"\x00" + r.body).digest() for r in records]
        with self._db.transaction() as conn:
            last, stored = _under_lock(conn, records)
            seq, now = (0, now) if last is None else (last[0] + 1, max(now, last[1]))
            fresh, rows = [], list[tuple[Any, ...]]()
            for r, leaf in zip(records, leaves, strict=True):
                key = (r.account, r.event_id)
                fresh.append(key not in stored)
                if key in stored:
                    continue
                stored.add(key)
                rows.append((seq, r.account, r.region, int(r.category), r.event_time, now,
                             r.event_id, leaf, r.body))
                seq += 1
            if rows:
                with conn.cursor() as cur, cur.copy(_COPY) as copy:
                    copy.set_types(_TYPES)
                    for row in rows:
                        copy.write_row(row)
        return fresh

    def purge(self, cutoff: int) -> int:
        """Drop bodies older than `cutoff` by event and ingest time, in short seq ranges
        from where the last purge left a body, each one transaction that raises the
        trigger's cutoff in `ledger_purge`, drops the bodies and sets it back to 0 (no
        other transaction ever sees it raised). No ledger lock: appends go on."""
        with self._db.transaction() as conn:
            end = first_ingested_at(conn, cutoff)
        purged, kept = 0, None
        for lo in range(self._purge_from, end, PURGE_CHUNK):
            hi = min(lo + PURGE_CHUNK, end)
            with self._db.transaction() as conn:
                conn.execute("UPDATE ledger_purge SET cutoff = %s", (cutoff,))
                purged += conn.execute(
                    "UPDATE events SET body = NULL WHERE seq >= %s AND seq < %s "
                    "AND body IS NOT NULL AND event_time < %s AND ingested < %s",
                    (lo, hi, cutoff, cutoff)).rowcount
                conn.execute("UPDATE ledger_purge SET cutoff = 0")
                if kept is None:  # an old ingest of recent events expires later
                    row = conn.execute("SELECT min(seq) FROM events WHERE seq >= %s AND "
                                       "seq < %s AND body IS NOT NULL", (lo, hi)).fetchone()
                    kept = None if row is None else row[0]
        self._purge_from = max(self._purge_from, end if kept is None else kept)
        return purged


def _under_lock(conn: Conn, records: Sequence[Record]
                ) -> tuple[tuple[Any, ...] | None, set[tuple[str, str]]]:
    """Take LEDGER_LOCK, then read the last (seq, ingested) and which (account, eventID)
    pairs of `records` are stored: one round trip (pipelined; the server runs the reads
    after the lock is granted, in order)."""
    with conn.pipeline():
        conn.execute("SELECT pg_advisory_xact_lock(%s), set_config("
                     "'idle_in_transaction_session_timeout', %s, true)",
                     (LEDGER_LOCK, IDLE_TIMEOUT))
        last = conn.execute("SELECT seq, ingested FROM events ORDER BY seq DESC LIMIT 1")
        stored = conn.execute(_STORED, ([r.account for r in records],
                                        [r.event_id for r in records]))
    return last.fetchone(), {(account, event_id) for account, event_id in stored}
