"""Activity overview straight from the history index: the console's overview page, a
reader of history through `ActivityRows` (history.db opened read-only, or the
database's index tables), bodies from the ledger's reader.

Events and errors per hour are exact: each is a count over one term's postings, which
the index answers without reading any event (history.db from its packed rows' pair
counts, decoding only rows that straddle an hour). The top event names and users
need the events themselves, so above SAMPLE events they are estimated from a sample
spread evenly over the range (each hour weighted by its exact count); the page says so.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from opentrail.clock import Clock
from opentrail.history._activity_rows import ActivityRows, HistoryDbActivityRows
from opentrail.history._fields import Attr, lookup_terms
from opentrail.history._query import READER_CACHE_KIB
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
    """Read-only queries over the history index (and event bodies from the ledger):
    history.db and the data dir's ledger by default, or the `rows` and `ledger` given
    (a PostgreSQL backend's)."""

    def __init__(self, data_dir: Path, clock: Clock, ledger: LedgerReader | None = None,
                 rows: ActivityRows | None = None) -> None:
        self._clock = clock
        self._ledger = (ledger if ledger is not None
                        else open_ledger_reader(data_dir, READER_CACHE_KIB))
        self._rows = rows if rows is not None else HistoryDbActivityRows(data_dir)
        self._cache: dict[tuple[object, ...], tuple[float, Overview]] = {}
        self._lock = threading.Lock()

    def accounts(self, accounts: tuple[str, ...] | None) -> Sequence[str]:
        return accounts if accounts is not None else self._rows.accounts()

    def regions(self, accounts: tuple[str, ...] | None) -> list[str]:
        """The standard regions that hold management events for these accounts."""
        names = self.accounts(accounts)
        return [region for region in AWS_REGIONS
                if any(self._rows.term(a, region, Attr.ALL, "") is not None for a in names)]

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
        rows = self._rows
        first = lo - lo % HOUR
        hours = [(max(h, lo), min(h + HOUR - 1, hi)) for h in range(first, hi + 1, HOUR)]
        out = Overview(first, [0] * len(hours), [0] * len(hours))
        samples: list[tuple[int, float]] = []  # (seq, weight)
        for account in self.accounts(accounts):
            every = rows.term(account, region, Attr.ALL, "")
            if every is None:
                continue
            counts = [rows.count([every], a, b) for a, b in hours]
            errors = rows.error_terms(account, region)
            for i, (a, b) in enumerate(hours):
                out.counts[i] += counts[i]
                out.errors[i] += rows.count(errors, a, b) if errors and counts[i] else 0
            samples += _sample(rows, every, hours, counts, SAMPLE)
        _rank(self._ledger, out, samples)
        return out


def _sample(rows: ActivityRows, term: int, hours: list[tuple[int, int]],
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
        seqs = _probe(rows, term, a, b, per_hour, counts[i])
        out += [(s, counts[i] / len(seqs)) for s in seqs]
    return out


def _probe(rows: ActivityRows, term: int, lo: int, hi: int, n: int, count: int) -> list[int]:
    if count <= n:  # small hour: take all of it
        return rows.first(term, lo, hi, n)
    step = (hi - lo + 1) / n
    return sorted({s for k in range(n) for s in rows.first(term, lo + int(k * step), hi, 1)})


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
