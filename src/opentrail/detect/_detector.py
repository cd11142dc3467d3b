"""Sigma rules over the ledger: a follower evaluating each new record once, and a replay
of stored history through the same rules.

    ledger ──ledger_rows(cursor)──▶ RuleSet.match ──▶ findings ──▶ LedgerWriter.submit
                                                                   (acknowledged)
                                                 FindingStore.save(findings, cursor) ◀┘

Findings are appended to the ledger first and the store (with the cursor) is committed
after: a crash in between re-evaluates the same rows, re-derives the same finding
eventIDs, and the ledger and the store both keep one of each. A finding is never
evaluated (`is_finding`), so rules cannot feed on their own output. The first start
begins at the ledger's head (history is for `opentrail detect --rules`); later starts
resume from the cursor, so events stored while the server was down are still evaluated.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from opentrail.clock import Clock
from opentrail.detect._feed import ledger_rows, open_ledger
from opentrail.detect._finding import Finding, finding_of, is_finding
from opentrail.detect._rules import RuleSet
from opentrail.detect._store import FindingStore
from opentrail.events import parse_record
from opentrail.ledger import LedgerRow, LedgerWriter

__all__ = ["BATCH", "Detector", "Replay", "replay"]

log = logging.getLogger(__name__)

BATCH = 2_000
IDLE = 0.05  # seconds between polls once caught up


class Detector:
    def __init__(self, data_dir: Path, clock: Clock, writer: LedgerWriter, rules: RuleSet,
                 store: FindingStore) -> None:
        self.rules, self.store = rules, store
        self._clock, self._writer = clock, writer
        self._ledger = open_ledger(data_dir)
        cursor = store.cursor()
        if cursor is None:  # first start: from now on (history: `opentrail detect`)
            cursor, _ = ledger_rows(self._ledger, 0, 0)
            store.save([], cursor)
        self.cursor = cursor
        self.evaluated = 0  # records evaluated since start (for throughput reports)
        self.found = 0  # findings made since start

    def close(self) -> None:
        self._ledger.close()

    def step(self) -> int:
        """Evaluate the next batch; returns how many ledger rows it covered."""
        _, rows = ledger_rows(self._ledger, self.cursor, BATCH)
        if not rows:
            return 0
        findings = list(_matches(self.rules, rows, self._clock.now()))
        if findings:
            records = [parse_record(f.record(), default_account=f.account,
                                    default_region=f.region) for f in findings]
            self._writer.submit(records).result()  # durable before the cursor moves
        cursor = rows[-1].seq + 1
        self.store.save(findings, cursor)
        self.cursor = cursor
        self.evaluated += len(rows)
        self.found += len(findings)
        return len(rows)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                busy = self.step()
            except Exception:  # a full ledger queue or a bad batch must not end detection
                log.exception("detect: evaluating a batch failed; retrying")
                stop.wait(1.0)
                continue
            if not busy:
                stop.wait(IDLE)


def _matches(rules: RuleSet, rows: list[LedgerRow], now: float) -> Iterator[Finding]:
    for row in rows:
        if row.body is None:  # expired by retention before it was evaluated
            continue
        record = orjson.loads(row.body)
        if is_finding(record):
            continue
        for rule in rules.match(record):
            yield finding_of(rule, record, row.account, row.region, now)


@dataclass(frozen=True)
class Replay:
    findings: list[Finding]
    next_seq: int | None  # where the next page starts; None once the range is done
    end: int  # the ledger's head when the replay began (later events are not replayed)
    scanned: int


def replay(ledger: sqlite3.Connection, rules: RuleSet, accounts: tuple[str, ...] | None,
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
