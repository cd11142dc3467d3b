"""Pagination invariants over the real writer and indexer (in-process, no HTTP)."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opentrail.clock import ManualClock
from opentrail.events import Category, parse_record
from opentrail.history import Attr, HistoryIndexer, HistoryReader, LookupQuery
from opentrail.ledger import LedgerWriter

NOW = 1795600000.0


def _store(times: list[int], names: list[str]) -> Path:
    data_dir = Path(tempfile.mkdtemp())
    clock = ManualClock(NOW)
    writer = LedgerWriter(data_dir, clock)
    writer.start()
    records = []
    for t, name in zip(times, names, strict=True):
        raw = {"eventVersion": "1.11", "eventTime": _iso(t), "eventSource": "s.amazonaws.com",
               "eventName": name, "awsRegion": "us-east-1", "eventID": str(uuid.uuid4()),
               "userIdentity": {"type": "IAMUser"}, "recipientAccountId": "123456789012"}
        records.append(parse_record(raw, default_account="x", default_region="us-east-1"))
    if records:
        writer.submit(records).result()
    writer.close()
    indexer = HistoryIndexer(data_dir, clock, 0)
    while indexer.step():
        pass
    indexer.close()
    return data_dir


def _iso(ts: int) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(times=st.lists(st.integers(NOW - 500, NOW), max_size=120),
       page=st.integers(1, 50), name=st.sampled_from([None, "A", "B"]))
def test_every_match_appears_once_in_order(times: list[int], page: int,
                                           name: str | None) -> None:
    names = ["A" if i % 3 else "B" for i in range(len(times))]
    reader = HistoryReader(_store(times, names), ManualClock(NOW), 0)
    terms = ((Attr.EVENT_NAME, name),) if name else ()
    seen: list[tuple[int, str]] = []
    token = None
    while True:
        query = LookupQuery(("123456789012",), "us-east-1", Category.MANAGEMENT, terms, None,
                            None, None, page, token)
        result = reader.lookup(query)
        seen += [(e["EventTime"], e["EventId"]) for e in result.events]
        assert len(result.events) <= page
        if not (token := result.next_token):
            break
    expected = sum(1 for n in names if name is None or n == name)
    assert len(seen) == expected
    assert len({eid for _, eid in seen}) == expected
    assert [t for t, _ in seen] == sorted((t for t, _ in seen), reverse=True)
