"""The Insights engine: a ledger reader that counts, detects, and writes Insights back.

    ledger ──(cursor)──▶ per-minute counters (InsightsStore) ──▶ SeriesDetector per series
       ▲                                                             │ Start / End
       └──────────── LedgerWriter.submit(Insights records) ◀─────────┘

Counting: write management calls per (account, region, eventSource, eventName) for
ApiCallRateInsight; calls with an errorCode, read or write, per errorCode for
ApiErrorRateInsight. Insights records themselves (category INSIGHT) and data events are
never counted.

When a minute is decided: on live traffic (the partition saw an event in the last hour)
once the wall clock is LATENESS seconds past the minute's end; on imported history once
an event of a later minute arrives. Records are submitted and acknowledged by the ledger
before the detector state is committed: a crash in between re-runs the same minutes,
re-derives the same eventIDs, and the ledger drops the duplicates.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from opentrail.clock import Clock
from opentrail.events import Category, Record, parse_record
from opentrail.insights._detector import Params, SeriesDetector, Transition
from opentrail.insights._record import Attribution, event_id, insight_record
from opentrail.insights._store import (
    CALL_RATE,
    ERROR_RATE,
    CounterStore,
    InsightsStore,
    SeriesKey,
    Tally,
)
from opentrail.ledger import LedgerReader, LedgerRow, LedgerWriter, open_ledger_reader

__all__ = ["BATCH", "Gate", "InsightsEngine", "is_write", "start_engine_thread"]

log = logging.getLogger(__name__)

BATCH = 5_000
LATENESS = 30  # seconds an event may trail the minute it belongs to, on live traffic
DETECT_EVERY = 10.0  # seconds between detections while the counter is catching up
LIVE = 60  # minutes: a partition whose latest event is this recent is live
READ_PREFIXES = ("Get", "List", "Describe", "Lookup", "Head", "Search", "BatchGet")

Gate = Callable[[str, str, str], bool]  # (account, region, insight type) -> write records?


def is_write(obj: dict[str, Any]) -> bool:
    read_only = obj.get("readOnly")
    if isinstance(read_only, bool):
        return not read_only
    return not str(obj.get("eventName", "")).startswith(READ_PREFIXES)


class InsightsEngine:
    def __init__(self, data_dir: Path, clock: Clock, writer: LedgerWriter, gate: Gate,
                 params: Params | None = None, ledger: LedgerReader | None = None,
                 store: InsightsStore | None = None) -> None:
        """`store`: where the state lives (a backend's `insights_store()`); by default
        DATA_DIR/insights.db."""
        self.store: InsightsStore = store if store is not None else CounterStore(data_dir)
        self._owns_ledger = ledger is None
        self._ledger = ledger if ledger is not None else open_ledger_reader(data_dir)
        self._clock, self._writer, self._gate = clock, writer, gate
        self._params = params or Params()
        self.cursor = self.store.cursor()
        self.analysed = 0  # events counted since start (for throughput reports)
        self._last_detect = 0.0
        self._started: set[str] = set()

    def close(self) -> None:
        self.store.close()
        if self._owns_ledger:
            self._ledger.close()

    # -- counting ------------------------------------------------------------------------

    def count(self) -> int:
        """Count the next batch of management events; returns how many were read."""
        rows = self._ledger.rows(self.cursor, BATCH, category=int(Category.MANAGEMENT))
        if not rows:
            return 0
        end = rows[-1].seq + 1
        if not self.store.add(self._tally(rows), self.cursor, end):
            # Another node counted from this cursor (it holds the role now, or this one
            # lost it without noticing yet): nothing was added; go on from the stored one.
            log.info("insights: the cursor moved from %d elsewhere; resuming", self.cursor)
            self.cursor = self.store.cursor()
            return 0
        self.cursor = end
        self.analysed += len(rows)
        return len(rows)

    def _tally(self, rows: list[LedgerRow]) -> Tally:
        tally = Tally()
        spans = tally.spans
        for row in rows:
            account, region, event_time, body = row.account, row.region, row.event_time, row.body
            if body is None:
                continue
            obj = orjson.loads(body)
            source, name = obj.get("eventSource"), obj.get("eventName")
            if not isinstance(source, str) or not isinstance(name, str):
                continue
            minute = event_time // 60
            lo, hi = spans.get((account, region), (minute, minute))
            spans[(account, region)] = (min(lo, minute), max(hi, minute))
            identity = obj.get("userIdentity")
            arn = identity.get("arn") if isinstance(identity, dict) else None
            who = (str(arn) if arn else "null", str(obj.get("userAgent") or "null"))
            error = obj.get("errorCode")
            if is_write(obj):
                sid = tally.number((account, region, source, name, CALL_RATE, ""))
                _bump(tally, sid, minute, who, str(error) if error else "null")
            if error:
                sid = tally.number((account, region, source, name, ERROR_RATE, str(error)))
                _bump(tally, sid, minute, who, None)
        return tally

    # -- detecting -----------------------------------------------------------------------

    def detect(self) -> int:
        """Decide every closed minute of every partition; returns records written."""
        written = 0
        now = self._clock.now()
        clock_target = int((now - LATENESS) // 60)
        for part in self.store.partitions():
            live = int(now // 60) - part.latest <= LIVE
            target = clock_target if live else part.latest
            # Where no trail wants Insights, only count: deciding costs most of the CPU,
            # and once Insights are enabled the walk resumes from the last decided minute.
            if target > part.decided and self._wanted(part.account, part.region):
                written += self._decide(part.account, part.region, part.first,
                                        part.decided, target)
        return written

    def _wanted(self, account: str, region: str) -> bool:
        return any(self._gate(account, region, kind) for kind in (CALL_RATE, ERROR_RATE))

    def _decide(self, account: str, region: str, first: int, decided: int,
                target: int) -> int:
        states: list[tuple[int, dict[str, Any]]] = []
        records: list[Record] = []
        self._started = set()  # Start records of this batch, not yet in the ledger
        for sid, key, state in self.store.live_series(account, region, decided - 10080):
            detector = (SeriesDetector.from_state(state, self._params) if state else
                        SeriesDetector(first, max(decided, first), self._params,
                                       fresh_since=max(decided, first)))
            for transition in detector.advance(functools.partial(self.store.counts, sid),
                                               target):
                record = self._record(sid, key, transition)
                if record is not None:
                    records.append(parse_record(record, default_account=account,
                                                default_region=region))
            states.append((sid, detector.to_state()))
        if records:
            self._writer.submit(records).result()
        if not self.store.save(states, account, region, decided, target):
            log.info("insights: %s %s was decided elsewhere meanwhile (or counted "
                     "events older than it had decided); this pass was not stored",
                     account, region)
        return len(records)

    def _record(self, sid: int, key: SeriesKey, transition: Transition) -> dict[str, Any] | None:
        """The record, if it is to be written: a Start where Insights are enabled; an End
        only where its Start was written (so no End ever comes without its Start)."""
        episode = transition.episode
        start_id = event_id(key, episode.start, "Start")
        if transition.state == "Start":
            if not self._gate(key.account, key.region, key.type):
                return None
            self._started.add(start_id)
        elif start_id not in self._started and self._ledger.event(
                key.account, start_id) is None:
            return None
        return insight_record(key, transition.state, episode, self._attribution(sid, key,
                                                                                transition))

    def _attribution(self, sid: int, key: SeriesKey, transition: Transition) -> Attribution:
        episode = transition.episode
        hi = episode.end if episode.end is not None else episode.decided + 1
        base_lo = episode.start - episode.baseline_minutes
        attrs = ("userIdentityArn", "userAgent") + (("errorCode",) if key.type == CALL_RATE
                                                    else ())
        return {attr: (self.store.attribution(sid, attr, episode.start, hi),
                       self.store.attribution(sid, attr, base_lo, episode.start))
                for attr in attrs}

    # -- running -------------------------------------------------------------------------

    def step(self) -> int:
        """Count a batch; detect once caught up (or every DETECT_EVERY s while catching up,
        so a long import does not re-walk its history after every batch)."""
        counted = self.count()
        now = time.monotonic()
        if counted < BATCH or now - self._last_detect > DETECT_EVERY:
            self._last_detect = now
            self.detect()
        return counted

    def run(self, stop: Callable[[], bool], idle: float = 0.05) -> None:
        """Count and detect until `stop()`, from the stored cursor (where this node, or
        the node that held the role before it, stopped)."""
        resume = True
        while not stop():
            try:
                if resume:  # inside the try: the database may be away for a moment
                    self.cursor, resume = self.store.cursor(), False
                busy = self.step()
            except Exception:  # a bad batch must not stop Insights for good
                log.exception("insights step failed; retrying")
                busy = 0
                time.sleep(1.0)
            if not busy:
                time.sleep(idle)


def _bump(tally: Tally, sid: int, minute: int, who: tuple[str, str],
          error: str | None) -> None:
    """One call: its minute's count, and its attribution values (errorCode only for
    call-rate series; an error-rate series is one errorCode already)."""
    counts, attrs = tally.counts, tally.attributions
    counts[(sid, minute)] = counts.get((sid, minute), 0) + 1
    for key in ((sid, "userIdentityArn", who[0], minute), (sid, "userAgent", who[1], minute),
                *(((sid, "errorCode", error, minute),) if error is not None else ())):
        attrs[key] = attrs.get(key, 0) + 1


def start_engine_thread(engine: InsightsEngine) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=engine.run, args=(stop.is_set,), name="insights",
                              daemon=True)
    thread.start()
    return thread, stop
