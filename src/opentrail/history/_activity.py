"""Activity overview straight from the history index (history.db, opened read-only):
the console's overview page, a reader of history (bodies from the ledger's reader).

Events and errors per hour are exact: each is a count over one term's postings, which
SQLite answers from the b-tree without reading any event. The top event names and users
need the events themselves, so above SAMPLE events they are estimated from a sample
spread evenly over the range (each hour weighted by its exact count); the page says so.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from opentrail.clock import Clock
from opentrail.events import Category
from opentrail.history._fields import Attr, lookup_terms
from opentrail.history._query import READER_CACHE_KIB, open_history_reader
from opentrail.ledger import LedgerReader, open_ledger_reader

__all__ = ["AWS_REGIONS", "ActivityIndex", "Overview"]

HOUR = 3600
SAMPLE = 1000
TOP = 10
CACHE_SECONDS = 30.0
AWS_REGIONS = (
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "af-south-1", "ap-east-1",
    "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
    "ap-southeast-4", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-west-1", "eu-west-2",
    "eu-west-3", "eu-south-1", "eu-south-2", "eu-north-1", "il-central-1", "me-south-1",
    "me-central-1", "sa-east-1",
)
_MGMT = int(Category.MANAGEMENT)


@dataclass
class Overview:
    lo: int  # first hour shown (epoch seconds, on the hour)
    counts: list[int]  # events per hour
    errors: list[int]  # events with an errorCode per hour
    top_names: list[tuple[str, int]] = field(default_factory=list)
    top_users: list[tuple[str, int]] = field(default_factory=list)
    sampled: int = 0  # events read to rank the tops
    exact: bool = True  # False when the tops are estimates from a sample

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def error_total(self) -> int:
        return sum(self.errors)

    @property
    def error_rate(self) -> float:
        return self.error_total / self.total if self.total else 0.0


class ActivityIndex:
    """Read-only queries over history.db (and event bodies from the ledger)."""

    def __init__(self, data_dir: Path, clock: Clock, ledger: LedgerReader | None = None) -> None:
        self._dir = data_dir
        self._clock = clock
        self._ledger = (ledger if ledger is not None
                        else open_ledger_reader(data_dir, READER_CACHE_KIB))
        self._local = threading.local()
        self._cache: dict[tuple[object, ...], tuple[float, Overview]] = {}
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = open_history_reader(self._dir)
        return conn

    def accounts(self, accounts: tuple[str, ...] | None) -> Sequence[str]:
        if accounts is not None:
            return accounts
        return [a for (a,) in self._conn().execute("SELECT DISTINCT account FROM terms")]

    def regions(self, accounts: tuple[str, ...] | None) -> list[str]:
        """The standard regions that hold management events for these accounts."""
        conn, found = self._conn(), []
        names = self.accounts(accounts)
        for region in AWS_REGIONS:
            if any(self._term(conn, a, region, Attr.ALL, "") for a in names):
                found.append(region)
        return found

    @staticmethod
    def _term(conn: sqlite3.Connection, account: str, region: str, attr: Attr,
              value: str) -> int | None:
        row = conn.execute(
            "SELECT id FROM terms WHERE account=? AND region=? AND category=? AND attr=? "
            "AND value=?", (account, region, _MGMT, int(attr), value)).fetchone()
        return None if row is None else int(row[0])

    def overview(self, accounts: tuple[str, ...] | None, region: str, lo: int,
                 hi: int) -> Overview:
        key = (accounts, region, lo // 60, hi // 60)
        now = self._clock.now()
        with self._lock:
            hit = self._cache.get(key)
            if hit and now - hit[0] < CACHE_SECONDS:
                return hit[1]
        result = self._compute(accounts, region, lo, hi)
        with self._lock:
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = (now, result)
        return result

    def _compute(self, accounts: tuple[str, ...] | None, region: str, lo: int,
                 hi: int) -> Overview:
        conn = self._conn()
        first = lo - lo % HOUR
        hours = [(max(h, lo), min(h + HOUR - 1, hi)) for h in range(first, hi + 1, HOUR)]
        out = Overview(first, [0] * len(hours), [0] * len(hours))
        samples: list[tuple[int, float]] = []  # (seq, weight)
        for account in self.accounts(accounts):
            every = self._term(conn, account, region, Attr.ALL, "")
            if every is None:
                continue
            counts = [_count(conn, [every], a, b) for a, b in hours]
            errors = _error_terms(conn, account, region)
            for i, (a, b) in enumerate(hours):
                out.counts[i] += counts[i]
                out.errors[i] += _count(conn, errors, a, b) if errors and counts[i] else 0
            samples += _sample(conn, every, hours, counts, SAMPLE)
        _rank(self._ledger, out, samples)
        return out


def _count(conn: sqlite3.Connection, terms: Sequence[int], lo: int, hi: int) -> int:
    marks = ",".join("?" * len(terms))
    row = conn.execute(f"SELECT count(*) FROM postings WHERE term IN ({marks}) AND time >= ? "
                       "AND time <= ?", [*terms, lo, hi]).fetchone()
    return int(row[0])


def _error_terms(conn: sqlite3.Connection, account: str, region: str) -> list[int]:
    rows = conn.execute("SELECT id FROM terms WHERE account=? AND region=? AND category=? "
                        "AND attr=?", (account, region, _MGMT, int(Attr.ERROR_CODE)))
    return [int(t) for (t,) in rows]


def _sample(conn: sqlite3.Connection, term: int, hours: list[tuple[int, int]],
            counts: list[int], budget: int) -> list[tuple[int, float]]:
    """About `budget` (seq, weight) pairs: each non-empty hour gets the same number of
    probes, each probe weighted so the hour counts as its exact number of events."""
    busy = [i for i, c in enumerate(counts) if c]
    if not busy:
        return []
    per_hour = max(1, budget // len(busy))
    out: list[tuple[int, float]] = []
    for i in busy:
        a, b = hours[i]
        seqs = _probe(conn, term, a, b, per_hour, counts[i])
        out += [(s, counts[i] / len(seqs)) for s in seqs]
    return out


def _probe(conn: sqlite3.Connection, term: int, lo: int, hi: int, n: int,
           count: int) -> list[int]:
    sql = ("SELECT seq FROM postings WHERE term=? AND time >= ? AND time <= ? "
           "ORDER BY time, seq LIMIT ?")
    if count <= n:  # small hour: take all of it
        return [int(s) for (s,) in conn.execute(sql, (term, lo, hi, n))]
    step = (hi - lo + 1) / n
    seqs = {int(r[0]) for k in range(n)
            for r in conn.execute(sql, (term, lo + int(k * step), hi, 1))}
    return sorted(seqs)


def _rank(ledger: LedgerReader, out: Overview, samples: list[tuple[int, float]]) -> None:
    names: dict[str, float] = {}
    users: dict[str, float] = {}
    for body, weight in _bodies(ledger, samples):
        for attr, value in lookup_terms(orjson.loads(body)):
            if attr is Attr.EVENT_NAME:
                names[value] = names.get(value, 0.0) + weight
            elif attr is Attr.USERNAME:
                users[value] = users.get(value, 0.0) + weight
    out.sampled = len(samples)
    out.exact = all(w == 1.0 for _, w in samples)
    out.top_names = _top(names)
    out.top_users = _top(users)


def _top(weights: dict[str, float]) -> list[tuple[str, int]]:
    ranked = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
    return [(k, max(1, round(v))) for k, v in ranked]


def _bodies(ledger: LedgerReader,
            samples: list[tuple[int, float]]) -> Iterable[tuple[bytes, float]]:
    weights = dict(samples)
    for seq, body in ledger.bodies(list(weights)).items():
        if body is not None:
            yield body, weights[seq]
