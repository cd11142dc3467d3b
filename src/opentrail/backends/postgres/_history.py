"""The PostgreSQL history index (history/_index_rows.py): terms and postings tables.

Migration 0009 holds the schema. A term is one (account, region, category, attribute,
value), found by the SHA-256 of those five (`key`: one fixed-size unique index whatever
a value's length); a posting (term, time, seq) is one event having it, and the primary
key (term, time, seq) is the whole lookup: a backward range scan, newest first, bounded
by the time range and the page's keyset. An AND of terms drives with the rarest (`n`)
and probes the others' primary keys, as history.db does, unless the others are not much
more common: then it merge-joins every term's range. A page is one statement with the
events' bodies (`page`), on a connection lent without a check (`PgDb.read`).

`add` is one transaction that first moves the one-row cursor from `start` to `end`
(the row lock serialises indexers on every node, and a moved cursor refuses the batch),
then stores terms, postings (one binary COPY) and term counts. Term ids never change
once committed (the purge deletes postings only), so the indexer caches them.
"""

from __future__ import annotations

import hashlib
import struct
import time
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import orjson
import psycopg
from psycopg.pq import TransactionStatus

from opentrail.backends.postgres._db import Conn, PgDb
from opentrail.backends.postgres._ledger_reader import PgLedgerReader, with_bodies
from opentrail.history import (
    MANAGEMENT,
    Attr,
    Found,
    Hit,
    IndexedEvent,
    RowsIndexer,
    RowsReader,
    Scope,
    Term,
)

if TYPE_CHECKING:
    from opentrail.clock import Clock
    from opentrail.ledger import LedgerReader

__all__ = ["PgActivityRows", "PgHistoryIndex", "PgIndexRows", "term_key"]

TERM_CACHE_LIMIT = 200_000  # bounds the indexer's memory; a miss costs part of a query
SEEN_TTL = 30.0  # seconds a lookup trusts a term's cached posting count
SEEN_LIMIT = 100_000  # terms a lookup cache holds
PURGE_TERMS = 2_000  # terms per purge transaction
PROBE_RATIO = 20  # an AND probes when the other terms have 20x the rarest's postings
# An AND merge-joins with these settings, local to its transaction: the planner, which
# cannot tell how many postings match, would hash-join (reading every posting of every
# term; 1.7 s instead of 3 ms at 1 M events), and JIT or parallel workers cost more than
# the query.
MERGE_SETTINGS = ("SET LOCAL enable_hashjoin = off", "SET LOCAL enable_nestloop = off",
                  "SET LOCAL max_parallel_workers_per_gather = 0", "SET LOCAL jit = off")
ALL: tuple[Term, ...] = ((Attr.ALL, ""),)
_COPY = "COPY history_postings (term, time, seq) FROM STDIN (FORMAT BINARY)"
# The binary COPY format, written directly (a posting is one struct.pack, not a
# write_row call): signature, flags, header extension; per row the field count, then
# each field's length and big-endian value; -1 ends the data.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
_ROW = struct.Struct(">hiqiqiq")
_NONE: dict[Term, int] = {}
_NEW_TERMS = (
    "INSERT INTO history_terms (key, account, region, category, attr, value) "
    "SELECT * FROM unnest(%b::bytea[], %b::text[], %b::text[], %b::int[], %b::smallint[], "
    "%b::text[]) ON CONFLICT (key) DO NOTHING")


def term_key(scope: Scope, term: Term) -> bytes:
    """The term's unique key: the five fields, unambiguously encoded, hashed."""
    account, region, category = scope
    attr, value = term
    return hashlib.sha256(orjson.dumps([account, region, category, int(attr), value])).digest()


class PgIndexRows:
    def __init__(self, db: PgDb) -> None:
        self._db = db
        self._ids: dict[Scope, dict[Term, int]] = {}  # term ids, for the indexer
        self._cached = 0
        self._accounts: set[str] = set()
        self._seen: dict[bytes, tuple[int, int]] = {}  # term key -> (id, n), for lookups
        self._seen_at = 0.0

    def close(self) -> None:
        """Nothing to release: connections belong to the backend's pool."""

    def cursor(self) -> int:
        with self._db.transaction() as conn:
            row = conn.execute("SELECT seq FROM history_cursor").fetchone()
        return 0 if row is None else int(row[0])

    def add(self, events: Sequence[IndexedEvent], start: int, end: int) -> bool:
        try:
            with self._db.transaction() as conn:
                moved = conn.execute("UPDATE history_cursor SET seq = %s WHERE seq = %s",
                                     (end, start)).rowcount
                if moved != 1:
                    return False
                self._store(conn, events)
        except BaseException:
            self._forget()  # ids minted in the rolled-back transaction are gone
            raise
        return True

    def _store(self, conn: Conn, events: Sequence[IndexedEvent]) -> None:
        ids = self._term_ids(conn, events)
        counts: Counter[int] = Counter()
        rows = bytearray(_COPY_HEADER)
        for seq, scope, event_time, terms in events:  # the hot loop: ~13 postings per event
            cache = ids[scope]
            for term in terms:
                term_id = cache[term]
                rows += _ROW.pack(3, 8, term_id, 8, event_time, 8, seq)
                counts[term_id] += 1
        rows += _COPY_TRAILER
        with conn.cursor() as cur, cur.copy(_COPY) as copy:
            copy.write(rows)
        conn.execute("UPDATE history_terms t SET n = t.n + c.n FROM unnest(%b::bigint[], "
                     "%b::bigint[]) AS c(id, n) WHERE t.id = c.id",
                     (list(counts), list(counts.values())))
        fresh = {e.scope.account for e in events} - self._accounts
        if fresh:
            conn.execute("INSERT INTO history_accounts SELECT unnest(%s::text[]) "
                         "ON CONFLICT DO NOTHING", (sorted(fresh),))
            self._accounts |= fresh

    def _term_ids(self, conn: Conn, events: Sequence[IndexedEvent]
                  ) -> dict[Scope, dict[Term, int]]:
        """Ids of every term of `events`, by scope: cached, else stored, else made now."""
        ids = self._ids
        wanted = {(e.scope, t) for e in events for t in e.terms
                  if t not in ids.get(e.scope, _NONE)}
        if len(wanted) + self._cached > TERM_CACHE_LIMIT:
            self._ids = ids = {}
            self._cached = 0
            wanted = {(e.scope, t) for e in events for t in e.terms}
        if wanted:
            keyed = {term_key(scope, term): (scope, term) for scope, term in wanted}
            found = self._select(conn, keyed)
            missing = [k for k in keyed if k not in found]
            if missing:
                rows = [(k, *keyed[k][0], int(keyed[k][1][0]), keyed[k][1][1])
                        for k in missing]
                conn.execute(_NEW_TERMS, [list(column) for column in zip(*rows, strict=True)])
                self._select(conn, {k: keyed[k] for k in missing})
        return ids

    def _select(self, conn: Conn, keyed: dict[bytes, tuple[Scope, Term]]) -> set[bytes]:
        """Cache the ids of the stored terms among `keyed`; returns their keys."""
        found = conn.execute("SELECT key, id FROM history_terms WHERE key = ANY(%b)",
                             (list(keyed),)).fetchall()
        for key, term_id in found:
            scope, term = keyed[key]
            self._ids.setdefault(scope, {})[term] = term_id
        self._cached += len(found)
        return {key for key, _ in found}

    def _forget(self) -> None:
        self._ids = {}
        self._cached = 0
        self._accounts = set()

    def purge(self, cutoff: int) -> int:
        """Delete postings older than `cutoff`, a range of term ids at a time,
        PURGE_TERMS terms per transaction (lookups and the indexer go on)."""
        removed, last = 0, 0
        while True:
            with self._db.transaction() as conn:
                top = conn.execute("SELECT max(id) FROM (SELECT id FROM history_terms "
                                   "WHERE id > %s ORDER BY id LIMIT %s) t",
                                   (last, PURGE_TERMS)).fetchone()
                if top is None or top[0] is None:
                    return removed
                removed += conn.execute(
                    "DELETE FROM history_postings p USING history_terms t WHERE t.id > %s "
                    "AND t.id <= %s AND p.term = t.id AND p.time < %s",
                    (last, top[0], cutoff)).rowcount
                last = top[0]

    def accounts(self) -> list[str]:
        rows = self._db.read(lambda conn: conn.execute(
            "SELECT account FROM history_accounts ORDER BY account").fetchall())
        return [account for (account,) in rows]

    def page(self, scope: Scope, terms: Sequence[Term], lo: int, hi: int,
             after: Hit | None, limit: int) -> list[Found]:
        """One statement, one round trip (`PgDb.read`): the hits and their bodies."""
        return self._db.read(lambda conn: self._page(conn, scope, terms or ALL, lo, hi,
                                                     after, limit))

    def _page(self, conn: Conn, scope: Scope, terms: Sequence[Term], lo: int, hi: int,
              after: Hit | None, limit: int) -> list[Found]:
        if len(terms) == 1:  # no plan to choose: the term's id, else its key, in the query
            key = term_key(scope, terms[0])
            seen = self._seen.get(key)
            sql, params = with_bodies(*_probed([key if seen is None else seen[0]], lo, hi,
                                           after, limit))
            return conn.execute(sql, params, binary=True).fetchall()
        counted = self._rarest_first(conn, scope, terms)
        if counted is None:
            return []
        ids = [term for term, _ in counted]
        if _probing(counted):
            sql, params = with_bodies(*_probed(ids, lo, hi, after, limit))
            return conn.execute(sql, params, binary=True).fetchall()
        sql, params = with_bodies(*_merged(ids, lo, hi, after, limit))
        return _with_settings(conn, MERGE_SETTINGS, sql, params)

    def has(self, scope: Scope, terms: Sequence[Term], hit: Hit) -> bool:
        return self._db.read(lambda conn: self._has(conn, scope, terms or ALL, hit))

    def _has(self, conn: Conn, scope: Scope, terms: Sequence[Term], hit: Hit) -> bool:
        counted = self._rarest_first(conn, scope, terms)
        if counted is None:
            return False
        row = conn.execute("SELECT count(*) FROM history_postings WHERE term = "
                           "ANY(%s::bigint[]) AND time = %s AND seq = %s",
                           ([term for term, _ in counted], *hit)).fetchone()
        return row is not None and row[0] == len(counted)


    def _rarest_first(self, conn: Conn, scope: Scope, terms: Sequence[Term]
                      ) -> list[tuple[int, int]] | None:
        """The terms' (id, posting count), fewest postings first; None when one was never
        seen. Ids never change and counts only pick the plan, so both are cached for
        SEEN_TTL (an unseen term is asked again each time: it may be indexed since)."""
        keys = {term_key(scope, t) for t in terms}
        now = time.monotonic()
        if now - self._seen_at > SEEN_TTL or len(self._seen) > SEEN_LIMIT:
            self._seen, self._seen_at = {}, now
        seen = self._seen  # this call's (request threads may replace the attribute)
        missing = [k for k in keys if k not in seen]
        if missing:
            rows = conn.execute("SELECT key, id, n FROM history_terms WHERE key = ANY(%b)",
                                (missing,)).fetchall()
            seen.update((key, (term, n)) for key, term, n in rows)
            if len(rows) < len(missing):
                return None
        return sorted((seen[k] for k in keys), key=lambda r: (r[1], r[0]))


class PgHistoryIndex:
    """The backend's `HistoryIndex`: indexer and lookups over the shared tables."""

    def __init__(self, db: PgDb) -> None:
        self._db = db

    def indexer(self, clock: Clock, retention_days: int,
                ledger: LedgerReader | None = None) -> RowsIndexer:
        return RowsIndexer(PgIndexRows(self._db), ledger or PgLedgerReader(self._db), clock,
                           retention_days)

    def reader(self, clock: Clock, retention_days: int,
               ledger: LedgerReader | None = None) -> RowsReader:
        return RowsReader(PgIndexRows(self._db), ledger or PgLedgerReader(self._db), clock,
                          retention_days)

    def activity(self) -> PgActivityRows:
        return PgActivityRows(self._db)


class PgActivityRows:
    """`ActivityRows` (history/_activity_rows.py) over the shared tables: a term by its
    key, errorCode terms by the partial index of migration 0010, postings by the
    primary key's (term, time) prefix."""

    def __init__(self, db: PgDb) -> None:
        self._db = db

    def accounts(self) -> list[str]:
        return PgIndexRows(self._db).accounts()

    def term(self, account: str, region: str, attr: Attr, value: str) -> int | None:
        key = term_key(Scope(account, region, MANAGEMENT), (attr, value))
        with self._db.transaction() as conn:
            row = conn.execute("SELECT id FROM history_terms WHERE key = %s",
                               (key,)).fetchone()
        return None if row is None else int(row[0])

    def error_terms(self, account: str, region: str) -> list[int]:
        with self._db.transaction() as conn:
            # attr as a literal: the partial index's predicate (attr = 8) must match it.
            rows = conn.execute("SELECT id FROM history_terms WHERE account = %s AND "
                                "region = %s AND category = %s AND attr = "
                                f"{int(Attr.ERROR_CODE)}",
                                (account, region, MANAGEMENT)).fetchall()
        return [int(t) for (t,) in rows]

    def count(self, terms: Sequence[int], lo: int, hi: int) -> int:
        with self._db.transaction() as conn:
            row = conn.execute("SELECT count(*) FROM history_postings WHERE term = "
                               "ANY(%s::bigint[]) AND time >= %s AND time <= %s",
                               (list(terms), lo, hi)).fetchone()
        return 0 if row is None else int(row[0])

    def first(self, term: int, lo: int, hi: int, limit: int) -> list[int]:
        with self._db.transaction() as conn:
            rows = conn.execute("SELECT seq FROM history_postings WHERE term = %s AND "
                                "time >= %s AND time <= %s ORDER BY time, seq LIMIT %s",
                                (term, lo, hi, limit)).fetchall()
        return [int(s) for (s,) in rows]

    def close(self) -> None:
        """Nothing to release: connections belong to the backend's pool."""


def _with_settings(conn: Conn, settings: Sequence[str], sql: str,
                   params: list[int | bytes]) -> list[Found]:
    """`sql` in a transaction of its own that first applies `settings` (SET LOCAL), all
    pipelined up to one Sync: one round trip (psycopg's transaction() would sync after
    BEGIN and before COMMIT too). Inside this thread's transaction, the settings stay
    until its end."""
    nested = conn.info.transaction_status != TransactionStatus.IDLE
    try:
        with conn.pipeline():
            if not nested:
                conn.execute("BEGIN")
            for setting in settings:
                conn.execute(setting)
            cursor = conn.execute(sql, params, binary=True)
            if not nested:
                conn.execute("COMMIT")
    except psycopg.Error:
        if not nested and not conn.broken:
            conn.execute("ROLLBACK")  # back to the pool idle, not in a failed transaction
        raise
    return cursor.fetchall()


def _probing(counted: list[tuple[int, int]]) -> bool:
    """Whether an AND probes the other terms per candidate of the rarest rather than
    merge-joining every term's postings: when the others have PROBE_RATIO times as many
    postings as the rarest, a merge would read more entries than the probes cost."""
    rarest = counted[0][1]
    return sum(n for _, n in counted[1:]) >= PROBE_RATIO * max(rarest, 1)


def _range(alias: str, after: Hit | None, by_key: bool = False) -> str:
    """A term's postings in [lo, hi] below the keyset: the bounds of one backward scan.
    `by_key`: the term is given by its key (an id not known yet, found in the query)."""
    term = "(SELECT t.id FROM history_terms t WHERE t.key = %s)" if by_key else "%s"
    where = f"{alias}.term = {term} AND {alias}.time >= %s AND {alias}.time <= %s"
    return where if after is None else where + f" AND ({alias}.time, {alias}.seq) < (%s, %s)"


def _probed(ids: Sequence[int | bytes], lo: int, hi: int, after: Hit | None,
            limit: int) -> tuple[str, list[int | bytes]]:
    """Newest-first hits of the rarest term that every other term also has, probed per
    candidate (a scalar subquery each: written as EXISTS, the planner hash-joined)."""
    where = _range("p", after, by_key=isinstance(ids[0], bytes))
    params: list[int | bytes] = [ids[0], lo, hi, *(after or ())]
    for other in ids[1:]:
        where += (" AND (SELECT 1 FROM history_postings q WHERE q.term = %s "
                  "AND q.time = p.time AND q.seq = p.seq) IS NOT NULL")
        params.append(other)
    return (f"SELECT p.time, p.seq FROM history_postings p WHERE {where} "
            "ORDER BY p.time DESC, p.seq DESC LIMIT %s", [*params, limit])


def _merged(ids: list[int], lo: int, hi: int, after: Hit | None,
            limit: int) -> tuple[str, list[int | bytes]]:
    """Newest-first hits common to every term: each term's range scanned backward once,
    merge-joined on (time, seq) (MERGE_SETTINGS keep the planner from hashing)."""
    sql, params = "SELECT p0.time, p0.seq FROM history_postings p0", list[int | bytes]()
    for n, other in enumerate(ids[1:], 1):
        sql += (f" JOIN history_postings p{n} ON p{n}.time = p0.time AND p{n}.seq = p0.seq "
                f"AND {_range(f'p{n}', after)}")
        params += [other, lo, hi, *(after or ())]
    sql += f" WHERE {_range('p0', after)} ORDER BY p0.time DESC, p0.seq DESC LIMIT %s"
    return sql, [*params, ids[0], lo, hi, *(after or ()), limit]
