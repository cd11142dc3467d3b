"""The history index: a reader of the ledger that keeps postings for LookupEvents.

Lives in its own database (history.db) so the indexer never contends with the ledger's
writer; it is derived state, rebuilt from the ledger if deleted. Its cursor is committed
in the same transaction as the postings it covers, so a crash never leaves a gap or a
duplicate. No fsync per batch (synchronous=NORMAL): what a crash loses is re-derived.

Postings are packed (_packed.py): a row holds one term's (time, seq) pairs of one step
in one bucket of 4,096 seqs (a `part`); once the indexer has passed a bucket, a term's
parts there are compacted into one row, so a bucket ends with one row per term whether it
was indexed in one step (a backlog) or in hundreds (live ingest at a low rate).

A history.db of the earlier format (one b-tree row per (term, event), user_version 0) is
removed on open and rebuilt from the ledger, the source of truth: lookups answer from
what is re-indexed so far until it catches up.
"""

from __future__ import annotations

import gc
import logging
import os
import sqlite3
import threading
import time
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

import orjson

from opentrail.clock import Clock
from opentrail.history._fields import Attr, lookup_terms
from opentrail.history._packed import BUCKET, bucket_of, decode, encode, sort_pairs
from opentrail.ledger import LedgerReader, LedgerRow, open_ledger_reader

__all__ = ["FORMAT", "HISTORY_FILE", "HistoryIndexer", "create_history"]

log = logging.getLogger(__name__)

HISTORY_FILE = "history.db"
BATCH = BUCKET  # one step fills at most about one bucket
PARTS = 32  # parts of a term in a filling bucket before they are compacted
FORMAT = 2  # PRAGMA user_version: 2 = packed postings; 0 = a row per (term, event)
TERM_CACHE_LIMIT = 200_000  # bounds the indexer's memory; misses cost one probe
PURGE_EVERY = 3600.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS terms (
    id       INTEGER PRIMARY KEY,
    account  TEXT    NOT NULL,
    region   TEXT    NOT NULL,
    category INTEGER NOT NULL,
    attr     INTEGER NOT NULL,
    value    TEXT    NOT NULL,
    n        INTEGER NOT NULL DEFAULT 0,   -- postings so far: picks the driving term of an AND
    UNIQUE (account, region, category, attr, value)
);
CREATE TABLE IF NOT EXISTS packed (
    bucket INTEGER NOT NULL,   -- seq // 4096
    term   INTEGER NOT NULL,
    part   INTEGER NOT NULL,   -- its step's first seq - the bucket's; 0 once compacted
    tmin   INTEGER NOT NULL,   -- the first and last event time in data
    tmax   INTEGER NOT NULL,
    n      INTEGER NOT NULL,   -- pairs in data
    data   BLOB    NOT NULL,   -- (time, seq) pairs, _packed.encode
    PRIMARY KEY (bucket, term, part)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS packed_by_time ON packed (term, tmax, tmin);
CREATE TABLE IF NOT EXISTS cursor (name TEXT PRIMARY KEY, seq INTEGER NOT NULL);
"""


def create_history(data_dir: Path) -> sqlite3.Connection:
    path = data_dir / HISTORY_FILE
    if _old_format(path):
        log.warning("history.db holds postings of an earlier format: removing it; the "
                    "history index is rebuilt from the ledger")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA page_size=16384")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA cache_size=-65536")
    conn.executescript(SCHEMA + f"PRAGMA user_version={FORMAT};")
    return conn


def _old_format(path: Path) -> bool:
    """Whether history.db holds format-0 postings (one row per term and event)."""
    if not path.exists():
        return False
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA busy_timeout=10000")
        old = conn.execute("SELECT 1 FROM sqlite_master WHERE name='postings'").fetchone()
        return old is not None and conn.execute("PRAGMA user_version").fetchone()[0] < FORMAT
    finally:
        conn.close()


Scope = tuple[str, str, int]  # (account, region, category): the terms of one partition
Pair = tuple[Attr, str]  # (attribute, value), as lookup_terms yields it


class HistoryIndexer:
    """Follows the ledger from its cursor (the next seq to index) and writes postings,
    batch by batch."""

    def __init__(self, data_dir: Path, clock: Clock, retention_days: int,
                 ledger: LedgerReader | None = None) -> None:
        self._conn = create_history(data_dir)
        self._owns_ledger = ledger is None
        self._ledger = ledger if ledger is not None else open_ledger_reader(data_dir)
        self._clock = clock
        self._retention = retention_days
        # Term ids by scope, then by the very (attr, value) tuples lookup_terms yields: the
        # hot loop builds no key tuple per posting.
        self._terms: dict[Scope, dict[Pair, int]] = {}
        self._cached = 0
        self._parts_bucket = -1
        self._parts: dict[int, int] = {}  # parts of each term in _parts_bucket, in memory
        self.cursor: int = self._stored_cursor()
        self._last_purge = 0.0

    def _stored_cursor(self) -> int:
        row = self._conn.execute("SELECT seq FROM cursor WHERE name='ledger'").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self._conn.close()
        if self._owns_ledger:
            self._ledger.close()

    def step(self) -> int:
        """Index the next batch of ledger events; returns how many were indexed. If
        another indexer of this history.db moved the stored cursor since, nothing is
        written: the next step goes on from that cursor (a part rewritten from another
        first seq would hold pairs twice)."""
        rows = self._ledger.rows(self.cursor, BATCH - self.cursor % BUCKET)
        if not rows:
            return 0
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            stored = self._stored_cursor()
            if stored != self.cursor:
                self._conn.execute("ROLLBACK")
                self.cursor = stored
                return 0
            self._write(rows)
            self._conn.execute("INSERT OR REPLACE INTO cursor VALUES ('ledger', ?)",
                               (rows[-1].seq + 1,))
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            self._forget_terms()  # ids minted in the rolled-back transaction are gone
            raise
        self.cursor = rows[-1].seq + 1
        return len(rows)

    def _write(self, rows: list[LedgerRow]) -> None:
        """The rows' postings, bucket by bucket (rows are in seq order); each bucket the
        indexer leaves behind is compacted."""
        last = self.cursor - 1  # the last seq indexed before
        start = 0
        for i in range(1, len(rows) + 1):
            if i == len(rows) or bucket_of(rows[i].seq) != bucket_of(rows[start].seq):
                bucket = bucket_of(rows[start].seq)
                if last >= 0 and bucket_of(last) != bucket and (last + 1) % BUCKET:
                    self._compact(bucket_of(last))  # a gap in seqs left it unfinished
                self._write_bucket(rows[start:i])
                last = rows[i - 1].seq
                start = i
        if (last + 1) % BUCKET == 0:
            self._compact(bucket_of(last))

    def _write_bucket(self, rows: list[LedgerRow]) -> None:
        seqs_of: defaultdict[int, list[int]] = defaultdict(list)
        time_of: dict[int, int] = {}
        scopes, term_id = self._terms, self._term
        for seq, account, region, category, event_time, _ingested, _leaf, body in rows:
            if body is None:
                continue  # expired before it was indexed
            time_of[seq] = event_time
            scope = (account, region, category)
            cache = scopes.get(scope) or scopes.setdefault(scope, {})
            for pair in lookup_terms(orjson.loads(body)):  # the hot loop: ~13 per event
                seqs_of[cache.get(pair) or term_id(scope, pair)].append(seq)
        bucket = bucket_of(rows[0].seq)
        part = rows[0].seq % BUCKET
        out = []
        for term, seqs in seqs_of.items():
            times, ordered = sort_pairs(list(map(time_of.__getitem__, seqs)), seqs)
            out.append((bucket, term, part, times[0], times[-1], len(times),
                        encode(times, ordered, bucket)))
        self._conn.executemany("INSERT OR REPLACE INTO packed VALUES (?,?,?,?,?,?,?)", out)
        self._conn.executemany("UPDATE terms SET n = n + ? WHERE id = ?",
                               [(len(seqs), t) for t, seqs in seqs_of.items()])
        if part:  # a step inside a bucket: a backlog's steps start on a bucket
            self._count_parts(bucket, seqs_of)

    def _compact(self, bucket: int) -> None:
        """One row per term in `bucket`: the parts of each term written by several steps
        are merged into one."""
        many = self._conn.execute("SELECT term FROM packed WHERE bucket=? GROUP BY term "
                                  "HAVING count(*) > 1", (bucket,)).fetchall()
        for (term,) in many:
            self._compact_term(bucket, term)
        self._parts = {}

    def _count_parts(self, bucket: int, terms: Iterable[int]) -> None:
        """While a bucket fills, a term's parts there are compacted every PARTS steps that
        write it, so a reader of the bucket never reads more than PARTS rows of a term
        (counted in memory: after a restart the count starts again)."""
        if bucket != self._parts_bucket:
            self._parts_bucket, self._parts = bucket, {}
        for term in terms:
            count = self._parts.get(term, 0) + 1
            if count >= PARTS:
                self._compact_term(bucket, term)
                count = 1
            self._parts[term] = count

    def _compact_term(self, bucket: int, term: int) -> None:
        """The term's parts in `bucket` merged into one row (parts are in seq order, each
        sorted by (time, seq))."""
        times: list[int] = []
        seqs: list[int] = []
        for tmin, data in self._conn.execute(
                "SELECT tmin, data FROM packed WHERE bucket=? AND term=? ORDER BY part",
                (bucket, term)):
            t, s = decode(data, tmin, bucket)
            times += t
            seqs += s
        times, seqs = sort_pairs(times, seqs)
        self._conn.execute("DELETE FROM packed WHERE bucket=? AND term=?", (bucket, term))
        self._conn.execute("INSERT INTO packed VALUES (?,?,0,?,?,?,?)",
                           (bucket, term, times[0], times[-1], len(times),
                            encode(times, seqs, bucket)))

    def _term(self, scope: Scope, pair: Pair) -> int:
        """The term's id: from the table, else a new one; cached either way."""
        key = (*scope, *pair)
        row = self._conn.execute(
            "SELECT id FROM terms WHERE account=? AND region=? AND category=? AND attr=? "
            "AND value=?", key).fetchone()
        if row is None:
            row = self._conn.execute(
                "INSERT INTO terms (account, region, category, attr, value) "
                "VALUES (?,?,?,?,?) RETURNING id", key).fetchone()
        if self._cached >= TERM_CACHE_LIMIT:
            self._forget_terms()
        self._cached += 1
        term: int = row[0]
        self._terms.setdefault(scope, {})[pair] = term
        return term

    def _forget_terms(self) -> None:
        self._terms = {}
        self._cached = 0

    def purge(self) -> int:
        """Remove postings that fell out of the retention window (leaves stay in the
        ledger); returns how many (time, seq) pairs went."""
        if self._retention <= 0:
            return 0
        cutoff = int(self._clock.now()) - self._retention * 86400
        terms = [t for (t,) in self._conn.execute("SELECT id FROM terms")]
        removed = 0
        for term in terms:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                removed += self._purge_term(term, cutoff)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return removed

    def _purge_term(self, term: int, cutoff: int) -> int:
        """Rows wholly before `cutoff` go; rows across it keep their pairs from it on."""
        (gone,) = self._conn.execute(
            "SELECT coalesce(sum(n), 0) FROM packed WHERE term=? AND tmax < ?",
            (term, cutoff)).fetchone()
        self._conn.execute("DELETE FROM packed WHERE term=? AND tmax < ?", (term, cutoff))
        # Found in packed_by_time alone: a filter on tmin after reading each row from the
        # table read every row of the term (an hourly purge removing nothing took 1.8 s of
        # CPU at 10 M events).
        across = self._conn.execute(
            "SELECT bucket, part FROM packed WHERE term=? AND tmax >= ? AND tmin < ?",
            (term, cutoff, cutoff)).fetchall()
        for bucket, part in across:
            tmin, n, data = self._conn.execute(
                "SELECT tmin, n, data FROM packed WHERE bucket=? AND term=? AND part=?",
                (bucket, term, part)).fetchone()
            times, seqs = decode(data, tmin, bucket)
            cut = bisect_left(times, cutoff)
            self._conn.execute(
                "UPDATE packed SET tmin=?, n=?, data=? WHERE bucket=? AND term=? AND part=?",
                (times[cut], n - cut, encode(times[cut:], seqs[cut:], bucket), bucket, term,
                 part))
            gone += cut
        return int(gone)

    def run(self, stop: Callable[[], bool], idle: float = 0.01) -> None:
        """Index until `stop()` is true; polls the ledger when caught up."""
        while not stop():
            if self._clock.now() - self._last_purge > PURGE_EVERY:
                self._last_purge = self._clock.now()
                self.purge()
            if self.step() == 0:
                time.sleep(idle)


def run_indexer_process(data_dir: str, retention_days: int) -> None:
    """Entry point of the indexer child process; exits when its parent dies."""
    from opentrail.clock import SystemClock

    # Each batch parses thousands of acyclic dicts: as in the server (cli/serve.py), the
    # default gen-0 threshold would run the cyclic collector many times per batch.
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    parent = os.getppid()
    indexer = HistoryIndexer(Path(data_dir), SystemClock(), retention_days)
    try:
        indexer.run(lambda: os.getppid() != parent)
    finally:
        indexer.close()


def start_indexer_thread(indexer: HistoryIndexer) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=indexer.run, args=(stop.is_set,), name="history-indexer",
                              daemon=True)
    thread.start()
    return thread, stop
