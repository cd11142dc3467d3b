"""The rule engine: a ledger follower that envelopes each new record once, matches it
against its account's enabled rules in its region, and puts one delivery per (match,
target) in the outbox.

    ledger ──ledger_rows(cursor)──▶ envelope ──▶ matches(rule) ──▶ outbox (+ cursor, one txn)

Invariants:
* The cursor and the deliveries of the rows it passed commit together (`RuleStore.advance`),
  so after a crash every match is enqueued exactly once. The cursor moves only from the
  value this engine last read or wrote (compare-and-set): an engine that lost the `rules`
  role without noticing (PostgreSQL) has its batch refused, takes the stored cursor, and
  enqueues nothing twice; each `run` starts from the stored cursor, so a new holder goes
  on where the last one stopped. A cursor that passed only rows
  matching nothing is written at most once per CURSOR_EVERY seconds (after a crash those
  rows are matched again, which enqueues nothing unless a rule was added meanwhile).
* The engine starts at the ledger's head the first time it runs (rules see events
  acknowledged from then on, as EventBridge does), and never reads a body while no rule
  has a target.
* With the server's default indexer="process" the engine and the sender run in their own
  process (`run_until_orphaned`, the second core, as the Sigma detector), which exits with
  the server; the engine sees rule changes made through the API by `RuleStore.version` (a
  row in rules.db).
* Rule state: ENABLED skips read-only management API calls (Describe*/Get*/List*, readOnly);
  ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS includes them; DISABLED matches nothing.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from opentrail.clock import Clock
from opentrail.ledger import BodyRow, LedgerReader, open_ledger_reader
from opentrail.rules._envelope import SIGMA_DETAIL_TYPE, SIGMA_EVENT_NAME, envelope
from opentrail.rules._match import matches
from opentrail.rules._model import Delivery, Rule
from opentrail.rules._pattern import Leaf, Node, Pattern, compile_pattern
from opentrail.rules._store import RuleStore

__all__ = ["BATCH", "RuleEngine", "begin_at_head", "ledger_rows", "run_until_orphaned"]

log = logging.getLogger(__name__)

BATCH = 2000
CURSOR_EVERY = 1.0  # seconds a cursor with nothing enqueued may wait to be written
POLL = 0.05  # seconds between looks at an idle ledger (ack -> delivery latency)
READ_PREFIXES = ("Describe", "Get", "List")


def ledger_rows(ledger: LedgerReader, start: int, limit: int) -> tuple[list[BodyRow], int]:
    """The engine's one access to the ledger: up to `limit` rows from `start` (seq,
    account, region and body only), and the ledger's head (the seq the next event gets)."""
    head = ledger.size()
    rows = ledger.bodies_from(start, limit) if limit > 0 and start < head else []
    return rows, head


def begin_at_head(data_dir: Path, store: RuleStore,
                  reader: Callable[[], LedgerReader] | None = None) -> None:
    """On the very first start, put the engine's cursor at the ledger's head (rules see
    events acknowledged from now on), before its process is up. `reader`: opens the
    ledger (the SQLite one in `data_dir` by default)."""
    if store.cursor_or_none() is not None:
        return
    ledger = (reader or (lambda: open_ledger_reader(data_dir)))()
    try:
        _, head = ledger_rows(ledger, 0, 0)
        store.advance(None, head, [])
    finally:
        ledger.close()


def run_until_orphaned(run: Callable[[threading.Event], None]) -> None:
    """The body of the rules' own process (spawned by the service): `run(stop)` until the
    process is terminated, or until its parent dies (a killed server leaves no orphan
    matching or sending beside the next one's)."""
    gc.freeze()  # as the detector: batches parse many acyclic dicts
    gc.set_threshold(100_000, 50, 100)
    parent, stop = os.getppid(), threading.Event()

    def watch() -> None:
        while not stop.wait(0.5):
            if os.getppid() != parent:
                stop.set()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    run(stop)


class Armed(NamedTuple):
    rule: Rule
    pattern: Pattern
    targets: list[dict[str, Any]]


EVENT_NAME_KEY = b'"eventName":"'


class Armory:
    """An account-region's armed rules, indexed by the eventNames a rule requires, so a
    record whose eventName no rule names is never parsed. The index only prunes: the full
    match still decides (a record's bytes are canonical JSON, so its eventName appears as
    `"eventName":"..."`; one with an escape in it is always parsed). The names are found
    with `bytes.find` (in C; a regular expression costs several times more per body)."""

    def __init__(self) -> None:
        self.by_name: dict[bytes, list[Armed]] = {}  # the name as the bytes hold it
        self.always: list[Armed] = []

    def add(self, arm: Armed) -> None:
        names = _required_names(arm.pattern)
        if names is None:
            self.always.append(arm)
        for name in names or ():
            self.by_name.setdefault(name.encode(), []).append(arm)

    def candidates(self, body: bytes) -> list[Armed]:
        if not self.by_name:
            return self.always
        hits: list[list[Armed]] = []
        at = body.find(EVENT_NAME_KEY)
        while at >= 0:
            start = at + len(EVENT_NAME_KEY)
            end = body.find(b'"', start)
            if end < 0 or body.find(b"\\", start, end) >= 0:  # an escape: no cheap answer
                hits = list(self.by_name.values())
                break
            arms = self.by_name.get(body[start:end])
            if arms:
                hits.append(arms)
            at = body.find(EVENT_NAME_KEY, end)
        if not hits:
            return self.always
        if len(hits) == 1 and not self.always:
            return hits[0]
        unique = {id(a): a for arms in [self.always, *hits] for a in arms}
        return list(unique.values())


def _required_names(pattern: Pattern) -> set[str] | None:
    """The eventNames a pattern requires (`detail.eventName` a leaf of exact strings
    only; or `detail-type` "Sigma Rule Match" only, which findings alone have, and their
    eventName is SigmaRuleMatch), or None when it requires none."""
    fields = dict(pattern.root.fields)
    kind = _exact_strings(fields.get("detail-type"))
    if kind == {SIGMA_DETAIL_TYPE}:
        return {SIGMA_EVENT_NAME}
    detail = fields.get("detail")
    if not isinstance(detail, Node):
        return None
    return _exact_strings(dict(detail.fields).get("eventName"))


def _exact_strings(leaf: object) -> set[str] | None:
    """A leaf's values when it matches only exact strings, else None."""
    if not isinstance(leaf, Leaf) or leaf.tests or leaf.absent or leaf.numbers \
            or leaf.literals or not leaf.strings:
        return None
    return set(leaf.strings)


class RuleEngine:
    def __init__(self, data_dir: Path, clock: Clock, store: RuleStore,
                 reader: Callable[[], LedgerReader] | None = None,
                 enqueued: Callable[[], None] | None = None) -> None:
        self._clock, self._store = clock, store
        self._ledger = (reader or (lambda: open_ledger_reader(data_dir)))()
        self._armed: dict[tuple[str, str], Armory] = {}
        self._version = -1
        self.cursor: int | None = store.cursor_or_none()
        self.matched = 0  # deliveries enqueued since start
        self._saved = float("-inf")  # clock time the cursor was last written
        self._saved_cursor = self.cursor
        self._enqueued = enqueued  # told when deliveries were added (wakes the sender)

    def close(self) -> None:
        self._ledger.close()

    def run(self, stop: threading.Event) -> None:
        """Match until `stop`, from the stored cursor (another node's engine may have
        moved it since this one last ran)."""
        resynced = False
        while not stop.is_set():
            try:
                if not resynced:
                    self.resume()
                    resynced = True
                busy = self.step()
            except Exception:  # a bad batch must not end rule matching for good
                log.exception("rule engine: a batch failed; retrying")
                stop.wait(1.0)
                continue
            if not busy:
                stop.wait(POLL)

    def step(self) -> int:
        """Match the next batch; returns the rows passed."""
        armed = self._arm()
        if self.cursor is None:  # first run: start at the head
            _, head = ledger_rows(self._ledger, 0, 0)
            if self._store.advance(None, head, []):
                self.cursor = self._saved_cursor = head
            else:  # another engine began first
                self.resume()
            return 0
        if not armed:  # nothing can match: skip to the head without reading a body
            _, head = ledger_rows(self._ledger, self.cursor, 0)
            self.cursor = max(self.cursor, head)
            self._save([])
            return 0
        rows, _ = ledger_rows(self._ledger, self.cursor, BATCH)
        if not rows:
            return 0
        deliveries = self._match(rows, armed)
        self.cursor = rows[-1].seq + 1
        if not self._save(deliveries):
            return 0
        if deliveries and self._enqueued is not None:
            self._enqueued()
        self.matched += len(deliveries)
        return len(rows)

    def _save(self, deliveries: list[Delivery]) -> bool:
        """Deliveries and the cursor in one transaction; a cursor alone at most once per
        CURSOR_EVERY seconds. False when another engine moved the stored cursor: nothing
        was written, and this one goes on from the stored cursor."""
        now = self._clock.now()
        if deliveries or (now - self._saved >= CURSOR_EVERY
                          and self.cursor != self._saved_cursor):
            assert self.cursor is not None
            if not self._store.advance(self._saved_cursor, self.cursor, deliveries):
                log.warning("rule engine: another engine moved the cursor (from %s); "
                            "going on from the stored one", self._saved_cursor)
                self.resume()
                return False
            self._saved, self._saved_cursor = now, self.cursor
        return True

    def resume(self) -> None:
        """Take the stored cursor as this engine's (another engine may have moved it)."""
        self.cursor = self._saved_cursor = self._store.cursor_or_none()
        self._saved = float("-inf")

    def _arm(self) -> dict[tuple[str, str], Armory]:
        """Enabled rules with targets, by (account, region); rebuilt after any change."""
        version = self._store.version
        if version != self._version:
            targets = self._store.all_targets()
            armed: dict[tuple[str, str], Armory] = {}
            for rule in self._store.all_rules():
                wanted = targets.get((rule.account, rule.region, rule.name))
                if rule.state == "DISABLED" or not wanted or not rule.pattern:
                    continue
                armed.setdefault((rule.account, rule.region), Armory()).add(
                    Armed(rule, compile_pattern(rule.pattern), wanted))
            self._armed, self._version = armed, version
        return self._armed

    def _match(self, rows: list[BodyRow], armed: dict[tuple[str, str], Armory]
               ) -> list[Delivery]:
        now = self._clock.now()
        out: list[Delivery] = []
        for row in rows:
            armory = armed.get((row.account, row.region))
            if armory is None or row.body is None:
                continue
            candidates = armory.candidates(row.body)
            if not candidates:
                continue
            record = orjson.loads(row.body)
            event = envelope(record, account=row.account, region=row.region)
            read_only = _read_only(record)
            for arm in candidates:
                if read_only and arm.rule.state == "ENABLED":
                    continue
                if matches(arm.pattern, event):
                    out.extend(Delivery(0, row.account, row.region, arm.rule.name, target,
                                        event, now, next_try=now) for target in arm.targets)
        return out


def _read_only(record: dict[str, Any]) -> bool:
    """A read-only management API call (what an ENABLED rule does not see)."""
    if record.get("eventType") != "AwsApiCall" or record.get("eventCategory", "Management") \
            != "Management":
        return False
    flag = record.get("readOnly")
    if isinstance(flag, bool):
        return flag
    name = record.get("eventName")
    return isinstance(name, str) and name.startswith(READ_PREFIXES)
