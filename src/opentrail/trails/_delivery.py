"""Trail delivery: a follower of the ledger that writes CloudTrail log files and digests.

For each trail, a durable cursor in DATA_DIR/delivery.db says how far delivery got: as
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
import sqlite3
import string
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from opentrail.clock import Clock
from opentrail.events import Category
from opentrail.ledger import LedgerReader, LedgerRow, open_ledger_reader
from opentrail.storage import Storage, StorageError, Written
from opentrail.trails._digest import ChainLink, LogFile, log_prefix, make_digest
from opentrail.trails._model import Trail, TrailStatus
from opentrail.trails._record import DeliveredObject, add_lock_columns, delivered_objects
from opentrail.trails._signing import SigningKeys

__all__ = ["DELIVERY_FILE", "Delivery", "TrailSource"]

log = logging.getLogger(__name__)

DELIVERY_FILE = "delivery.db"
BATCH = 20_000               # ledger rows read per query
MAX_RECORDS_PER_FILE = 10_000  # keeps a backlog's files far below S3's 50 MB
MAX_BACKOFF = 300.0
GZIP_LEVEL = 3  # 2.5x faster than 6 for ~15% larger files: delivery must keep up with ingest
ALPHANUMERIC = string.ascii_letters + string.digits

SCHEMA = """
CREATE TABLE IF NOT EXISTS cursors (
    arn      TEXT PRIMARY KEY,
    created  REAL NOT NULL,     -- the trail's creation time: a re-created trail starts over
    seq      INTEGER NOT NULL,  -- last ledger seq considered (the cursor - 1)
    period   REAL,              -- start_logging_time of the logging period being delivered
    last_run REAL NOT NULL      -- delivery time of the last delivery
);
CREATE TABLE IF NOT EXISTS outbox (  -- finished objects not yet confirmed by the destination
    id INTEGER PRIMARY KEY, arn TEXT NOT NULL, kind TEXT NOT NULL, bucket TEXT NOT NULL,
    key TEXT NOT NULL, body BLOB NOT NULL, metadata TEXT NOT NULL,
    first_seq INTEGER, last_seq INTEGER, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS delivered (  -- the record of every object delivered
    id INTEGER PRIMARY KEY, arn TEXT NOT NULL, kind TEXT NOT NULL, bucket TEXT NOT NULL,
    key TEXT NOT NULL, first_seq INTEGER, last_seq INTEGER, created REAL NOT NULL,
    delivered REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS undigested (  -- log files the next digest of their region lists
    id INTEGER PRIMARY KEY, arn TEXT NOT NULL, region TEXT NOT NULL, file TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chains (  -- open digest chains: next window start, last digest
    arn TEXT NOT NULL, region TEXT NOT NULL, start REAL NOT NULL, prev TEXT,
    PRIMARY KEY (arn, region)
);
"""

Selector = Callable[[Trail, dict[str, Any], Category], bool]


class TrailSource(Protocol):
    """What delivery needs from trail management (TrailStore)."""

    def list(self, account: str | None = None) -> list[Trail]: ...

    def set_status(self, arn: str, **fields: Any) -> TrailStatus: ...


class _Cursor(NamedTuple):
    """A trail's delivery position."""

    created: float  # the trail's creation time it belongs to
    next_seq: int  # the cursor: the next ledger seq to consider
    period: float | None  # start_logging_time of the logging period being delivered
    last_run: float  # delivery time of the last delivery


class _Outgoing(NamedTuple):
    """An object in the outbox."""

    id: int
    kind: str  # "log", "digest" or "checkpoint"
    bucket: str
    key: str
    body: bytes
    metadata: str  # JSON object of S3 user metadata


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


class _State:
    """DATA_DIR/delivery.db: cursors, outbox, digest chains (one connection, one thread)."""

    def __init__(self, data_dir: Path) -> None:
        self.conn = sqlite3.connect(data_dir / DELIVERY_FILE, isolation_level=None,
                                    check_same_thread=False, timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.executescript(SCHEMA)
        with self.tx() as conn:
            add_lock_columns(conn)

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def cursor(self, arn: str) -> _Cursor | None:
        row = self.conn.execute("SELECT created, seq, period, last_run FROM cursors "
                                "WHERE arn = ?", (arn,)).fetchone()
        return None if row is None else _Cursor(row[0], row[1] + 1, row[2], row[3])

    def move(self, conn: sqlite3.Connection, arn: str, next_seq: int, now: float) -> None:
        conn.execute("UPDATE cursors SET seq = ?, last_run = ? WHERE arn = ?",
                     (next_seq - 1, now, arn))

    def forget(self, conn: sqlite3.Connection, arn: str) -> None:
        for table in ("cursors", "outbox", "undigested", "chains"):
            conn.execute(f"DELETE FROM {table} WHERE arn = ?", (arn,))

    def known(self) -> list[tuple[str, float]]:
        return self.conn.execute("SELECT arn, created FROM cursors").fetchall()

    def put_outbox(self, conn: sqlite3.Connection, arn: str, kind: str, bucket: str,
                   key: str, body: bytes, metadata: dict[str, str], seqs: tuple[int, int]
                   | None, now: float) -> None:
        conn.execute("INSERT INTO outbox (arn, kind, bucket, key, body, metadata, first_seq, "
                     "last_seq, created) VALUES (?,?,?,?,?,?,?,?,?)",
                     (arn, kind, bucket, key, body, json.dumps(metadata),
                      *(seqs or (None, None)), now))

    def outbox(self, arn: str) -> list[_Outgoing]:
        rows = self.conn.execute("SELECT id, kind, bucket, key, body, metadata FROM outbox "
                                 "WHERE arn = ? ORDER BY id", (arn,)).fetchall()
        return list(map(_Outgoing._make, rows))

    def done(self, outbox_id: int, now: float, written: Written) -> None:
        """Out of the outbox, into the delivery record with the version and lock S3 gave."""
        lock = written.retention
        with self.tx() as conn:
            conn.execute("INSERT INTO delivered (arn, kind, bucket, key, first_seq, last_seq, "
                         "created, delivered, version_id, lock_mode, retain_until) SELECT "
                         "arn, kind, bucket, key, first_seq, last_seq, created, ?, ?, ?, ? "
                         "FROM outbox WHERE id = ?",
                         (now, written.version_id, lock.mode if lock else None,
                          lock.retain_until if lock else None, outbox_id))
            conn.execute("DELETE FROM outbox WHERE id = ?", (outbox_id,))

    def chains(self, arn: str) -> list[_ChainHead]:
        rows = self.conn.execute("SELECT region, start, prev FROM chains WHERE arn = ? "
                                 "ORDER BY region", (arn,)).fetchall()
        return [_ChainHead(r, s, ChainLink(**json.loads(p)) if p else None)
                for r, s, p in rows]

    def undigested(self, arn: str, region: str) -> tuple[list[int], list[LogFile]]:
        rows = self.conn.execute("SELECT id, file FROM undigested WHERE arn = ? AND "
                                 "region = ? ORDER BY id", (arn, region)).fetchall()
        return [r[0] for r in rows], [LogFile(**json.loads(r[1])) for r in rows]


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
                 notify: Callable[[Trail, str, str], None] | None = None) -> None:
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
        self._state = _State(data_dir)
        self._ledger: LedgerReader | None = ledger
        self._owns_ledger = ledger is None
        self._retry: dict[str, tuple[int, float]] = {}  # arn -> (failures, retry at)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._state.conn.close()
            if self._ledger is not None and self._owns_ledger:
                self._ledger.close()

    def delivered_objects(self, arn: str | None = None, start: float | None = None,
                          end: float | None = None) -> list[DeliveredObject]:
        """The delivery record (trails/_record.py): what went where, version, lock."""
        with self._lock:
            return delivered_objects(self._state.conn, arn, start, end)

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
        for arn, created in self._state.known():
            if (arn, created) not in live:
                with self._state.tx() as conn:
                    self._state.forget(conn, arn)

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
        cursor = self._state.cursor(trail.arn)
        if cursor is not None and cursor.created == trail.created and cursor.period == \
                trail.status.start_logging_time:
            return cursor.last_run
        next_seq = self._reader().first_ingested_at(window[0])
        started = min(now, trail.status.start_logging_time or now)  # the interval's origin
        if cursor is not None and cursor.created == trail.created:
            next_seq = max(next_seq, cursor.next_seq)
        with self._state.tx() as conn:
            if cursor is not None and cursor.created != trail.created:
                self._state.forget(conn, trail.arn)
            # A new logging period starts a new digest chain (spec 3.1).
            conn.execute("DELETE FROM chains WHERE arn = ?", (trail.arn,))
            conn.execute("DELETE FROM undigested WHERE arn = ?", (trail.arn,))
            conn.execute("INSERT OR REPLACE INTO cursors (arn, created, seq, period, last_run) "
                         "VALUES (?,?,?,?,?)", (trail.arn, trail.created, next_seq - 1,
                                                trail.status.start_logging_time, started))
            if trail.log_file_validation_enabled and trail.status.is_logging:
                conn.execute("INSERT INTO chains (arn, region, start, prev) VALUES "
                             "(?,?,?,NULL)", (trail.arn, self._home_chain(trail), int(started)))
        return started

    def _deliver(self, trail: Trail, window: tuple[int, float], now: float) -> bool:
        """Turn the events after the cursor into outbox files, a batch at a time."""
        while True:
            cursor = self._state.cursor(trail.arn)
            assert cursor is not None
            rows = self._reader().rows(cursor.next_seq, BATCH)
            files = self._files(trail, rows, window, now) if rows else []
            with self._state.tx() as conn:
                for f in files:
                    self._enqueue(conn, trail, f, now)
                self._state.move(conn, trail.arn, rows[-1].seq + 1 if rows else
                                 cursor.next_seq, now)
            if not self._flush(trail, now):
                return False
            if len(rows) < BATCH:
                return True

    def _enqueue(self, conn: sqlite3.Connection, trail: Trail, f: _NewFile,
                 now: float) -> None:
        self._state.put_outbox(conn, trail.arn, "log", trail.s3_bucket_name, f.key, f.body,
                               {}, (f.first_seq, f.last_seq), now)
        # Digests list the CloudTrail/ log files (whether they cover Insights files is
        # undocumented, spec 7 question 2; awscli would not check them either way).
        if trail.log_file_validation_enabled and f.kind == "CloudTrail":
            conn.execute("INSERT INTO undigested (arn, region, file) VALUES (?,?,?)",
                         (trail.arn, f.chain, json.dumps(f.info.__dict__)))
            # A region's (or member account's) chain shares the home chain's windows.
            conn.execute("INSERT OR IGNORE INTO chains (arn, region, start, prev) SELECT "
                         "?, ?, COALESCE((SELECT start FROM chains WHERE arn = ? AND "
                         "region = ?), ?), NULL", (trail.arn, f.chain, trail.arn,
                                                    self._home_chain(trail), int(now)))

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
            with self._state.tx() as conn:
                conn.execute("DELETE FROM chains WHERE arn = ?", (trail.arn,))
                conn.execute("DELETE FROM undigested WHERE arn = ?", (trail.arn,))
            return
        if trail.status.is_logging:
            with self._state.tx() as conn:
                conn.execute("INSERT OR IGNORE INTO chains (arn, region, start, prev) "
                             "VALUES (?,?,?,NULL)", (trail.arn, self._home_chain(trail),
                                                     int(now)))
        org = self._organization(trail) is not None
        for chain, start, prev in self._state.chains(trail.arn):
            # UpdateTrail switched IsOrganizationTrail: the old layout's chain ends here.
            stale = ("/" in chain) != org
            if final or stale or now - start >= self.digest_interval:
                self._digest(trail, chain, (start, max(int(now), int(start) + 1)), prev)
            if stale:
                with self._state.tx() as conn:
                    conn.execute("DELETE FROM chains WHERE arn = ? AND region = ?",
                                 (trail.arn, chain))
        if final:
            with self._state.tx() as conn:
                conn.execute("DELETE FROM chains WHERE arn = ?", (trail.arn,))

    def _digest(self, trail: Trail, chain: str, window: tuple[float, float],
                prev: ChainLink | None) -> None:
        ids, files = self._state.undigested(trail.arn, chain)
        account, region = _owner(trail, chain)
        org = self.organization_id if "/" in chain else None  # the chain's own layout
        digest = make_digest(trail, region, window, files, prev, self.keys.current(region),
                             account, org)
        with self._state.tx() as conn:
            self._state.put_outbox(conn, trail.arn, "digest", trail.s3_bucket_name,
                                   digest.key, digest.body, digest.metadata, None, window[1])
            if self.checkpoint is not None:
                self._state.put_outbox(conn, trail.arn, "checkpoint", trail.s3_bucket_name,
                                       checkpoint_key(digest.key), self.checkpoint().encode(),
                                       {}, None, window[1])
            conn.executemany("DELETE FROM undigested WHERE id = ?", [(i,) for i in ids])
            conn.execute("UPDATE chains SET start = ?, prev = ? WHERE arn = ? AND region = ?",
                         (window[1], json.dumps(digest.link.__dict__), trail.arn, chain))

    # -- uploading ---------------------------------------------------------------------

    def _flush(self, trail: Trail, now: float) -> bool:
        """Upload the trail's outbox in order; False (and backoff) at the first failure."""
        kinds: set[str] = set()
        for out in self._state.outbox(trail.arn):
            try:
                written = self.storage.put(out.bucket, out.key, out.body,
                                           json.loads(out.metadata))
            except Exception as exc:
                self._failed(trail, out.kind, exc, now)
                return False
            self._state.done(out.id, now, written if isinstance(written, Written)
                             else Written())
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
