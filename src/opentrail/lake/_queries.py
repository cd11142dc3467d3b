"""QueryRunner: the life of a Lake query, from StartQuery to its expiry 7 days after it ended.

    start ─▶ QUEUED ─▶ RUNNING ─▶ FINISHED | FAILED | TIMED_OUT | CANCELLED
               │ (a small worker pool)        └─▶ DeliveryS3Uri (FINISHED only)
               └──────── CancelQuery ──────────▶ CANCELLED

Queries, their statistics and their rows (already rendered as strings, see `_rows.py`)
are kept by `QueryRows` (_query_rows.py: DATA_DIR/lake-queries.db, or PostgreSQL's tables
shared by every node), so results survive a restart and any node answers for any query.
A query runs on the node that started it, which stamps a heartbeat on its active queries
every HEARTBEAT seconds and stops one that another node ended (CancelQuery there). A query
that was queued or running when its node stopped is FAILED with a message saying so: at
the node's next start (same node name), or by any node once its heartbeat is LEASE old.
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
from opentrail.lake._query_rows import (
    ACTIVE,
    DeliveredResult,
    NewQuery,
    QueryInfo,
    QueryRows,
)
from opentrail.lake._rows import render_row
from opentrail.lake._sql import Translation, translate
from opentrail.storage import Storage, StorageError, Written
from opentrail.trails._signing import SigningKeys

__all__ = ["QUERY_STATUSES", "DeliveredResult", "QueryInfo", "QueryRunner", "ResultsPage"]

log = logging.getLogger(__name__)

QUERY_STATUSES = ("QUEUED", "RUNNING", "FINISHED", "FAILED", "CANCELLED", "TIMED_OUT")
MAX_ACTIVE = 10
KEEP_DAYS = 7
PAGE = 1000
BATCH = 1000
RUN_ATTEMPTS = 3

HEARTBEAT = 2.0  # seconds between a node's "I still run these queries"
LEASE = 60.0  # seconds without one after which an active query's node counts as stopped
SWEEP = 15.0  # seconds between a node's looks for other nodes' orphaned queries
RESTARTED = ("OpenTrail restarted while this query was queued or running, so it did not "
             "finish; start it again.")
ORPHANED = (f"The OpenTrail node running this query stopped (it has not reported for "
            f"{int(LEASE)} s), so the query did not finish; start it again.")


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
                 timeout: float = 3600, workers: int = 2, rows: QueryRows | None = None,
                 node: str | None = None) -> None:
        """`rows`: where queries are kept (DATA_DIR/lake-queries.db by default; this
        runner closes them). `node`: this node's name in them (a fresh one by default);
        the same name after a restart fails at once what the node left active."""
        self.clock = clock
        self.engine = engine
        self.resolve = resolve
        self.storage = storage
        self.signing_keys = signing_keys
        self.timeout = timeout
        if rows is None:
            from opentrail.backends.sqlite import SqliteQueryRows

            rows = SqliteQueryRows(data_dir)
        self._rows: QueryRows = rows
        self.node = node or str(uuid.uuid4())
        self._active: dict[str, _Active] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lake-query")
        self._rows.fail_orphans(RESTARTED, clock.now(), node=self.node)
        self._closing = threading.Event()
        self._beats = threading.Thread(target=self._beat, name="lake-query-heartbeat",
                                       daemon=True)
        self._beats.start()

    # -- liveness -----------------------------------------------------------------------

    def _beat(self) -> None:
        """Every HEARTBEAT seconds: say this node still runs its active queries and stop
        those ended elsewhere (CancelQuery on another node); every SWEEP seconds, fail
        other nodes' orphans (DescribeQuery, ListQueries and StartQuery also do)."""
        swept = time.monotonic()
        while not self._closing.wait(HEARTBEAT):
            try:
                self.heartbeat()
                if time.monotonic() - swept >= SWEEP:
                    swept = time.monotonic()
                    self._fail_orphans()
            except Exception:  # the database lost for a moment: the next beat retries
                log.exception("lake queries: heartbeat failed")

    def heartbeat(self) -> None:
        running = list(self._active)
        if not running:
            return
        statuses = self._rows.heartbeat(self.node, self.clock.now(), running)
        for query_id, status in statuses.items():
            if status not in ACTIVE:
                self._stop(query_id, status)

    def _fail_orphans(self) -> None:
        now = self.clock.now()
        self._rows.fail_orphans(ORPHANED, now, before=now - LEASE)

    def purge(self) -> int:
        """Forget every query that ended more than KEEP_DAYS ago, rows included."""
        return self._rows.purge(self.clock.now() - KEEP_DAYS * 86400)

    # -- StartQuery ---------------------------------------------------------------------

    def start(self, account: str, statement: str, *, owner: str | None = None,
              region: str = "us-east-1", delivery_uri: str | None = None) -> str:
        """Translate (refusing a bad statement), check the limits, queue; the query ID."""
        owner = owner or account
        translation = translate(statement, lambda ref: self.resolve(ref, owner, region),
                                self.engine.dialect)
        target = self._delivery_target(delivery_uri)
        self.purge()
        self._fail_orphans()  # a dead node's queries do not count against the limit
        query_id = str(uuid.uuid4())
        self._active[query_id] = _Active()
        query = NewQuery(query_id, account, owner, region, statement, self.clock.now(),
                         delivery_uri, "PENDING" if target else None, self.node)
        active = self._rows.add(query, [s.id for s in translation.stores], MAX_ACTIVE)
        if active >= MAX_ACTIVE:
            self._active.pop(query_id, None)
            raise MaxConcurrentQueries(
                f"Your account already has {active} queries queued or running; the "
                f"maximum number of concurrent queries is {MAX_ACTIVE}. Wait for one to "
                "end, or cancel one with CancelQuery.")
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
            self._rows.set_running(query_id, self.clock.now())
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
                info = self._rows.info(query_id)
                if not exc.retry or attempt == RUN_ATTEMPTS - 1 or info is None \
                        or info.total or active.outcome is not None:
                    raise
                log.info("lake query %s: a file changed under it; running it again", query_id)

    def _stream_once(self, query_id: str, translation: Translation, active: _Active) -> None:
        execution = self.engine.open(translation)
        with active.lock:
            active.execution = execution
            if active.outcome is not None:
                execution.interrupt()
        try:
            self._rows.set_scanned(query_id, execution.events_scanned,
                                   execution.bytes_scanned)
            total = 0
            for batch in execution.batches(BATCH):
                if total == 0:
                    self._rows.set_columns(query_id, orjson.dumps(execution.columns))
                total = self._store_rows(query_id, execution.columns, batch, total)
                if active.outcome is not None:
                    raise EngineError("The query was interrupted.")
            if total == 0:
                self._rows.set_columns(query_id, orjson.dumps(execution.columns))
        finally:
            with active.lock:  # nothing interrupts a closed execution
                active.execution = None
            execution.close()

    def _store_rows(self, query_id: str, columns: list[str], batch: list[tuple[Any, ...]],
                    total: int) -> int:
        """Store a batch; a query ended meanwhile on another node (cancelled there, or
        failed as an orphan) is stopped here too."""
        rendered = [orjson.dumps(render_row(columns, values)) for values in batch]
        status = self._rows.add_rows(query_id, total, rendered)
        if status not in ACTIVE:
            self._stop(query_id, status)
        return total + len(batch)

    def _end(self, query_id: str, status: str, error: str | None,
             started: float | None = None) -> None:
        millis = int((time.monotonic() - started) * 1000) if started is not None else 0
        delivery = "CANCELLED" if status != "FINISHED" else None
        self._rows.end(query_id, status, error, self.clock.now(), millis, delivery)

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
        info = self._rows.info(query_id)
        if info is None or info.status != "FINISHED":
            return
        assert self.storage is not None
        status = "SUCCESS"
        try:
            if self.signing_keys is None:
                raise StorageError("FAILED_SIGNING_FILE", "no signing keys")
            region, columns = self._rows.details(query_id)
            written = deliver_results(
                self.storage, self.signing_keys, target, account=info.account,
                region=region, query_id=query_id,
                completed=info.ended or self.clock.now(),
                columns=orjson.loads(columns or b"[]"), rows=self._values(query_id))
            self._record_delivery(query_id, info.account, target.bucket, written)
        except StorageError as exc:
            log.warning("lake query %s: delivery to %s failed: %s", query_id,
                        info.delivery_uri, exc)
            status = {"NoSuchBucket": "RESOURCE_NOT_FOUND", "AccessDenied": "ACCESS_DENIED",
                      "FAILED_SIGNING_FILE": "FAILED_SIGNING_FILE"}.get(exc.code, "FAILED")
        except ValueError as exc:  # a region without signing keys (not an AWS region name)
            log.warning("lake query %s: results not signed: %s", query_id, exc)
            status = "FAILED_SIGNING_FILE"
        self._rows.set_delivery_status(query_id, status)

    def _record_delivery(self, query_id: str, account: str, bucket: str,
                         written: list[tuple[str, Written]]) -> None:
        now = self.clock.now()
        self._rows.record_delivery(account, [
            DeliveredResult(query_id, bucket, key, w.version_id,
                            w.retention.mode if w.retention else None,
                            w.retention.retain_until if w.retention else None, now)
            for key, w in written])

    def delivered(self, account: str, query_id: str) -> list[DeliveredResult]:
        """What the query's DeliveryS3Uri delivery wrote, in writing order. Kept after the
        query's results expire (KEEP_DAYS): evidence names these versions for as long as
        their locks hold."""
        return self._rows.delivered(account, query_id)

    def _values(self, query_id: str) -> Iterator[list[str]]:
        """Every stored row's values, in order, a page at a time."""
        start = 0
        while True:
            rows = self._rows.rows(query_id, start, PAGE)
            for row in rows:
                yield [next(iter(cell.values())) for cell in orjson.loads(row)]
            if len(rows) < PAGE:
                return
            start += PAGE

    # -- reading --------------------------------------------------------------------------

    def describe(self, account: str, query_id: str) -> QueryInfo:
        """The caller's query, unless it expired; else QueryIdNotFound. An active query
        whose node stopped saying it runs it is FAILED first."""
        info = self._rows.info(query_id)
        now = self.clock.now()
        if info is not None and info.status in ACTIVE and \
                (info.heartbeat or info.created) < now - LEASE:
            self._fail_orphans()
            info = self._rows.info(query_id)
        cutoff = now - KEEP_DAYS * 86400
        if info is None or info.account != account or (info.ended and info.ended < cutoff):
            raise QueryIdNotFound(f"The query ID {query_id} does not exist or does not map "
                                  "to a query of your account (results are kept 7 days).")
        return info

    def stores_of(self, query_id: str) -> list[str]:
        return self._rows.stores_of(query_id)

    def results(self, account: str, query_id: str, *, next_token: str | None = None,
                max_results: int = PAGE) -> ResultsPage:
        info = self.describe(account, query_id)
        if not 1 <= max_results <= PAGE:
            raise InvalidMaxResults(f"MaxQueryResults must be from 1 to {PAGE}; got "
                                    f"{max_results}.")
        start = _offset(next_token, query_id) if next_token is not None else 0
        if start > info.total:
            raise InvalidNextToken("NextToken is not valid for this query's results.")
        rows = self._rows.rows(query_id, start, max_results)
        end = start + len(rows)
        token = _token(query_id, end) if end < info.total else None
        return ResultsPage(info.status, [orjson.loads(r) for r in rows], info.total,
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
        self._fail_orphans()
        offset = _offset(next_token, store_id) if next_token is not None else 0
        ids = self._rows.find(account, store_id, start=start, end=end, status=status,
                              limit=max_results + 1, offset=offset)
        found = [info for qid in ids[:max_results] if (info := self._rows.info(qid))]
        more = len(ids) > max_results
        return found, _token(store_id, offset + max_results) if more else None

    # -- CancelQuery ----------------------------------------------------------------------

    def cancel(self, account: str, query_id: str) -> str:
        """Any node may cancel: the node running the query stops it at its next heartbeat
        or batch, whichever comes first."""
        info = self.describe(account, query_id)
        if info.status not in ACTIVE:
            raise InactiveQuery(f"The query {query_id} is {info.status}; only a QUEUED or "
                                "RUNNING query can be cancelled.")
        self._stop(query_id, "CANCELLED")
        self._end(query_id, "CANCELLED", None)
        return "CANCELLED"

    def close(self) -> None:
        self._closing.set()
        for query_id in list(self._active):
            self._stop(query_id, "CANCELLED")
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._beats.join()
        self._rows.fail_orphans(RESTARTED, self.clock.now(), node=self.node)
        self.engine.close()
        self._rows.close()


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
