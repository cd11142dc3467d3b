"""The SQLite `Sequencer`: batches appended to DATA_DIR/ledger.db.

Each batch is one `BEGIN IMMEDIATE` transaction (SQLite's one writer at a time across
processes): inside it the next seq, the last ingest time and the batch's already stored
(account, eventID) pairs are read, so two writers on one file (two processes) never
give a seq twice or leave a gap; COMMIT returns after the WAL is fsync'd
(synchronous=FULL). The retention purge runs on its own connection in short
transactions (see `purge`).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from opentrail.events import Record
from opentrail.ledger._schema import open_ledger, open_reader, record_retention

__all__ = ["SqliteSequencer"]

ID_CHUNK = 500  # ids per dedup query, under SQLite's parameter limit
PURGE_CHUNK = 20_000  # seqs per retention-purge transaction (a few ms of write lock)


class SqliteSequencer:
    def __init__(self, data_dir: Path, *, retention: tuple[int, float] | None = None) -> None:
        """`retention`: (days, now) the writer runs with, recorded for `opentrail verify`."""
        self._conn = open_ledger(data_dir)
        if retention is not None:
            record_retention(self._conn, *retention)
        self._purge_from = 0  # seqs below it hold no body that has expired yet
        # `size` reads committed state only (the write connection would see its own
        # open transaction), from any thread.
        self._read = open_reader(data_dir)
        self._read_lock = threading.Lock()

    def size(self) -> int:
        with self._read_lock:
            row = self._read.execute("SELECT MAX(seq) FROM events").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def close(self) -> None:
        self._read.close()
        self._conn.close()

    def append(self, records: Sequence[Record], now: int) -> list[bool]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            last = self._conn.execute(
                "SELECT seq, ingested FROM events ORDER BY seq DESC LIMIT 1").fetchone()
            seq, now = (0, now) if last is None else (last[0] + 1, max(now, last[1]))
            fresh, rows = [], []
            stored = self._existing(records)
            for r in records:
                key = (r.account, r.event_id)
                fresh.append(key not in stored)
                if key in stored:
                    continue
                stored.add(key)
                leaf = hashlib.sha256(b"\x00" + r.body).digest()
                rows.append((seq, r.account, r.region, int(r.category), r.event_time, now,
                             r.event_id, leaf, r.body))
                seq += 1
            self._conn.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?)", rows)
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.rollback()
            raise
        return fresh

    def _existing(self, records: Sequence[Record]) -> set[tuple[str, str]]:
        """(account, eventID) pairs of this batch that the ledger already holds."""
        by_account: dict[str, list[str]] = {}
        for r in records:
            by_account.setdefault(r.account, []).append(r.event_id)
        found: set[tuple[str, str]] = set()
        for account, ids in by_account.items():
            for i in range(0, len(ids), ID_CHUNK):
                chunk = ids[i : i + ID_CHUNK]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT event_id FROM events WHERE account = ? AND event_id IN ({marks})"
                rows = self._conn.execute(sql, [account, *chunk])
                found.update((account, eid) for (eid,) in rows)
        return found

    def purge(self, cutoff: int) -> int:
        """Drop bodies of events older than `cutoff` by event time and by ingest time.

        Runs on its own connection (SQLite serialises it against the writer's commits).
        Each chunk is one transaction that raises the cutoff in the `purge` table (what
        the append-only trigger lets bodies expire by), drops the bodies and sets the
        cutoff back to 0, so no reader ever sees a non-zero cutoff. An UPDATE
        holds the write lock for as long as it scans, so the purge goes in short seq
        ranges (the writer waits for one range at most, never for a scan of the whole
        ledger), only over events ingested before the cutoff, and from the lowest seq
        the previous purge left a body at.
        """
        path = self._conn.execute("PRAGMA database_list").fetchone()[2]
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA synchronous=FULL")
            end = _first_ingested_at(conn, cutoff, self.size())
            purged, self._purge_from = _purge(conn, cutoff, self._purge_from, end)
            return purged
        finally:
            conn.close()


def _first_ingested_at(conn: sqlite3.Connection, cutoff: int, size: int) -> int:
    """The first seq ingested at or after `cutoff` (`size` if none): ingest time grows
    with seq, and seqs have no gaps, so a binary search over point reads finds it."""
    lo, hi = 0, size
    while lo < hi:
        mid = (lo + hi) // 2
        row = conn.execute("SELECT ingested FROM events WHERE seq = ?", (mid,)).fetchone()
        if row is None or row[0] >= cutoff:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _purge(conn: sqlite3.Connection, cutoff: int, start: int, end: int) -> tuple[int, int]:
    """Purge seqs [start, end) chunk by chunk; returns (bodies dropped, the lowest seq in
    the range still holding a body, or `end`: where the next purge starts)."""
    purged, kept = 0, None
    for lo in range(start, end, PURGE_CHUNK):
        hi = min(lo + PURGE_CHUNK, end)
        purged += _purge_chunk(conn, cutoff, lo, hi)
        if kept is None:  # an old ingest of recent events: expires later, by its time
            kept = conn.execute("SELECT MIN(seq) FROM events WHERE seq >= ? AND seq < ? "
                                "AND body IS NOT NULL", (lo, hi)).fetchone()[0]
    return purged, end if kept is None else kept


def _purge_chunk(conn: sqlite3.Connection, cutoff: int, lo: int, hi: int) -> int:
    """One transaction: raise the trigger's cutoff, drop the bodies, lower it to 0."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("UPDATE purge SET cutoff = ? WHERE id = 0", (cutoff,))
        purged: int = conn.execute(
            "UPDATE events SET body = NULL WHERE seq >= ? AND seq < ? "
            "AND body IS NOT NULL AND event_time < ? AND ingested < ?",
            (lo, hi, cutoff, cutoff)).rowcount
        conn.execute("UPDATE purge SET cutoff = 0 WHERE id = 0")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return purged
