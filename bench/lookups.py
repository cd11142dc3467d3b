"""Target 3: LookupEvents latency on a large store, beside DuckDB scanning the same
events as gzipped CloudTrail log files.

Queries are drawn from a sample of the stored events: alternately weighted by how often
a value occurs (common values) and uniformly over the distinct values seen (rare ones).
Every query asks for the first page (MaxResults 50), newest first, up to the newest
stored event (EndTime), which leaves out the audit records of the bench's own calls.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.client import ApiClient
from bench.report import percentile
from bench.store import StoreInfo

__all__ = ["ATTRIBUTES", "AttrResult", "Query", "draw_queries", "label", "params",
           "time_opentrail"]

AND3 = ("Username", "EventSource", "ReadOnly")
ATTRIBUTES = ("EventName", "ReadOnly", "Username", "ResourceType", "ResourceName",
              "EventSource", "AccessKeyId", "EventId", "ErrorCode", "AND3")
PAGE = 50

Query = tuple[tuple[str, str], ...]  # (AttributeKey, AttributeValue) pairs, ANDed


@dataclass
class AttrResult:
    name: str
    queries: list[Query]
    seconds: list[float] = field(default_factory=list)
    answers: list[list[tuple[str, int]]] = field(default_factory=list)  # (EventId, time)
    duckdb_seconds: list[float] = field(default_factory=list)
    agree: int = 0
    server_cpu: float = 0.0  # CPU seconds of the server's process tree over these queries

    def pct(self, q: float) -> float:
        """Percentile q (0..100) of the OpenTrail times."""
        return percentile(self.seconds, q)

    @property
    def median_hits(self) -> float:
        return statistics.median(len(a) for a in self.answers)


def label(name: str) -> str:
    return " AND ".join(AND3) if name == "AND3" else name


def _single(sample: list[dict[str, list[str]]], name: str, rng: random.Random
            ) -> Callable[[int], Query]:
    weighted = [v for event in sample for v in event.get(name, ())]
    distinct = sorted(set(weighted))
    return lambda i: ((name, rng.choice(weighted if i % 2 == 0 else distinct)),)


def _and3(sample: list[dict[str, list[str]]], rng: random.Random) -> Callable[[int], Query]:
    combos = [tuple((k, e[k][0]) for k in AND3) for e in sample if all(k in e for k in AND3)]
    distinct = sorted(set(combos))
    return lambda i: rng.choice(combos if i % 2 == 0 else distinct)


def draw_queries(info: StoreInfo, name: str, count: int, seed: int) -> list[Query]:
    """`count` queries for one attribute: even ones common, odd ones rare."""
    rng = random.Random(f"{seed}|{name}")
    draw = _and3(info.sample, rng) if name == "AND3" else _single(info.sample, name, rng)
    return [draw(i) for i in range(count)]


def params(query: Query, info: StoreInfo) -> dict[str, Any]:
    return {"LookupAttributes": [{"AttributeKey": k, "AttributeValue": v} for k, v in query],
            "EndTime": int(info.end), "MaxResults": PAGE}


def time_opentrail(client: ApiClient, info: StoreInfo, result: AttrResult,
                   budget: float) -> None:
    """Run the queries one after another; stop early if the time budget is spent."""
    began = time.perf_counter()
    for query in result.queries:
        answer = client.lookup(params(query, info))
        result.seconds.append(answer.seconds)
        result.answers.append([(e["EventId"], int(e["EventTime"])) for e in answer.events])
        if time.perf_counter() - began > budget:
            break
    del result.queries[len(result.seconds):]
