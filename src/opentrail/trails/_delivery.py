"""Trail delivery: a follower of the ledger that writes CloudTrail log files and digests.

For each trail, a durable cursor (`DeliveryRows`, trails/_delivery_rows.py: DATA_DIR/
delivery.db, or tables every node shares) says how far delivery got: as
for every ledger follower, the next ledger seq to consider (the `cursors.seq` column
holds the last one considered, cursor - 1, as it always did). Every delivery interval,
the events from the cursor on that the trail selects become one gzip log file per region
(spec 2), and, with log file validation, every digest interval one signed digest per
region (spec 3). An organization trail does this
for every account of the organization: files under AWSLogs/o-ID/ACCOUNT/, and one digest
chain per account and region (spec 2.1, 2.3), each chain keyed "ACCOUNT/REGION" in the
`chains` and `undigested` tables (a plain region for other trails).

No gaps, no duplicates, across crashes: the finished objects (key, exact bytes, metadata)
are written to an outbox in the same transaction that moves the cursor. Uploading then
only drains the outbox, in order; an object leaves the outbox only after the destination
confirmed it. After a crash the outbox is uploaded again with the same key and bytes,
which overwrites, never duplicates. A failing destination keeps the outbox (and the
backlog in the ledger) until it comes back, retrying with exponential backoff.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import math
import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from opentrail.clock import Clock
from opentrail.events import Category
from opentrail.ledger import LedgerReader, LedgerRow, open_ledger_reader
from opentrail.storage import Storage, StorageError, Written
from opentrail.trails._delivery_rows import DeliveryRows, DeliveryTx, StoredCursor
from opentrail.trails._digest import ChainLink, LogFile, log_prefix, make_digest
from opentrail.trails._model import Trail, TrailStatus
from opentrail.trails._record import DeliveredObject
from opentrail.trails._signing import SigningKeys

__all__ = ["DELIVERY_FILE", "Delivery", "DeliveryMoved", "TrailSource"]

log = logging.getLogger(__name__)

DELIVERY_FILE = "delivery.db"
BATCH = 20_000               # ledger rows read per query
MAX_RECORDS_PER_FILE = 10_000  # keeps a backlog's files far below S3's 50 MB
MAX_BACKOFF = 300.0
GZIP_LEVEL = 3  # 2.5x faster than 6 for ~15% larger files: delivery must keep up with ingest
ALPHANUMERIC = string.ascii_letters + string.digits


Selector = Callable[[Trail, dict[str, Any], Category], bool]


class TrailSource(Protocol):
    """What delivery needs from trail management (TrailStore)."""

    def list(self, account: str | None = None) -> list[Trail]: ...

    def set_status(self, arn: str, **fields: Any) -> TrailStatus: ...


class DeliveryMoved(Exception):
    """Another node moved a trail's cursor under this one (it lost the role): this
    node's transaction was rolled back."""


class _Cursor(NamedTuple):
    """A trail's delivery position."""

    created: float  # the trail's creation time it belongs to
    next_seq: int  # the cursor: the next ledger seq to consider
    period: float | None  # start_logging_time of the logging period being delivered
    last_run: float  # delivery time of the last delivery


class _ChainHead(NamedTuple):
    """An open digest chain of one region: its next window's start, its last digest."""

    region: str
    start: float
    prev: ChainLink | None


@dataclass(frozen=True)
class _NewFile:
    kind: str                   # "CloudTrail" or "CloudTrail-Insight"
    chain: str                  # the digest chain that lists it: region, or ACCOUNT/REGION
    key: str
    body: bytes
    info: LogFile
    first_seq: int
    last_seq: int


def _unique() -> str:
    return "".join(secrets.choice(ALPHANUMERIC) for _ in range(16))


def _window(status: TrailStatus) -> tuple[int, float] | None:
    """The ingest times (epoch seconds) the trail logs: its current or last period."""
    if status.start_logging_time is None:
        return None
    start = int(status.start_logging_time)
    if status.is_logging:
        return start, math.inf
    stop = status.stop_logging_time
    if stop is None or stop < status.start_logging_time:
        return None
    return start, stop


def _chain(trail: Trail, account: str, region: str, organization: str | None) -> str:
    """The digest chain of (account, region): per account for organization trails."""
    return f"{account}/{region}" if organization else region


def _owner(trail: Trail, chain: str) -> tuple[str, str]:
    """(account, region) of a chain key."""
    account, _, region = chain.rpartition("/")
    return account or trail.account, region


def _log_file(trail: Trail, kind: str, where: tuple[str, str], rows: list[LedgerRow], now: float,
              organization: str | None) -> _NewFile:
    account, region = where
    raw = b'{"Records":[' + b",".join(r.body or b"" for r in rows) + b"]}"
    stamp = time.strftime("%Y%m%dT%H%MZ", time.gmtime(now))
    name = f"{account}_{kind}_{region}_{stamp}_{_unique()}.json.gz"
    key = log_prefix(trail, kind, region, now, account, organization) + name
    times = [r.event_time for r in rows]
    info = LogFile(trail.s3_bucket_name, key, hashlib.sha256(raw).hexdigest(),
                   min(times), max(times))
    return _NewFile(kind, _chain(trail, account, region, organization), key,
                    gzip.compress(raw, compresslevel=GZIP_LEVEL, mtime=0), info,
                    rows[0].seq, rows[-1].seq)


def _insight_selected(trail: Trail, body: bytes) -> bool:
    """Insights records go to CloudTrail-Insight/ files of trails with Insights selectors
    of their type (spec 2.3)."""
    details = json.loads(body).get("insightDetails")
    kind = details.get("insightType") if isinstance(details, dict) else None
    return any(s.get("InsightType") == kind for s in trail.insight_selectors)


def checkpoint_key(digest_key: str) -> str:
    """Where the ledger checkpoint published with a digest goes: beside the digest chain,
    under its own folder so that validators listing CloudTrail-Digest/ never see it."""
    head, tail = digest_key.split("/CloudTrail-Digest/", 1)
    return f"{head}/OpenTrail-Checkpoint/{tail.removesuffix('.json.gz')}.checkpoint.txt"


class Delivery:
    """Delivers every trail of `trails`; `run_once()` is one pass, `run()` the thread."""

    def __init__(self, data_dir: Path, clock: Clock, trails: TrailSource, storage: Storage,
                 keys: SigningKeys, selector: Selector, *, delivery_interval: float = 300,
                 digest_interval: float = 3600,
                 checkpoint: Callable[[], str] | None = None,
                 organization_id: str | None = None,
                 ledger: LedgerReader | None = None,
                 notify: Callable[[Trail, str, str], None] | None = None,
                 rows: DeliveryRows | None = None) -> None:
        """`rows`: where the delivery state is kept (DATA_DIR/delivery.db by default);
        this delivery closes it."""
        if delivery_interval < 1:
            raise ValueError("delivery_interval must be at least 1 second.")
        if digest_interval < 1:
            raise ValueError("digest_interval must be at least 1 second.")
        self.data_dir = data_dir
        self.clock = clock
        self.trails = trails
        self.storage = storage
        self.keys = keys
        self.selector = selector
        self.delivery_interval = delivery_interval
        self.digest_interval = digest_interval
        self.checkpoint = checkpoint  # signed note of the ledger's tree, published per digest
        self.organization_id = organization_id  # o-...: where organization trails deliver
        self.notify = notify  # (trail, bucket, key) of each log file put: SnsTopicName
        if rows is None:
            from opentrail.backends.sqlite import SqliteDeliveryRows

            rows = SqliteDeliveryRows(data_dir)
        self._rows: DeliveryRows = rows
        self._ledger: LedgerReader | None = ledger
        self._owns_ledger = ledger is None
        self._retry: dict[str, tuple[int, float]] = {}  # arn -> (failures, retry at)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._rows.close()
            if self._ledger is not None and self._owns_ledger:
                self._ledger.close()

    def delivered_objects(self, arn: str | None = None, start: float | None = None,
                          end: float | None = None) -> list[DeliveredObject]:
        """The delivery record (trails/_record.py): what went where, version, lock."""
        with self._rows.read() as tx:
            return tx.delivered(arn, start, end)

    def run(self, stop: threading.Event, poll: float = 1.0) -> None:
        """The delivery thread: a pass every `poll` seconds until `stop` is set."""
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("trail delivery pass failed; retrying")
            stop.wait(min(poll, self.delivery_interval))

    def run_once(self) -> None:
        """One pass over every trail at the clock's current time."""
        with self._lock:
            trails = self.trails.list(None)
            # Read after the trails: a stop seen in this pass is never later than `now`,
            # so a final digest is always dated at or after its StopLoggingTime.
            now = self.clock.now()
            self._forget_deleted(trails)
            for trail in trails:
                try:
                    self._trail(trail, now)
                except Exception:  # one trail's fault must not stop the others
                    log.exception("trail %s: delivery pass failed", trail.arn)

    # -- per trail ---------------------------------------------------------------------

    def _forget_deleted(self, trails: list[Trail]) -> None:
        live = {(t.arn, t.created) for t in trails}
        with self._rows.read() as tx:
            known = tx.known()
        for arn, created in known:
            if (arn, created) not in live:
                with self._rows.write() as tx:
                    tx.forget(arn)

    def _trail(self, trail: Trail, now: float) -> None:
        if now < self._retry.get(trail.arn, (0, 0.0))[1] or not self._flush(trail, now):
            return
        window = _window(trail.status)
        if window is None:
            return
        last_run = self._prepare(trail, window, now)
        stopped = not trail.status.is_logging
        # A stopped trail delivers what is left of its period before its final digest,
        # even when a pass that began before the stop already moved last_run past it.
        due = now - last_run >= self.delivery_interval or stopped
        if due and not self._deliver(trail, window, now):
            return
        # Stopped: every open chain gets its final digest (also after a failed attempt).
        self._digests(trail, now, final=stopped)
        self._flush(trail, now)

    def _prepare(self, trail: Trail, window: tuple[int, float], now: float) -> float:
        """The trail's cursor, (re)started at the first event of a new logging period."""
        cursor = self._cursor(trail.arn)
        if cursor is not None and cursor.created == trail.created and cursor.period == \
                trail.status.start_logging_time:
            return cursor.last_run
        next_seq = self._reader().first_ingested_at(window[0])
        started = min(now, trail.status.start_logging_time or now)  # the interval's origin
        if cursor is not None and cursor.created == trail.created:
            next_seq = max(next_seq, cursor.next_seq)
        with self._rows.write() as tx:
            if cursor is not None and cursor.created != trail.created:
                tx.forget(trail.arn)
            # A new logging period starts a new digest chain (spec 3.1).
            tx.drop_chains(trail.arn)
            tx.drop_undigested(trail.arn)
            tx.set_cursor(trail.arn, StoredCursor(trail.created, next_seq - 1,
                                                  trail.status.start_logging_time, started))
            if trail.log_file_validation_enabled and trail.status.is_logging:
                tx.open_chain(trail.arn, self._home_chain(trail), int(started))
        return started

    def _cursor(self, arn: str) -> _Cursor | None:
        with self._rows.read() as tx:
            row = tx.cursor(arn)
        return None if row is None else _Cursor(row.created, row.seq + 1, row.period,
                                                row.last_run)

    def _deliver(self, trail: Trail, window: tuple[int, float], now: float) -> bool:
        """Turn the events after the cursor into outbox files, a batch at a time."""
        while True:
            cursor = self._cursor(trail.arn)
            assert cursor is not None
            rows = self._reader().rows(cursor.next_seq, BATCH)
            files = self._files(trail, rows, window, now) if rows else []
            with self._rows.write() as tx:
                for f in files:
                    self._enqueue(tx, trail, f, now)
                moved_to = rows[-1].seq if rows else cursor.next_seq - 1
                if not tx.move(trail.arn, cursor.next_seq - 1, moved_to, now):
                    raise DeliveryMoved(f"trail {trail.arn}: another node moved its "
                                        "delivery cursor; nothing was delivered here")
            if not self._flush(trail, now):
                return False
            if len(rows) < BATCH:
                return True

    def _enqueue(self, tx: DeliveryTx, trail: Trail, f: _NewFile, now: float) -> None:
        tx.put_outbox(trail.arn, "log", trail.s3_bucket_name, f.key, f.body, "{}",
                      (f.first_seq, f.last_seq), now)
        # Digests list the CloudTrail/ log files (whether they cover Insights files is
        # undocumented, spec 7 question 2; awscli would not check them either way).
        if trail.log_file_validation_enabled and f.kind == "CloudTrail":
            tx.add_undigested(trail.arn, f.chain, json.dumps(f.info.__dict__))
            # A region's (or member account's) chain shares the home chain's windows.
            tx.open_chain(trail.arn, f.chain, int(now), like=self._home_chain(trail))

    def _files(self, trail: Trail, rows: list[LedgerRow], window: tuple[int, float],
               now: float) -> list[_NewFile]:
        groups: dict[tuple[str, str, str], list[LedgerRow]] = {}
        for row in rows:
            kind = self._kind(trail, row, window)
            if kind is not None:
                groups.setdefault((kind, row.account, row.region), []).append(row)
        org = self._organization(trail)
        return [_log_file(trail, kind, (account, region),
                          chunk[i:i + MAX_RECORDS_PER_FILE], now, org)
                for (kind, account, region), chunk in sorted(groups.items())
                for i in range(0, len(chunk), MAX_RECORDS_PER_FILE)]

    def _organization(self, trail: Trail) -> str | None:
        """The organization ID an organization trail delivers under (None otherwise, and
        when the server runs without an organization)."""
        return self.organization_id if trail.is_organization_trail else None

    def _home_chain(self, trail: Trail) -> str:
        return _chain(trail, trail.account, trail.home_region, self._organization(trail))

    def _kind(self, trail: Trail, row: LedgerRow, window: tuple[int, float]) -> str | None:
        """Which files of the trail the row goes to: CloudTrail/, CloudTrail-Insight/,
        or none."""
        account, region, category, ingested, body = (row.account, row.region, row.category,
                                                     row.ingested, row.body)
        mine = account == trail.account or self._organization(trail) is not None
        if body is None or not mine or not trail.covers_region(region):
            return None
        if not window[0] <= ingested <= window[1]:
            return None
        if category == Category.INSIGHT:
            return "CloudTrail-Insight" if _insight_selected(trail, body) else None
        if category == Category.INTERNAL:  # the server's health records stay in the ledger
            return None
        if (trail.event_selectors is None and trail.advanced_event_selectors is None
                and trail.include_global_service_events):
            # The default selector (all management events) needs no parsing: keeps up
            # with ingest without a JSON decode per event.
            wanted = category == Category.MANAGEMENT
        else:
            wanted = self.selector(trail, json.loads(body), Category(category))
        return "CloudTrail" if wanted else None

    # -- digests -----------------------------------------------------------------------

    def _digests(self, trail: Trail, now: float, *, final: bool) -> None:
        if not trail.log_file_validation_enabled:
            with self._rows.write() as tx:
                tx.drop_chains(trail.arn)
                tx.drop_undigested(trail.arn)
            return
        if trail.status.is_logging:
            with self._rows.write() as tx:
                tx.open_chain(trail.arn, self._home_chain(trail), int(now))
        org = self._organization(trail) is not None
        for chain, start, prev in self._chains(trail.arn):
            # UpdateTrail switched IsOrganizationTrail: the old layout's chain ends here.
            stale = ("/" in chain) != org
            if final or stale or now - start >= self.digest_interval:
                self._digest(trail, chain, (start, max(int(now), int(start) + 1)), prev)
            if stale:
                with self._rows.write() as tx:
                    tx.drop_chains(trail.arn, chain)
        if final:
            with self._rows.write() as tx:
                tx.drop_chains(trail.arn)

    def _chains(self, arn: str) -> list[_ChainHead]:
        with self._rows.read() as tx:
            rows = tx.chains(arn)
        return [_ChainHead(r, s, ChainLink(**json.loads(p)) if p else None)
                for r, s, p in rows]

    def _digest(self, trail: Trail, chain: str, window: tuple[float, float],
                prev: ChainLink | None) -> None:
        with self._rows.read() as tx:
            undigested = tx.undigested(trail.arn, chain)
        ids = [i for i, _ in undigested]
        files = [LogFile(**json.loads(f)) for _, f in undigested]
        account, region = _owner(trail, chain)
        org = self.organization_id if "/" in chain else None  # the chain's own layout
        digest = make_digest(trail, region, window, files, prev, self.keys.current(region),
                             account, org)
        note = self.checkpoint() if self.checkpoint is not None else None
        with self._rows.write() as tx:
            tx.put_outbox(trail.arn, "digest", trail.s3_bucket_name, digest.key, digest.body,
                          json.dumps(digest.metadata), None, window[1])
            if note is not None:
                tx.put_outbox(trail.arn, "checkpoint", trail.s3_bucket_name,
                              checkpoint_key(digest.key), note.encode(), "{}", None,
                              window[1])
            tx.drop_undigested(trail.arn, ids)
            tx.advance_chain(trail.arn, chain, window[1], json.dumps(digest.link.__dict__))

    # -- uploading ---------------------------------------------------------------------

    def _flush(self, trail: Trail, now: float) -> bool:
        """Upload the trail's outbox in order; False (and backoff) at the first failure."""
        kinds: set[str] = set()
        with self._rows.read() as tx:
            outbox = tx.outbox(trail.arn)
        for out in outbox:
            try:
                written = self.storage.put(out.bucket, out.key, out.body,
                                           json.loads(out.metadata))
            except Exception as exc:
                self._failed(trail, out.kind, exc, now)
                return False
            self._done(out.id, now, written if isinstance(written, Written) else Written())
            kinds.add(out.kind)
            if out.kind == "log" and self.notify is not None and trail.sns_topic_name:
                self.notify(trail, out.bucket, out.key)
        self._retry.pop(trail.arn, None)
        if "log" in kinds:
            self._status(trail, latest_delivery_time=now, latest_delivery_attempt_time=now,
                         latest_delivery_error=None)
        if "digest" in kinds:
            self._status(trail, latest_digest_delivery_time=now,
                         latest_digest_delivery_error=None)
        return True

    def _done(self, outbox_id: int, now: float, written: Written) -> None:
        """Out of the outbox, into the delivery record with the version and lock S3 gave."""
        lock = written.retention
        with self._rows.write() as tx:
            tx.done(outbox_id, now, written.version_id, lock.mode if lock else None,
                    lock.retain_until if lock else None)

    def _failed(self, trail: Trail, kind: str, exc: Exception, now: float) -> None:
        code = exc.code if isinstance(exc, StorageError) else type(exc).__name__
        failures = self._retry.get(trail.arn, (0, 0.0))[0] + 1
        self._retry[trail.arn] = (failures, now + min(MAX_BACKOFF, 2.0 ** (failures - 1)))
        log.warning("trail %s: delivery to s3://%s failed (%s); retry %d", trail.arn,
                    trail.s3_bucket_name, exc, failures)
        if kind == "digest":
            self._status(trail, latest_digest_delivery_error=code)
        else:
            self._status(trail, latest_delivery_error=code, latest_delivery_attempt_time=now)

    def _status(self, trail: Trail, **fields: Any) -> None:
        try:
            self.trails.set_status(trail.arn, **fields)
        except Exception as exc:  # the trail was deleted meanwhile: nothing to report to
            log.info("trail %s: status not updated (%s)", trail.arn, exc)

    # -- the ledger --------------------------------------------------------------------

    def _reader(self) -> LedgerReader:
        if self._ledger is None:
            self._ledger = open_ledger_reader(self.data_dir)
        return self._ledger
