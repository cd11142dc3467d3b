"""The ledger's single writer: a thread fed by a queue, one transaction per batch.

Requests hand over validated records and get a Future; the writer gathers whatever is
queued (group commit) and hands the batch to its `Sequencer` (SQLite's by default,
PostgreSQL's on a shared database), which drops events whose (account, eventID) is
already stored, appends the rest with consecutive sequence numbers and commits durably;
only then are the futures resolved. Back-pressure is explicit: past `max_pending` queued
events `submit` raises Throttled instead of queueing without bound.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from opentrail.clock import Clock
from opentrail.errors import Throttled
from opentrail.events import Record
from opentrail.ledger._sequencer import Sequencer
from opentrail.ledger._sqlite_sequencer import SqliteSequencer

__all__ = ["LedgerWriter"]

log = logging.getLogger(__name__)

GROUP_LIMIT = 20_000  # events per transaction: large enough to amortise the fsync


@dataclass
class _Job:
    records: Sequence[Record]
    future: Future[list[bool]] = field(default_factory=Future)


class LedgerWriter:
    """Owns the write thread and its sequencer. `submit` is thread-safe; results say
    stored or duplicate."""

    def __init__(self, data_dir: Path | None, clock: Clock, *, max_pending: int = 100_000,
                 retention_days: int | None = None,
                 sequencer: Sequencer | None = None) -> None:
        """Appends to DATA_DIR/ledger.db, or through `sequencer` when given (then
        `data_dir` is unused and the sequencer records the retention itself)."""
        if sequencer is None:
            assert data_dir is not None, "a data dir or a sequencer"
            retention = None if retention_days is None else (retention_days, clock.now())
            sequencer = SqliteSequencer(data_dir, retention=retention)
        self._sequencer = sequencer
        self._clock = clock
        self._max_pending = max_pending
        self._queue: deque[_Job] = deque()
        self._pending = 0
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)

    @property
    def size(self) -> int:
        """Number of events committed so far, by any writer (the next sequence number)."""
        return self._sequencer.size()

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join()
        self._sequencer.close()

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
                for job in jobs:
                    job.future.set_exception(exc)
            else:
                for job, result in zip(jobs, results, strict=True):
                    job.future.set_result(result)
            finally:
                with self._cond:
                    self._pending -= sum(len(job.records) for job in jobs)

    def _commit(self, jobs: list[_Job]) -> list[list[bool]]:
        fresh = self._sequencer.append([r for job in jobs for r in job.records],
                                       int(self._clock.now()))
        return _split(fresh, [len(job.records) for job in jobs])

    def purge(self, cutoff: int) -> int:
        """Drop bodies of events older than `cutoff` by event time and by ingest time
        (the retention purge; leaves stay); returns how many were dropped."""
        return self._sequencer.purge(cutoff)


def _split(flat: list[bool], sizes: list[int]) -> list[list[bool]]:
    out, i = [], 0
    for n in sizes:
        out.append(flat[i : i + n])
        i += n
    return out
