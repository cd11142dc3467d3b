"""LookupEvents over an `IndexRows` backend: the same answers as `HistoryReader`.

The rules are history's (the retention window, NextToken bound to its query, eventID
answered from the ledger's id index, bodies from the ledger, newest first with ties by
seq); the rows find hits, with their bodies. Organization keys read every account's
partition and merge them newest first. A lookup by terms is one `page` read per account
(one statement on PostgreSQL); an eventID lookup reads the ledger's id index (the row
carries the body) and, with terms, checks them with `has`.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from typing import Any

import orjson

from opentrail.clock import Clock
from opentrail.history._fields import summarize
from opentrail.history._index_rows import Found, Hit, IndexRows, Scope
from opentrail.history._query import LookupQuery, LookupResult
from opentrail.history._token import decode_token, encode_token
from opentrail.ledger import LedgerReader

__all__ = ["RowsReader"]


class RowsReader:
    """Answers lookups from the rows (safe to share between request threads when they
    are: the PostgreSQL rows run each call on a pooled connection of its own)."""

    def __init__(self, rows: IndexRows, ledger: LedgerReader, clock: Clock,
                 retention_days: int) -> None:
        self._rows = rows
        self._ledger = ledger
        self._clock = clock
        self._retention = retention_days

    def window(self, query: LookupQuery) -> tuple[int, int]:
        """Inclusive [lo, hi] in epoch seconds after defaults and the retention window."""
        now = int(self._clock.now())
        floor = now - self._retention * 86400 if self._retention > 0 else 0
        lo = max(query.start if query.start is not None else floor, floor)
        hi = query.end if query.end is not None else now
        return lo, hi

    def lookup(self, query: LookupQuery) -> LookupResult:
        digest = query.digest()
        lo, hi = self.window(query)
        after = decode_token(query.next_token, digest) if query.next_token else None
        found = (self._by_event_id(query, lo, hi, after) if query.event_id
                 else self._by_terms(query, lo, hi, after))
        page = found[: query.max_results]
        token = None
        if len(found) > query.max_results:
            token = encode_token(page[-1][0], page[-1][1], digest)
        return LookupResult(_summaries(page), token)

    def _accounts(self, query: LookupQuery) -> Sequence[str]:
        return query.accounts if query.accounts is not None else self._rows.accounts()

    def _by_terms(self, query: LookupQuery, lo: int, hi: int,
                  after: Hit | None) -> list[Found]:
        limit = query.max_results + 1
        streams = [self._rows.page(Scope(account, query.region, int(query.category)),
                                   query.terms, lo, hi, after, limit)
                   for account in self._accounts(query)]
        if len(streams) == 1:
            return streams[0]
        merged = heapq.merge(*streams, key=_hit, reverse=True)
        return list(itertools.islice(merged, limit))

    def _by_event_id(self, query: LookupQuery, lo: int, hi: int,
                     after: Hit | None) -> list[Found]:
        """Ask the ledger for (account, eventID) once per visible account."""
        assert query.event_id is not None
        hits: list[Found] = []
        for account in self._accounts(query):
            row = self._ledger.event(account, query.event_id)
            if (row is None or row.body is None or row.region != query.region
                    or row.category != int(query.category) or not lo <= row.event_time <= hi):
                continue
            hit = (row.event_time, row.seq)
            scope = Scope(account, query.region, int(query.category))
            if (after is None or hit < after) and (
                    not query.terms or self._rows.has(scope, query.terms, hit)):
                hits.append((*hit, row.body))
        return sorted(hits, key=_hit, reverse=True)


def _hit(found: Found) -> Hit:
    return found[0], found[1]


def _summaries(page: list[Found]) -> list[dict[str, Any]]:
    return [summarize(orjson.loads(body), body, event_time)
            for event_time, _, body in page
            if body is not None]  # expired between index and read: skip, never invent
