"""The contract of the history index: LookupEvents answers the same on every backend.

Each test runs once per entry of BACKENDS (history.db on SQLite, the shared tables on
PostgreSQL), through `Backend.history_index()`: the backend's indexer follows its
ledger, its reader answers lookups. Answers are checked against an oracle computed from
the records themselves (every (attribute, value) `lookup_terms` gives, newest first by
(eventTime, seq)), so both backends answer as the oracle does, hence identically.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opentrail.clock import ManualClock
from opentrail.errors import ValidationError
from opentrail.events import Category, Record, parse_record
from opentrail.history import (
    Attr,
    HistoryIndex,
    Indexer,
    LookupQuery,
    Lookups,
    lookup_terms,
)
from opentrail.ledger import LedgerReader, LedgerWriter
from opentrail.sources.demo import generate

NOW = 1795600000
DAY = 86400
ACCOUNT, OTHER = "111111111111", "222222222222"


@dataclass
class HistoryUnderTest:
    clock: ManualClock
    writer: LedgerWriter
    ledger: LedgerReader
    index: HistoryIndex
    appended: list[Record] = field(default_factory=list)  # in seq order

    def append(self, records: Sequence[Record]) -> None:
        assert all(self.writer.submit(records).result())
        self.appended += records

    def indexed(self, retention_days: int = 0, indexer: Indexer | None = None) -> None:
        """Index everything appended so far (with `indexer`, else a fresh one)."""
        own = indexer or self.index.indexer(self.clock, retention_days, ledger=self.ledger)
        while own.step() or own.cursor < len(self.appended):
            pass
        if indexer is None:
            own.close()

    def lookup(self, retention_days: int = 0, reader: Lookups | None = None,
               **kw: Any) -> tuple[list[str], str | None]:
        reader = reader or self.index.reader(self.clock, retention_days, ledger=self.ledger)
        args: dict[str, Any] = {"accounts": (ACCOUNT,), "region": "us-east-1",
                                "category": Category.MANAGEMENT, "terms": (),
                                "event_id": None, "start": None, "end": None,
                                "max_results": 50, **kw}
        result = reader.lookup(LookupQuery(**args))
        return [e["EventId"] for e in result.events], result.next_token


@contextmanager
def sqlite_history(folder: Path, request: pytest.FixtureRequest) -> Iterator[HistoryUnderTest]:
    from opentrail.backends.sqlite import SqliteBackend

    backend = SqliteBackend(folder)
    with _driven(backend) as under_test:
        yield under_test


@contextmanager
def postgres_history(folder: Path,
                     request: pytest.FixtureRequest) -> Iterator[HistoryUnderTest]:
    from conftest import TEST_MASTER_KEY
    from opentrail.backends.postgres import PostgresBackend

    backend = PostgresBackend.open(request.getfixturevalue("postgres_url"), TEST_MASTER_KEY,
                                   pool_size=4)
    try:
        with _driven(backend) as under_test:
            yield under_test
    finally:
        backend.close()


@contextmanager
def _driven(backend: Any) -> Iterator[HistoryUnderTest]:
    clock = ManualClock(NOW)
    writer, ledger = backend.ledger_writer(clock), backend.ledger_reader()
    writer.start()
    try:
        yield HistoryUnderTest(clock, writer, ledger, backend.history_index())
    finally:
        ledger.close()
        writer.close()


BACKENDS: dict[str, Callable[[Path, pytest.FixtureRequest],
                             AbstractContextManager[HistoryUnderTest]]] = {
    "sqlite": sqlite_history,
    "postgresql": postgres_history,
}


@pytest.fixture(params=sorted(BACKENDS))
def history(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HistoryUnderTest]:
    with BACKENDS[request.param](tmp_path / "data", request) as under_test:
        yield under_test


def _demo(count: int, account: str = ACCOUNT, seed: int = 7) -> list[Record]:
    raws = generate(seed=seed, count=count, start=NOW - 3 * DAY, end=NOW - 60,
                    account=account, regions=("us-east-1", "eu-west-1"))
    return [parse_record(raw, default_account=account, default_region="us-east-1")
            for raw in raws]


def _record(n: int, *, when: int, account: str = ACCOUNT, name: str = "ListBuckets",
            **extra: Any) -> Record:
    raw = {"eventVersion": "1.11", "eventSource": "s3.amazonaws.com", "eventName": name,
           "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when)),
           "awsRegion": "us-east-1", "eventID": f"00000000-0000-4000-8000-{n:012d}",
           "recipientAccountId": account, **extra}
    return parse_record(raw, default_account=account, default_region="us-east-1")


def _oracle(history: HistoryUnderTest, terms: Sequence[tuple[Attr, str]] = (), *,
            accounts: Sequence[str] = (ACCOUNT,), region: str = "us-east-1",
            category: Category = Category.MANAGEMENT, lo: int = 0,
            hi: int = NOW) -> list[str]:
    """Every matching eventID, newest first by (eventTime, seq)."""
    hits = [(r.event_time, seq, r.event_id) for seq, r in enumerate(history.appended)
            if r.account in accounts and r.region == region and r.category == category
            and lo <= r.event_time <= hi
            and set(terms) <= set(lookup_terms(orjson.loads(r.body)))]
    return [eid for _, _, eid in sorted(hits, reverse=True)]


def _values(history: HistoryUnderTest, attr: Attr) -> list[str]:
    """The values of `attr` in the management events of ACCOUNT in us-east-1."""
    found = {value for r in history.appended if r.account == ACCOUNT
             and r.region == "us-east-1" and r.category == Category.MANAGEMENT
             for a, value in lookup_terms(orjson.loads(r.body)) if a == attr}
    return sorted(found)


LOOKUP_ATTRS = (Attr.EVENT_NAME, Attr.READ_ONLY, Attr.USERNAME, Attr.RESOURCE_TYPE,
                Attr.RESOURCE_NAME, Attr.EVENT_SOURCE, Attr.ACCESS_KEY_ID, Attr.ERROR_CODE,
                Attr.USER_IDENTITY_ARN, Attr.SOURCE_IP, Attr.EVENT_TYPE)


@pytest.mark.parametrize("attr", LOOKUP_ATTRS, ids=lambda a: a.name)
def test_each_attribute_finds_what_the_records_say(history: HistoryUnderTest,
                                                   attr: Attr) -> None:
    history.append(_demo(400))
    history.indexed()
    values = _values(history, attr)
    assert values, f"the demo records have no {attr.name}"
    for value in values[:6] + values[-3:]:
        expected = _oracle(history, [(attr, value)])
        got, token = history.lookup(terms=((attr, value),), max_results=1000)
        assert got == expected and token is None


def test_every_event_newest_first_then_paged(history: HistoryUnderTest) -> None:
    history.append(_demo(300))
    history.indexed()
    expected = _oracle(history)
    seen, token = [], None
    while True:
        page, token = history.lookup(max_results=7, next_token=token)
        assert len(page) <= 7
        seen += page
        if token is None:
            break
    assert seen == expected and len(expected) > 50


def test_and_of_terms_and_unknown_values(history: HistoryUnderTest) -> None:
    history.append(_demo(400))
    history.indexed()
    user = _values(history, Attr.USERNAME)[0]
    for ro in ("true", "false"):
        terms = ((Attr.USERNAME, user), (Attr.READ_ONLY, ro))
        assert history.lookup(terms=terms, max_results=1000)[0] == _oracle(history, terms)
    assert history.lookup(terms=((Attr.USERNAME, "nobody-at-all"),)) == ([], None)
    assert history.lookup(terms=((Attr.USERNAME, user), (Attr.EVENT_NAME, "Nope"))) == (
        [], None)


def test_time_range_bounds_are_inclusive(history: HistoryUnderTest) -> None:
    history.append([_record(n, when=NOW - 1000 + 10 * n) for n in range(20)])
    history.indexed()
    lo, hi = NOW - 1000 + 30, NOW - 1000 + 120
    got, _ = history.lookup(start=lo, end=hi)
    assert got == _oracle(history, lo=lo, hi=hi) and len(got) == 10


def test_ties_in_time_order_by_seq_across_pages(history: HistoryUnderTest) -> None:
    history.append([_record(n, when=NOW - 50) for n in range(12)])
    history.indexed()
    first, token = history.lookup(max_results=5)
    second, token2 = history.lookup(max_results=5, next_token=token)
    third, token3 = history.lookup(max_results=5, next_token=token2)
    assert first + second + third == _oracle(history) and token3 is None
    assert first[0] == "00000000-0000-4000-8000-000000000011"


def test_partitions_accounts_regions_categories(history: HistoryUnderTest) -> None:
    history.append(_demo(150) + _demo(150, account=OTHER, seed=8))
    history.append([_record(1000 + n, when=NOW - 100 + n, eventCategory="Data",
                            managementEvent=False, name="GetObject") for n in range(5)])
    history.indexed()
    for region in ("us-east-1", "eu-west-1"):
        got, _ = history.lookup(region=region, max_results=1000)
        assert got == _oracle(history, region=region)
    both = (ACCOUNT, OTHER)
    assert history.lookup(accounts=None, max_results=1000)[0] == _oracle(history,
                                                                          accounts=both)
    assert history.lookup(accounts=(OTHER,), max_results=1000)[0] == _oracle(
        history, accounts=(OTHER,))
    data, _ = history.lookup(category=Category.DATA)
    assert data == _oracle(history, category=Category.DATA) and len(data) >= 5


def test_event_id_with_and_without_terms(history: HistoryUnderTest) -> None:
    history.append(_demo(100))
    history.indexed()
    target = next(r for r in history.appended
                  if r.region == "us-east-1" and r.category == Category.MANAGEMENT)
    name = orjson.loads(target.body)["eventName"]
    assert history.lookup(event_id=target.event_id)[0] == [target.event_id]
    assert history.lookup(event_id=target.event_id,
                          terms=((Attr.EVENT_NAME, name),))[0] == [target.event_id]
    assert history.lookup(event_id=target.event_id,
                          terms=((Attr.EVENT_NAME, name + "x"),))[0] == []
    assert history.lookup(event_id=target.event_id, accounts=(OTHER,))[0] == []
    assert history.lookup(event_id=target.event_id, region="eu-west-1")[0] == []


def test_a_token_binds_to_its_query(history: HistoryUnderTest) -> None:
    history.append([_record(n, when=NOW - 50 + n) for n in range(5)])
    history.indexed()
    _, token = history.lookup(max_results=2)
    assert token is not None
    with pytest.raises(ValidationError):
        history.lookup(max_results=2, next_token=token, start=NOW - 40)


def test_retention_window_then_purge(history: HistoryUnderTest) -> None:
    history.append([_record(0, when=NOW - 95 * DAY), _record(1, when=NOW - DAY),
                    _record(2, when=NOW)])
    history.indexed(retention_days=90)
    assert len(history.lookup(retention_days=90)[0]) == 2  # the 95-day-old one is out
    assert len(history.lookup(retention_days=0)[0]) == 3  # 0 keeps everything
    indexer = history.index.indexer(history.clock, 90, ledger=history.ledger)
    assert indexer.purge() == 3  # its postings: ALL, EventName, EventSource
    assert indexer.purge() == 0
    indexer.close()
    assert len(history.lookup(retention_days=0)[0]) == 2


def test_the_indexer_resumes_from_its_cursor(history: HistoryUnderTest) -> None:
    history.append([_record(n, when=NOW - 500 + n) for n in range(30)])
    history.indexed()
    history.append([_record(100 + n, when=NOW - 100 + n) for n in range(30)])
    history.indexed()  # a new indexer: starts where the last one's commit left the cursor
    assert history.lookup(max_results=100)[0] == _oracle(history)


def test_a_reader_sees_what_is_indexed_after_it_was_made(
        history: HistoryUnderTest) -> None:
    """Lookups may cache what they know of terms, never that a term is unknown, and
    never the hits themselves."""
    reader = history.index.reader(history.clock, 0, ledger=history.ledger)
    history.append([_record(n, when=NOW - 500 + n) for n in range(10)])
    history.indexed()
    known = ((Attr.EVENT_NAME, "ListBuckets"),)
    new = ((Attr.EVENT_NAME, "CreateBucket"),)
    assert len(history.lookup(reader=reader, terms=known)[0]) == 10
    assert history.lookup(reader=reader, terms=new)[0] == []
    history.append([_record(100 + n, when=NOW - 100 + n, name=name) for n in range(6)
                    for name in ("ListBuckets", "CreateBucket")[n % 2:n % 2 + 1]])
    history.indexed()
    assert history.lookup(reader=reader, terms=known)[0] == _oracle(history, known)
    assert history.lookup(reader=reader, terms=new)[0] == _oracle(history, new)
    assert len(_oracle(history, new)) == 3


def test_two_indexers_store_each_event_once(history: HistoryUnderTest) -> None:
    """Two nodes' (or processes') indexers on one index: no duplicate, no gap."""
    first = history.index.indexer(history.clock, 0, ledger=history.ledger)
    second = history.index.indexer(history.clock, 0, ledger=history.ledger)
    for round_ in range(3):
        history.append([_record(100 * round_ + n, when=NOW - 900 + 100 * round_ + n)
                        for n in range(20)])
        history.indexed(indexer=first if round_ % 2 else second)
        history.indexed(indexer=second if round_ % 2 else first)
    first.close()
    second.close()
    assert history.lookup(max_results=100)[0] == _oracle(history)
    assert history.lookup(max_results=100, terms=((Attr.EVENT_NAME, "ListBuckets"),))[0] == (
        _oracle(history))


def test_an_indexer_behind_another_goes_on_from_its_cursor(
        history: HistoryUnderTest) -> None:
    """An indexer whose cursor another one moved meanwhile, by steps of another size,
    stores no event twice."""
    first = history.index.indexer(history.clock, 0, ledger=history.ledger)
    second = history.index.indexer(history.clock, 0, ledger=history.ledger)
    history.append([_record(n, when=NOW - 900 + n) for n in range(20)])
    history.indexed(indexer=first)
    history.append([_record(20 + n, when=NOW - 800 + n) for n in range(20)])
    history.indexed(indexer=second)  # from seq 0 in its memory: 20 are indexed already
    history.append([_record(40 + n, when=NOW - 700 + n) for n in range(20)])
    history.indexed(indexer=first)
    first.close()
    second.close()
    assert history.lookup(max_results=100)[0] == _oracle(history)
    assert history.lookup(max_results=100, terms=((Attr.EVENT_NAME, "ListBuckets"),))[0] == (
        _oracle(history))


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(times=st.lists(st.integers(NOW - 500, NOW), min_size=1, max_size=60),
       page=st.integers(1, 25), name=st.sampled_from([None, "A", "B"]))
def test_every_match_appears_once_in_order(history: HistoryUnderTest, times: list[int],
                                           page: int, name: str | None) -> None:
    """The pagination property (tests/history/test_history_pagination.py) on each backend:
    examples share the backend's store, so each adds its events to what is there."""
    first = len(history.appended)
    history.append([_record(first + i, when=t, name="A" if i % 3 else "B")
                    for i, t in enumerate(times)])
    history.indexed()
    terms = ((Attr.EVENT_NAME, name),) if name else ()
    seen: list[str] = []
    token = None
    while True:
        got, token = history.lookup(terms=terms, max_results=page, next_token=token)
        assert len(got) <= page
        seen += got
        if token is None:
            break
    assert seen == _oracle(history, terms)
