"""The ledger's single writer: a thread fed by a queue, one transaction per batch.

Requests hand over validated records and get a Future; the writer gathers whatever is
queued (group commit), drops events whose (account, eventID) is already stored, appends
the rest with consecutive sequence numbers, commits (fsync) and only then resolves the
futures. Back-pressure is explicit: past `max_pending` queued events `submit` raises
Throttled instead of queueing without bound.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from opentrail.clock import Clock
from opentrail.errors import Throttled
from opentrail.events import Record
from opentrail.ledger._schema import open_ledger, record_retention

__all__ = ["LedgerWriter"]

log = logging.getLogger(__name__)

GROUP_LIMIT = 20_000  # events per transaction: large enough to amortise the fsync
ID_CHUNK = 500  # ids per dedup query, under SQLite's parameter limit
PURGE_CHUNK = 20_000  # seqs per retention-purge transaction (a few ms of write lock)


@dataclass
class _Job:
    records: Sequence[Record]
    future: Future[list[bool]] = field(default_factory=Future)


class LedgerWriter:
    """Owns the write connection. `submit` is thread-safe; results say stored or duplicate."""

    def __init__(self, data_dir: Path, clock: Clock, *, max_pending: int = 100_000,
                 retention_days: int | None = None) -> None:
        self._conn = open_ledger(data_dir)
        if retention_days is not None:  # what `opentrail verify` checks missing bodies by
            record_retention(self._conn, retention_days, clock.now())
        self._clock = clock
        self._max_pending = max_pending
        self._queue: deque[_Job] = deque()
        self._pending = 0
        self._cond = threading.Condition()
        self._closed = False
        row = self._conn.execute("SELECT COALESCE(MAX(seq) + 1, 0) FROM events").fetchone()
        self._next_seq: int = row[0]
        self._purge_from = 0  # seqs below it hold no body that has expired yet
        self._thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)

    @property
    def size(self) -> int:
        """Number of events committed so far (the next sequence number)."""
        return self._next_seq

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join()
        self._conn.close()

    def submit(self, records: Sequence[Record], *,
               reserved: bool = False) -> Future[list[bool]]:
        """Queue records; the future gives, per record, True if stored, False if a duplicate.

        Throttled past `max_pending`, unless `reserve(len(records))` already admitted them
        (`reserved=True`): such a submit is never refused.
        """
        job = _Job(records)
        with self._cond:
            if self._closed:
                raise RuntimeError("the ledger writer is closed")
            if not reserved:
                self._admit(len(records), "The ingest queue is full ({pending} events "
                            "waiting). Retry with backoff.")
            self._queue.append(job)
            self._cond.notify()
        return job.future

    def reserve(self, count: int = 1) -> None:
        """Admit `count` records now, to be submitted later with `reserved=True` (or given
        back with `release`): a call whose audit record must not be refused after it ran
        is refused before it runs instead."""
        with self._cond:
            self._admit(count, "The ledger's queue is full ({pending} events waiting), so "
                        "the audit record of this call could not be admitted; the call was "
                        "not run. Retry with backoff.")

    def release(self, count: int = 1) -> None:
        """Give back a reservation that will not be submitted."""
        with self._cond:
            self._pending -= count

    def _admit(self, count: int, message: str) -> None:
        if self._pending and self._pending + count > self._max_pending:
            raise Throttled(message.format(pending=self._pending))
        self._pending += count

    def _take(self) -> list[_Job] | None:
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if not self._queue:
                return None
            jobs: list[_Job] = []
            count = 0
            while self._queue and (not jobs or count + len(self._queue[0].records) <= GROUP_LIMIT):
                job = self._queue.popleft()
                jobs.append(job)
                count += len(job.records)
            return jobs

    def _run(self) -> None:
        while (jobs := self._take()) is not None:
            try:
                results = self._commit(jobs)
            except Exception as exc:  # a failed commit fails its requests, not the server
                log.exception("ledger commit failed")
                if self._conn.in_transaction:
                    self._conn.rollback()
                for job in jobs:
                    job.future.set_exception(exc)
            else:
                for job, result in zip(jobs, results, strict=True):
                    job.future.set_result(result)
            finally:
                with self._cond:
                    self._pending -= sum(len(job.records) for job in jobs)

    def _commit(self, jobs: list[_Job]) -> list[list[bool]]:
        records = [r for job in jobs for r in job.records]
        stored = self._existing(records)
        fresh: list[bool] = []
        rows = []
        seq = self._next_seq
        now = int(self._clock.now())
        for r in records:
            key = (r.account, r.event_id)
            if key in stored:
                fresh.append(False)
                continue
            stored.add(key)
            leaf = hashlib.sha256(b"\x00" + r.body).digest()
            rows.append((seq, r.account, r.region, int(r.category), r.event_time, now,
                         r.event_id, leaf, r.body))
            fresh.append(True)
            seq += 1
        self._conn.execute("BEGIN IMMEDIATE")
        self._conn.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?)", rows)
        self._conn.execute("COMMIT")
        self._next_seq = seq
        return _split(fresh, [len(job.records) for job in jobs])

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
            end = _first_ingested_at(conn, cutoff, self._next_seq)
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


def _split(flat: list[bool], sizes: list[int]) -> list[list[bool]]:
    out, i = [], 0
    for n in sizes:
        out.append(flat[i : i + n])
        i += n
    return out
