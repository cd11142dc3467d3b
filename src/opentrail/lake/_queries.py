"""QueryRunner: the life of a Lake query, from StartQuery to its expiry 7 days after it ended.

    start ─▶ QUEUED ─▶ RUNNING ─▶ FINISHED | FAILED | TIMED_OUT | CANCELLED
               │ (a small worker pool)        └─▶ DeliveryS3Uri (FINISHED only)
               └──────── CancelQuery ──────────▶ CANCELLED

Queries, their statistics and their rows (already rendered as strings, see `_rows.py`)
live in DATA_DIR/lake-queries.db, so results survive a restart; a query that was queued
or running when the server stopped is FAILED at the next start with a message saying so.
Rows are stored as they arrive and can be read while the query runs. An account may have
MAX_ACTIVE queries queued or running at once. Everything about a query is deleted
KEEP_DAYS after it ended (the clock is injected), except the record of what its
DeliveryS3Uri delivery wrote (`delivered_results`: each object's VersionId and lock),
which is evidence for as long as those objects are kept.

The SQL is translated (and refused, if it must be) before anything is queued; a failure
while running ends the query FAILED with the engine's one-line message, never a trace.
"""

from __future__ import annotations

import base64
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from opentrail.clock import Clock
from opentrail.errors import (
    InactiveQuery,
    InvalidDateRange,
    InvalidMaxResults,
    InvalidNextToken,
    InvalidQueryStatus,
    MaxConcurrentQueries,
    QueryIdNotFound,
    S3BucketDoesNotExist,
)
from opentrail.lake._delivery import DeliveryTarget, deliver_results, parse_delivery_uri
from opentrail.lake._engine import Engine, EngineError, Execution
from opentrail.lake._rows import render_row
from opentrail.lake._sql import Translation, translate
from opentrail.storage import Storage, StorageError, Written
from opentrail.trails._signing import SigningKeys

__all__ = ["QUERY_STATUSES", "DeliveredResult", "QueryInfo", "QueryRunner", "ResultsPage"]

log = logging.getLogger(__name__)

QUERY_STATUSES = ("QUEUED", "RUNNING", "FINISHED", "FAILED", "CANCELLED", "TIMED_OUT")
ACTIVE = ("QUEUED", "RUNNING")
MAX_ACTIVE = 10
KEEP_DAYS = 7
PAGE = 1000
BATCH = 1000
RUN_ATTEMPTS = 3

SCHEMA = """
CREATE TABLE IF NOT EXISTS queries (
    id TEXT PRIMARY KEY, account TEXT NOT NULL, owner TEXT NOT NULL, region TEXT NOT NULL,
    statement TEXT NOT NULL, status TEXT NOT NULL, created REAL NOT NULL,
    started REAL, ended REAL, error TEXT, columns BLOB,
    total INTEGER NOT NULL DEFAULT 0, events_scanned INTEGER NOT NULL DEFAULT 0,
    bytes_scanned INTEGER NOT NULL DEFAULT 0, millis INTEGER NOT NULL DEFAULT 0,
    delivery_uri TEXT, delivery_status TEXT);
CREATE INDEX IF NOT EXISTS queries_ended ON queries (ended);
CREATE INDEX IF NOT EXISTS queries_account ON queries (account, status);
CREATE TABLE IF NOT EXISTS query_stores (
    store TEXT NOT NULL, query TEXT NOT NULL, PRIMARY KEY (store, query)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS delivered_results (
    query TEXT NOT NULL, account TEXT NOT NULL, bucket TEXT NOT NULL, key TEXT NOT NULL,
    version_id TEXT, lock_mode TEXT, retain_until REAL, delivered REAL NOT NULL,
    PRIMARY KEY (query, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS query_rows (
    query TEXT NOT NULL, n INTEGER NOT NULL, row BLOB NOT NULL,
    PRIMARY KEY (query, n)) WITHOUT ROWID;
"""
RESTARTED = ("OpenTrail restarted while this query was queued or running, so it did not "
             "finish; start it again.")


@dataclass(frozen=True)
class QueryInfo:
    """One query as DescribeQuery and ListQueries see it."""

    id: str
    account: str
    owner: str
    statement: str
    status: str
    created: float
    started: float | None
    ended: float | None
    error: str | None
    total: int
    events_scanned: int
    bytes_scanned: int
    millis: int
    delivery_uri: str | None
    delivery_status: str | None


@dataclass(frozen=True)
class DeliveredResult:
    """One object a query's DeliveryS3Uri delivery wrote: its S3 VersionId (None for the
    folder and unversioned buckets) and the Object Lock it was written with."""

    query: str
    bucket: str
    key: str
    version_id: str | None
    lock_mode: str | None
    retain_until: float | None  # epoch seconds, UTC
    delivered: float


@dataclass(frozen=True)
class ResultsPage:
    status: str
    rows: list[list[dict[str, str]]]
    total: int
    bytes_scanned: int
    next_token: str | None
    error: str | None


@dataclass
class _Active:
    """A query being run: what cancel and the timeout need to reach it."""

    execution: Execution | None = None
    outcome: str | None = None  # CANCELLED or TIMED_OUT once asked to stop
    lock: threading.Lock = field(default_factory=threading.Lock)


# (store reference, owner account, region) -> EventDataStore; raises for a store the caller
# may not query (not found, malformed, pending deletion)
Resolver = Callable[[str, str, str], Any]


class QueryRunner:
    def __init__(self, data_dir: Path, clock: Clock, engine: Engine, resolve: Resolver, *,
                 storage: Storage | None = None, signing_keys: SigningKeys | None = None,
                 timeout: float = 3600, workers: int = 2) -> None:
        self.clock = clock
        self.engine = engine
        self.resolve = resolve
        self.storage = storage
        self.signing_keys = signing_keys
        self.timeout = timeout
        self._db = sqlite3.connect(data_dir / "lake-queries.db", check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self._active: dict[str, _Active] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lake-query")
        self._recover()

    # -- storage helpers ----------------------------------------------------------------

    def _sql(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _recover(self) -> None:
        self._sql("UPDATE queries SET status = 'FAILED', error = ?, ended = ? "
                  "WHERE status IN ('QUEUED', 'RUNNING')", (RESTARTED, self.clock.now()))

    def purge(self) -> int:
        """Forget every query that ended more than KEEP_DAYS ago, rows included."""
        cutoff = self.clock.now() - KEEP_DAYS * 86400
        with self._lock, self._db:
            self._db.execute("BEGIN")
            old = [r[0] for r in self._db.execute(
                "SELECT id FROM queries WHERE ended IS NOT NULL AND ended < ?", (cutoff,))]
            for query in old:
                self._db.execute("DELETE FROM query_rows WHERE query = ?", (query,))
                self._db.execute("DELETE FROM query_stores WHERE query = ?", (query,))
                self._db.execute("DELETE FROM queries WHERE id = ?", (query,))
        return len(old)

    # -- StartQuery ---------------------------------------------------------------------

    def start(self, account: str, statement: str, *, owner: str | None = None,
              region: str = "us-east-1", delivery_uri: str | None = None) -> str:
        """Translate (refusing a bad statement), check the limits, queue; the query ID."""
        owner = owner or account
        translation = translate(statement, lambda ref: self.resolve(ref, owner, region),
                                self.engine.dialect)
        target = self._delivery_target(delivery_uri)
        self.purge()
        query_id = str(uuid.uuid4())
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            (active,) = self._db.execute(
                "SELECT count(*) FROM queries WHERE account = ? AND status IN "
                "('QUEUED', 'RUNNING')", (account,)).fetchone()
            if active >= MAX_ACTIVE:
                raise MaxConcurrentQueries(
                    f"Your account already has {active} queries queued or running; the "
                    f"maximum number of concurrent queries is {MAX_ACTIVE}. Wait for one to "
                    "end, or cancel one with CancelQuery.")
            self._db.execute(
                "INSERT INTO queries (id, account, owner, region, statement, status, created,"
                " delivery_uri, delivery_status) VALUES (?, ?, ?, ?, ?, 'QUEUED', ?, ?, ?)",
                (query_id, account, owner, region, statement, self.clock.now(), delivery_uri,
                 "PENDING" if target else None))
            self._db.executemany("INSERT OR IGNORE INTO query_stores VALUES (?, ?)",
                                 [(s.id, query_id) for s in translation.stores])
            self._active[query_id] = _Active()
        self._pool.submit(self._run, query_id, translation, target)
        return query_id

    def _delivery_target(self, uri: str | None) -> DeliveryTarget | None:
        if uri is None:
            return None
        target = parse_delivery_uri(uri)
        if self.storage is None or not self.storage.bucket_exists(target.bucket):
            raise S3BucketDoesNotExist(f"The bucket {target.bucket} of DeliveryS3Uri does "
                                       "not exist in the configured storage.")
        return target

    # -- running ------------------------------------------------------------------------

    def _run(self, query_id: str, translation: Translation,
             target: DeliveryTarget | None) -> None:
        active = self._active[query_id]
        try:
            self._execute(query_id, translation, active)
            if target is not None:
                self._deliver(query_id, target)
        except (Exception, SystemExit):  # never leave a query RUNNING; the log has the trace
            log.exception("lake query %s failed inside OpenTrail", query_id)
            self._end(query_id, "FAILED", "The query failed because of an internal error in "
                      "OpenTrail; the server log has the details.")
        finally:
            self._active.pop(query_id, None)

    def _execute(self, query_id: str, translation: Translation, active: _Active) -> None:
        started = time.monotonic()
        with active.lock:
            if active.outcome is not None:
                return  # cancelled while queued
            self._sql("UPDATE queries SET status = 'RUNNING', started = ? WHERE id = ? "
                      "AND status = 'QUEUED'", (self.clock.now(), query_id))
        timer = threading.Timer(self.timeout, self._stop, (query_id, "TIMED_OUT"))
        timer.daemon = True
        timer.start()
        try:
            self._stream(query_id, translation, active, started)
        except EngineError as exc:
            outcome = active.outcome or "FAILED"
            self._end(query_id, outcome, _failure(outcome, str(exc), self.timeout), started)
        else:
            outcome = active.outcome or "FINISHED"
            self._end(query_id, outcome, _failure(outcome, "", self.timeout), started)
        finally:
            timer.cancel()

    def _stream(self, query_id: str, translation: Translation, active: _Active,
                started: float) -> None:
        """Run, storing rows as they come. A file compacted away under a query that has
        stored nothing yet is not the user's problem: it runs again over a new listing."""
        for attempt in range(RUN_ATTEMPTS):
            try:
                self._stream_once(query_id, translation, active)
                return
            except EngineError as exc:
                stored = self._sql("SELECT total FROM queries WHERE id = ?", (query_id,))
                if not exc.retry or attempt == RUN_ATTEMPTS - 1 or stored[0][0] \
                        or active.outcome is not None:
                    raise
                log.info("lake query %s: a file changed under it; running it again", query_id)

    def _stream_once(self, query_id: str, translation: Translation, active: _Active) -> None:
        execution = self.engine.open(translation)
        with active.lock:
            active.execution = execution
            if active.outcome is not None:
                execution.interrupt()
        try:
            self._sql("UPDATE queries SET events_scanned = ?, bytes_scanned = ? WHERE id = ?",
                      (execution.events_scanned, execution.bytes_scanned, query_id))
            total = 0
            for batch in execution.batches(BATCH):
                if total == 0:
                    self._sql("UPDATE queries SET columns = ? WHERE id = ?",
                              (orjson.dumps(execution.columns), query_id))
                total = self._store_rows(query_id, execution.columns, batch, total)
                if active.outcome is not None:
                    raise EngineError("The query was interrupted.")
            if total == 0:
                self._sql("UPDATE queries SET columns = ? WHERE id = ?",
                          (orjson.dumps(execution.columns), query_id))
        finally:
            execution.close()

    def _store_rows(self, query_id: str, columns: list[str], batch: list[tuple[Any, ...]],
                    total: int) -> int:
        rendered = [(query_id, total + i, orjson.dumps(render_row(columns, values)))
                    for i, values in enumerate(batch)]
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT INTO query_rows VALUES (?, ?, ?)", rendered)
            self._db.execute("UPDATE queries SET total = ? WHERE id = ?",
                             (total + len(batch), query_id))
        return total + len(batch)

    def _end(self, query_id: str, status: str, error: str | None,
             started: float | None = None) -> None:
        millis = int((time.monotonic() - started) * 1000) if started is not None else 0
        delivery = "CANCELLED" if status != "FINISHED" else None
        self._sql("UPDATE queries SET status = ?, error = ?, ended = ?, millis = ?, "
                  "delivery_status = CASE WHEN delivery_uri IS NULL THEN NULL "
                  "ELSE coalesce(?, delivery_status) END "
                  "WHERE id = ? AND status IN ('QUEUED', 'RUNNING')",
                  (status, error, self.clock.now(), millis, delivery, query_id))

    def _stop(self, query_id: str, outcome: str) -> bool:
        """Ask a queued or running query to stop; False when it is not active here."""
        active = self._active.get(query_id)
        if active is None:
            return False
        with active.lock:
            if active.outcome is None:
                active.outcome = outcome
            if active.execution is not None:
                active.execution.interrupt()
        return True

    def _deliver(self, query_id: str, target: DeliveryTarget) -> None:
        info = self._info(query_id)
        if info is None or info.status != "FINISHED":
            return
        assert self.storage is not None
        status = "SUCCESS"
        try:
            if self.signing_keys is None:
                raise StorageError("FAILED_SIGNING_FILE", "no signing keys")
            columns = orjson.loads(self._sql("SELECT columns FROM queries WHERE id = ?",
                                             (query_id,))[0][0] or b"[]")
            written = deliver_results(
                self.storage, self.signing_keys, target, account=info.account,
                region=self._region(query_id), query_id=query_id,
                completed=info.ended or self.clock.now(), columns=columns,
                rows=self._values(query_id))
            self._record_delivery(query_id, info.account, target.bucket, written)
        except StorageError as exc:
            log.warning("lake query %s: delivery to %s failed: %s", query_id,
                        info.delivery_uri, exc)
            status = {"NoSuchBucket": "RESOURCE_NOT_FOUND", "AccessDenied": "ACCESS_DENIED",
                      "FAILED_SIGNING_FILE": "FAILED_SIGNING_FILE"}.get(exc.code, "FAILED")
        except ValueError as exc:  # a region without signing keys (not an AWS region name)
            log.warning("lake query %s: results not signed: %s", query_id, exc)
            status = "FAILED_SIGNING_FILE"
        self._sql("UPDATE queries SET delivery_status = ? WHERE id = ?", (status, query_id))

    def _record_delivery(self, query_id: str, account: str, bucket: str,
                         written: list[tuple[str, Written]]) -> None:
        now = self.clock.now()
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO delivered_results (query, account, bucket, key, "
                "version_id, lock_mode, retain_until, delivered) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(query_id, account, bucket, key, w.version_id,
                  w.retention.mode if w.retention else None,
                  w.retention.retain_until if w.retention else None, now)
                 for key, w in written])

    def delivered(self, account: str, query_id: str) -> list[DeliveredResult]:
        """What the query's DeliveryS3Uri delivery wrote, in writing order. Kept after the
        query's results expire (KEEP_DAYS): evidence names these versions for as long as
        their locks hold."""
        rows = self._sql("SELECT query, bucket, key, version_id, lock_mode, retain_until, "
                         "delivered FROM delivered_results WHERE query = ? AND account = ? "
                         "ORDER BY key LIKE '%/result_sign.json', key", (query_id, account))
        return [DeliveredResult(*row) for row in rows]

    def _region(self, query_id: str) -> str:
        return str(self._sql("SELECT region FROM queries WHERE id = ?", (query_id,))[0][0])

    def _values(self, query_id: str) -> Iterator[list[str]]:
        """Every stored row's values, in order, a page at a time."""
        start = 0
        while True:
            rows = self._sql("SELECT row FROM query_rows WHERE query = ? AND n >= ? "
                             "ORDER BY n LIMIT ?", (query_id, start, PAGE))
            for (row,) in rows:
                yield [next(iter(cell.values())) for cell in orjson.loads(row)]
            if len(rows) < PAGE:
                return
            start += PAGE

    # -- reading --------------------------------------------------------------------------

    def _info(self, query_id: str) -> QueryInfo | None:
        rows = self._sql(
            "SELECT id, account, owner, statement, status, created, started, ended, error, "
            "total, events_scanned, bytes_scanned, millis, delivery_uri, delivery_status "
            "FROM queries WHERE id = ?", (query_id,))
        return QueryInfo(*rows[0]) if rows else None

    def describe(self, account: str, query_id: str) -> QueryInfo:
        """The caller's query, unless it expired; else QueryIdNotFound."""
        info = self._info(query_id)
        cutoff = self.clock.now() - KEEP_DAYS * 86400
        if info is None or info.account != account or (info.ended and info.ended < cutoff):
            raise QueryIdNotFound(f"The query ID {query_id} does not exist or does not map "
                                  "to a query of your account (results are kept 7 days).")
        return info

    def stores_of(self, query_id: str) -> list[str]:
        return [r[0] for r in self._sql("SELECT store FROM query_stores WHERE query = ?",
                                        (query_id,))]

    def results(self, account: str, query_id: str, *, next_token: str | None = None,
                max_results: int = PAGE) -> ResultsPage:
        info = self.describe(account, query_id)
        if not 1 <= max_results <= PAGE:
            raise InvalidMaxResults(f"MaxQueryResults must be from 1 to {PAGE}; got "
                                    f"{max_results}.")
        start = _offset(next_token, query_id) if next_token is not None else 0
        if start > info.total:
            raise InvalidNextToken("NextToken is not valid for this query's results.")
        rows = self._sql("SELECT row FROM query_rows WHERE query = ? AND n >= ? ORDER BY n "
                         "LIMIT ?", (query_id, start, max_results))
        end = start + len(rows)
        token = _token(query_id, end) if end < info.total else None
        return ResultsPage(info.status, [orjson.loads(r[0]) for r in rows], info.total,
                           info.bytes_scanned, token, info.error)

    def list(self, account: str, store_id: str, *, start: float | None = None,
             end: float | None = None, status: str | None = None,
             next_token: str | None = None, max_results: int = PAGE
             ) -> tuple[list[QueryInfo], str | None]:
        """The account's queries of one store, newest first, filtered."""
        if start is not None and end is not None and start > end:
            raise InvalidDateRange("StartTime must be before or equal to EndTime.")
        if status is not None and status not in QUERY_STATUSES:
            raise InvalidQueryStatus(f"QueryStatus {status!r} is not valid; use one of "
                                     + ", ".join(QUERY_STATUSES) + ".")
        if not 1 <= max_results <= PAGE:
            raise InvalidMaxResults(f"MaxResults must be from 1 to {PAGE}; got {max_results}.")
        self.purge()
        offset = _offset(next_token, store_id) if next_token is not None else 0
        where, args = ["q.account = ?", "s.store = ?"], [account, store_id]
        for clause, value in (("q.created >= ?", start), ("q.created <= ?", end),
                              ("q.status = ?", status)):
            if value is not None:
                where.append(clause)
                args.append(value)  # type: ignore[arg-type]
        rows = self._sql(
            "SELECT q.id FROM queries q JOIN query_stores s ON s.query = q.id WHERE "
            + " AND ".join(where) + " ORDER BY q.created DESC, q.id LIMIT ? OFFSET ?",
            (*args, max_results + 1, offset))
        found = [info for (qid,) in rows[:max_results] if (info := self._info(qid))]
        more = len(rows) > max_results
        return found, _token(store_id, offset + max_results) if more else None

    # -- CancelQuery ----------------------------------------------------------------------

    def cancel(self, account: str, query_id: str) -> str:
        info = self.describe(account, query_id)
        if info.status not in ACTIVE:
            raise InactiveQuery(f"The query {query_id} is {info.status}; only a QUEUED or "
                                "RUNNING query can be cancelled.")
        self._stop(query_id, "CANCELLED")
        self._end(query_id, "CANCELLED", None)
        return "CANCELLED"

    def close(self) -> None:
        for query_id in list(self._active):
            self._stop(query_id, "CANCELLED")
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._recover()
        self.engine.close()
        self._db.close()


def _failure(outcome: str | None, message: str, timeout: float) -> str | None:
    if outcome == "TIMED_OUT":
        return (f"The query ran longer than the {int(timeout)} s allowed (query_timeout) and "
                "was stopped; the rows found until then can be read.")
    if outcome == "FAILED":
        return f"The query failed: {message}"
    return None


def _token(scope: str, offset: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([scope, offset])).decode()


def _offset(token: str, scope: str) -> int:
    try:
        found, offset = orjson.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError):
        raise InvalidNextToken("NextToken is not valid; pass the NextToken of the previous "
                               "response unchanged.") from None
    if found != scope or not isinstance(offset, int) or offset < 0:
        raise InvalidNextToken("NextToken belongs to another request; pass the NextToken of "
                               "the previous response with the same parameters.")
    return offset
