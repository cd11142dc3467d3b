"""The contract of `LedgerReader`: what every ledger backend's reader must answer.

Each test runs once per entry of BACKENDS. To add a backend, write a context manager
that takes a fresh temporary folder (and the test's request, for a fixture such as a
fresh database) and yields a `LedgerUnderTest` (a way to append acknowledged events at
the clock's time, to expire bodies as the retention purge does, and the backend's
reader), and add it to BACKENDS under the backend's name. Nothing else here may know
which backend is in use.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from opentrail.clock import ManualClock
from opentrail.events import Category, Record, parse_record
from opentrail.ledger import (
    EMPTY_ROOT,
    LedgerReader,
    LedgerWriter,
    TreeFollower,
    TreeReader,
    leaf_hash,
    open_ledger_reader,
    root_from_inclusion,
    root_of,
    scan,
    tree_head,
)
from opentrail.ledger._tree import CHUNK

T0 = 1795600000  # the clock at the first append (epoch seconds)
DAY = 86400
ACCOUNT, OTHER = "111111111111", "222222222222"


@dataclass
class LedgerUnderTest:
    """One backend's ledger as the contract drives it."""

    clock: ManualClock
    append: Callable[[Sequence[Record]], list[bool]]  # committed (acknowledged) on return
    expire: Callable[[int], int]  # drop bodies older than the cutoff, as retention does
    reader: LedgerReader


@contextmanager
def _driven(writer: LedgerWriter, reader: LedgerReader,
            clock: ManualClock) -> Iterator[LedgerUnderTest]:
    writer.start()
    try:
        yield LedgerUnderTest(clock, lambda records: writer.submit(records).result(),
                              writer.purge, reader)
    finally:
        reader.close()
        writer.close()


@contextmanager
def sqlite_ledger(folder: Path, request: pytest.FixtureRequest) -> Iterator[LedgerUnderTest]:
    clock = ManualClock(T0)
    with _driven(LedgerWriter(folder, clock), open_ledger_reader(folder), clock) as ledger:
        yield ledger


@contextmanager
def postgres_ledger(folder: Path, request: pytest.FixtureRequest) -> Iterator[LedgerUnderTest]:
    from conftest import TEST_MASTER_KEY
    from opentrail.backends.postgres import PostgresBackend

    backend = PostgresBackend.open(request.getfixturevalue("postgres_url"), TEST_MASTER_KEY)
    clock = ManualClock(T0)
    try:
        with _driven(backend.ledger_writer(clock), backend.ledger_reader(), clock) as ledger:
            yield ledger
    finally:
        backend.close()


BACKENDS: dict[str, Callable[[Path, pytest.FixtureRequest],
                             AbstractContextManager[LedgerUnderTest]]] = {
    "sqlite": sqlite_ledger,
    "postgresql": postgres_ledger,
}


@pytest.fixture(params=sorted(BACKENDS))
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerUnderTest]:
    with BACKENDS[request.param](tmp_path, request) as under_test:
        yield under_test


def _record(n: int, *, account: str = ACCOUNT, region: str = "us-east-1",
            data: bool = False, event_time: int = T0 - DAY) -> Record:
    raw: dict[str, Any] = {
        "eventVersion": "1.11", "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject" if data else "ListBuckets",
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(event_time + n)),
        "awsRegion": region, "eventID": f"00000000-0000-4000-8000-{n:012d}",
        "recipientAccountId": account}
    if data:
        raw["eventCategory"] = "Data"
        raw["managementEvent"] = False
    return parse_record(raw, default_account=account, default_region=region)


def _append(ledger: LedgerUnderTest, count: int, first: int = 0, **kw: Any) -> list[Record]:
    records = [_record(n, **kw) for n in range(first, first + count)]
    assert all(ledger.append(records))
    return records


def test_an_empty_ledger_answers_nothing(ledger: LedgerUnderTest) -> None:
    reader = ledger.reader
    assert reader.size() == 0
    assert reader.rows(0, 10) == []
    assert reader.bodies([0, 1]) == {} and reader.leaves([0]) == {}
    assert reader.event(ACCOUNT, "anything") is None
    assert reader.first_ingested_at(T0) == 0
    assert tree_head(reader) == (0, EMPTY_ROOT)


def test_rows_hold_what_was_appended_in_seq_order(ledger: LedgerUnderTest) -> None:
    first = _append(ledger, 3)
    ledger.clock.advance(5)
    second = _append(ledger, 2, first=3, account=OTHER, region="eu-west-1", data=True)
    rows = ledger.reader.rows(0, 100)
    assert [r.seq for r in rows] == [0, 1, 2, 3, 4]
    assert ledger.reader.size() == 5
    for row, record in zip(rows, first + second, strict=True):
        assert (row.account, row.region, row.category, row.event_time, row.body) == (
            record.account, record.region, int(record.category), record.event_time,
            record.body)
        assert row.leaf == leaf_hash(record.body)
    assert [r.ingested for r in rows] == [T0] * 3 + [T0 + 5] * 2


def test_rows_window_by_start_limit_and_end(ledger: LedgerUnderTest) -> None:
    _append(ledger, 10)
    reader = ledger.reader
    assert [r.seq for r in reader.rows(3, 4)] == [3, 4, 5, 6]
    assert [r.seq for r in reader.rows(3, 100, 5)] == [3, 4]
    assert [r.seq for r in reader.rows(8, 100)] == [8, 9]
    assert reader.rows(10, 100) == [] and reader.rows(4, 100, 4) == []
    assert [r.seq for r in scan(reader, 2, chunk=3)] == list(range(2, 10))


def test_bodies_from_are_the_rows_seq_account_region_and_body(
        ledger: LedgerUnderTest) -> None:
    _append(ledger, 3)
    _append(ledger, 4, first=3, account=OTHER, region="eu-west-1", data=True)
    reader = ledger.reader
    for start, limit in ((0, 100), (2, 3), (6, 10), (7, 10), (0, 0)):
        assert reader.bodies_from(start, limit) == [
            (r.seq, r.account, r.region, r.body) for r in reader.rows(start, limit)]
    assert [r.region for r in reader.bodies_from(3, 1)] == ["eu-west-1"]


def test_a_category_filter_counts_only_its_rows(ledger: LedgerUnderTest) -> None:
    _append(ledger, 3)
    _append(ledger, 4, first=3, data=True)
    _append(ledger, 3, first=7)
    reader = ledger.reader
    management = int(Category.MANAGEMENT)
    assert [r.seq for r in reader.rows(0, 4, category=management)] == [0, 1, 2, 7]
    assert [r.seq for r in reader.rows(1, 100, 8, category=management)] == [1, 2, 7]
    assert [r.seq for r in reader.rows(0, 100, category=int(Category.DATA))] == [3, 4, 5, 6]


def test_bodies_and_leaves_by_seq_answer_only_what_is_held(ledger: LedgerUnderTest) -> None:
    records = _append(ledger, 1200)  # more than one IN (...) chunk in SQL backends
    wanted = list(range(0, 1300, 7))
    bodies = ledger.reader.bodies(wanted)
    assert bodies == {s: records[s].body for s in wanted if s < 1200}
    leaves = ledger.reader.leaves(wanted)
    assert leaves == {s: leaf_hash(records[s].body) for s in wanted if s < 1200}


def test_an_event_is_found_by_account_and_event_id(ledger: LedgerUnderTest) -> None:
    _append(ledger, 3)
    _append(ledger, 1, first=1, account=OTHER)  # the same eventID in another account
    record = _record(1)
    row = ledger.reader.event(ACCOUNT, record.event_id)
    assert row is not None and (row.seq, row.body) == (1, record.body)
    other = ledger.reader.event(OTHER, record.event_id)
    assert other is not None and other.seq == 3
    assert ledger.reader.event(ACCOUNT, "no-such-id") is None


def test_first_ingested_at_finds_the_first_seq_acknowledged_then(
        ledger: LedgerUnderTest) -> None:
    _append(ledger, 4)  # seqs 0..3 at T0
    ledger.clock.advance(60)
    _append(ledger, 3, first=4)  # 4..6 at T0+60
    ledger.clock.advance(60)
    _append(ledger, 2, first=7)  # 7..8 at T0+120
    reader = ledger.reader
    assert [reader.first_ingested_at(t) for t in (T0 - 1, T0, T0 + 1, T0 + 60, T0 + 61,
                                                  T0 + 120, T0 + 121)] == [0, 0, 4, 4, 7, 7, 9]


def test_expired_bodies_read_as_none_and_keep_their_leaves(ledger: LedgerUnderTest) -> None:
    old = _append(ledger, 3, event_time=T0 - 100 * DAY)
    ledger.clock.advance(100 * DAY)
    _append(ledger, 2, first=3, event_time=T0 + 99 * DAY)
    head = tree_head(ledger.reader)
    assert ledger.expire(T0 + 10 * DAY) == 3
    rows = ledger.reader.rows(0, 10)
    assert [r.body is None for r in rows] == [True] * 3 + [False] * 2
    assert [r.leaf for r in rows[:3]] == [leaf_hash(r.body) for r in old]
    assert ledger.reader.bodies([0, 3]) == {0: None, 3: rows[3].body}
    assert [r.body for r in ledger.reader.bodies_from(2, 2)] == [None, rows[3].body]
    assert ledger.reader.event(ACCOUNT, old[0].event_id) is not None
    assert tree_head(ledger.reader) == head


def test_tree_head_is_the_root_over_every_leaf(ledger: LedgerUnderTest) -> None:
    records = _append(ledger, 37)
    assert tree_head(ledger.reader) == (37, root_of(leaf_hash(r.body) for r in records))


def test_a_reader_sees_later_appends(ledger: LedgerUnderTest) -> None:
    """A follower polls the same reader: nothing it holds may pin an old state."""
    _append(ledger, 2)
    cursor = 0
    cursor += len(ledger.reader.rows(cursor, 100))
    _append(ledger, 3, first=2)
    assert ledger.reader.size() == 5
    assert [r.seq for r in ledger.reader.rows(cursor, 100)] == [2, 3, 4]


def test_one_reader_serves_many_threads(ledger: LedgerUnderTest) -> None:
    records = _append(ledger, 500)
    failures: list[BaseException] = []

    def read(offset: int) -> None:
        try:
            for start in range(offset, 500, 50):
                rows = ledger.reader.rows(start, 10)
                assert [r.body for r in rows] == [r.body for r in records[start:start + 10]]
                assert ledger.reader.bodies([start]) == {start: records[start].body}
        except BaseException as exc:  # reported below: a thread's assert is not a failure
            failures.append(exc)

    threads = [threading.Thread(target=read, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_accounts_lists_every_account_in_byte_order(ledger: LedgerUnderTest) -> None:
    assert ledger.reader.accounts() == []
    _append(ledger, 2, account=OTHER)
    _append(ledger, 3, first=2)
    assert ledger.reader.accounts() == [ACCOUNT, OTHER]


def test_the_merkle_tree_follows_the_reader(ledger: LedgerUnderTest, tmp_path: Path) -> None:
    """tree.db (derived, in a local folder) is built and read over any backend's reader."""
    records = _append(ledger, 3 * CHUNK + 5)
    follower = TreeFollower(tmp_path, ledger.reader)
    assert follower.step() == 3 * CHUNK  # whole chunks only
    follower.close()
    tree = TreeReader(tmp_path, ledger.reader)
    size, root = tree_head(ledger.reader)
    assert tree.size() == size and tree.root(size) == root
    entry = tree.entry(ACCOUNT, records[CHUNK + 1].event_id)
    assert entry is not None and entry.seq == CHUNK + 1
    proof = tree.inclusion(entry.seq, size)
    assert root_from_inclusion(entry.seq, size, entry.leaf, proof) == root
    assert tree.accounts() == [ACCOUNT]
    tree.close()
    assert ledger.reader.size() == size  # the borrowed reader is still open
