"""Sigma rules over the ledger: a follower evaluating each new record once, a publisher
appending its findings to the ledger, and a replay of stored history through the same rules.

    ledger ──ledger_rows(cursor)──▶ RuleSet.match ──▶ FindingStore.save(findings, cursor)
                                                                  │ (outbox)
    ledger ◀── LedgerWriter.submit (acknowledged) ◀── Publisher ◀─┘ then mark_published

The detector commits a batch's findings with the cursor that covers them, so a crash never
loses or doubles one; it needs no ledger writer, so it runs in its own process (the
second core, like the history indexer: evaluating costs ~30 µs an event, which in the
server's process would take that time from ingest). The publisher, in the server's
process, appends saved findings to the ledger and marks them published once acknowledged;
a crash in between appends them again, and the ledger's (account, eventID)
de-duplication keeps one (finding eventIDs are derived). A finding is never evaluated
(`is_finding`), so rules cannot feed on their own output. The first start begins at the
ledger's head (history is for `opentrail detect --rules`); later starts resume from the
cursor, so events stored while the server was down are still evaluated. In a cluster
(PostgreSQL) the detector and the publisher run on the node holding the `detector` role;
each term starts from the shared cursor, and `save` moves it only from where the batch
began, so a node that lost the role without noticing stores nothing (docs/detect.md).
"""

from __future__ import annotations

import gc
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from opentrail.clock import Clock, SystemClock
from opentrail.detect._feed import ledger_bodies, ledger_rows, open_ledger
from opentrail.detect._finding import Finding, finding_of, is_finding
from opentrail.detect._rules import RuleSet, load_rules
from opentrail.detect._store import FindingStore, SqliteFindingStore
from opentrail.events import parse_record
from opentrail.ledger import BodyRow, LedgerReader, LedgerRow, LedgerWriter

__all__ = ["BATCH", "Detector", "Publisher", "Replay", "begin", "replay",
           "run_detector_process"]

log = logging.getLogger(__name__)

BATCH = 2_000
IDLE = 0.05  # seconds between polls once caught up
PUBLISH = 1_000  # findings appended to the ledger per submit


def begin(ledger: LedgerReader, store: FindingStore) -> int:
    """The detector's cursor; on the very first start, the ledger's head (from now on:
    history is for `opentrail detect --rules`)."""
    cursor = store.cursor()
    if cursor is None:
        head, _ = ledger_rows(ledger, 0, 0)
        if store.save([], head, None):
            return head
        cursor = store.cursor()  # another node's detector began first: its cursor holds
        assert cursor is not None
    return cursor


class Detector:
    def __init__(self, data_dir: Path, clock: Clock, rules: RuleSet,
                 store: FindingStore, ledger: LedgerReader | None = None) -> None:
        """`ledger`: the ledger to follow (the caller keeps owning it); by default the
        SQLite one in `data_dir`."""
        self.rules, self.store = rules, store
        self._clock = clock
        self._owns_ledger = ledger is None
        self._ledger = open_ledger(data_dir) if ledger is None else ledger
        self.cursor = begin(self._ledger, store)
        self._stale = False  # True: read the stored cursor before the next batch
        self.evaluated = 0  # records evaluated since start (for throughput reports)
        self.found = 0  # findings made since start

    def close(self) -> None:
        if self._owns_ledger:
            self._ledger.close()

    def step(self) -> int:
        """Evaluate the next batch; returns how many ledger rows it covered."""
        if self._stale:
            self.resume()
        rows = ledger_bodies(self._ledger, self.cursor, BATCH)
        if not rows:
            return 0
        findings = list(_matches(self.rules, rows, self._clock.now()))
        cursor = rows[-1].seq + 1
        if not self.store.save(findings, cursor, self.cursor):
            log.warning("detect: the stored cursor is no longer %d (another node's detector "
                        "moved it); going on from it", self.cursor)
            self.cursor = begin(self._ledger, self.store)
            return 0
        self.cursor = cursor
        self.evaluated += len(rows)
        self.found += len(findings)
        return len(rows)

    def resume(self) -> None:
        """Go on from the stored cursor (where the previous holder of the role stopped)."""
        self.cursor = begin(self._ledger, self.store)
        self._stale = False

    def run(self, stop: threading.Event) -> None:
        """Evaluate until `stop`; each run (a term of the `detector` role) first reads the
        stored cursor, which another node may have moved since this one last ran."""
        self._stale = True
        _loop(self.step, stop, "evaluating a batch")


class Publisher:
    """Appends saved findings to the ledger (the server's single writer)."""

    def __init__(self, store: FindingStore, writer: LedgerWriter) -> None:
        self.store, self._writer = store, writer

    def step(self) -> int:
        findings = self.store.unpublished(PUBLISH)
        if not findings:
            return 0
        records = [parse_record(f.record(), default_account=f.account,
                                default_region=f.region) for f in findings]
        self._writer.submit(records).result()  # durable before it is marked published
        self.store.mark_published([f.id for f in findings])
        return len(findings)

    def run(self, stop: threading.Event) -> None:
        _loop(self.step, stop, "appending findings to the ledger")


def _loop(step: Callable[[], int], stop: threading.Event, what: str) -> None:
    while not stop.is_set():
        try:
            busy = step()
        except Exception:  # a full ledger queue or a bad batch must not end detection
            log.exception("detect: %s failed; retrying", what)
            stop.wait(1.0)
            continue
        if not busy:
            stop.wait(IDLE)


def run_detector_process(data_dir: str, folders: list[str]) -> None:
    """The detector's own process (spawned by the service): load the rules, follow the
    ledger until terminated, or until its parent dies (a killed server leaves no orphan
    evaluating beside the next one's detector)."""
    rules = load_rules(folders)
    # Each batch parses thousands of acyclic dicts: as in the indexer's process, the
    # default gen-0 threshold would run the cyclic collector many times per batch.
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    store = SqliteFindingStore(Path(data_dir))
    detector = Detector(Path(data_dir), SystemClock(), rules, store)
    parent, stop = os.getppid(), threading.Event()

    def watch() -> None:
        while not stop.wait(0.5):
            if os.getppid() != parent:
                stop.set()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    try:
        detector.run(stop)
    finally:
        detector.close()
        store.close()


def _matches(rules: RuleSet, rows: list[BodyRow] | list[LedgerRow], now: float
             ) -> Iterator[Finding]:
    for row in rows:
        if row.body is None:  # expired by retention before it was evaluated
            continue
        if not rules.might_match(row.body):  # most records: no rule names their eventName
            continue
        record = orjson.loads(row.body)
        if is_finding(record):
            continue
        try:
            matched = rules.match(record)
        except Exception:  # one odd record must not stop detection for every later one
            log.exception("detect: evaluating ledger seq %d failed; it is skipped", row.seq)
            continue
        for rule in matched:
            yield finding_of(rule, record, row.account, row.region, now)


@dataclass(frozen=True)
class Replay:
    findings: list[Finding]
    next_seq: int | None  # where the next page starts; None once the range is done
    end: int  # the ledger's head when the replay began (later events are not replayed)
    scanned: int


def replay(ledger: LedgerReader, rules: RuleSet, accounts: tuple[str, ...] | None,
           start_time: int | None, end_time: int | None, start: int, end: int | None,
           limit: int, now: float, max_findings: int = 1000) -> Replay:
    """One page of a replay of stored history: up to `limit` ledger rows from `start`,
    keeping those of `accounts` (None: all) with start_time <= eventTime < end_time. A
    page ends early, after the row that brought it to `max_findings` findings."""
    head, rows = ledger_rows(ledger, start, limit, end)
    end = head if end is None else end
    findings: list[Finding] = []
    scanned = 0
    for row in rows:
        scanned += 1
        if (accounts is None or row.account in accounts) \
                and (start_time is None or row.event_time >= start_time) \
                and (end_time is None or row.event_time < end_time):
            findings += _matches(rules, [row], now)
        if len(findings) >= max_findings:
            break
    last = rows[scanned - 1].seq + 1 if scanned else end
    done = last >= end or (scanned == len(rows) and len(rows) < limit)
    return Replay(findings, None if done else last, end, scanned)
