"""The contract of the ledger's write side (`LedgerWriter` over each backend's
`Sequencer`): dedup, order, no gaps, acknowledged means committed, and several writers
on one ledger (two processes on one SQLite file, two nodes on one PostgreSQL database)
never giving a seq twice or leaving a gap.

Each test runs once per entry of BACKENDS: a context manager taking a fresh folder and
the test's request, yielding a `Place` whose `writer()` opens another writer on the
same ledger (another process or node) and `reader()` another reader of it.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from opentrail.clock import ManualClock
from opentrail.errors import Throttled
from opentrail.events import Record, parse_record
from opentrail.ledger import LedgerReader, LedgerWriter, leaf_hash, open_ledger_reader, scan

T0 = 1795600000
ACCOUNT, OTHER = "111111111111", "222222222222"


@dataclass
class Place:
    """One ledger; every `writer()` is another appender on it (started)."""

    open_writer: Callable[..., LedgerWriter]
    reader: Callable[[], LedgerReader]
    clock: ManualClock = field(default_factory=lambda: ManualClock(T0))
    opened: list[Any] = field(default_factory=list)

    def writer(self, **kw: Any) -> LedgerWriter:
        writer = self.open_writer(self.clock, **kw)
        self.opened.append(writer)
        return writer

    def close(self) -> None:
        for thing in reversed(self.opened):
            thing.close()


@contextmanager
def sqlite_place(folder: Path, request: pytest.FixtureRequest) -> Iterator[Place]:
    place = Place(lambda clock, **kw: LedgerWriter(folder, clock, **kw),
                  lambda: open_ledger_reader(folder))
    try:
        yield place
    finally:
        place.close()


@contextmanager
def postgres_place(folder: Path, request: pytest.FixtureRequest) -> Iterator[Place]:
    from conftest import TEST_MASTER_KEY
    from opentrail.backends.postgres import PostgresBackend

    url = request.getfixturevalue("postgres_url")
    nodes: list[PostgresBackend] = []

    def node() -> PostgresBackend:
        nodes.append(PostgresBackend.open(url, TEST_MASTER_KEY, pool_size=4))
        return nodes[-1]

    place = Place(lambda clock, **kw: node().ledger_writer(clock, **kw),
                  lambda: node().ledger_reader())
    try:
        yield place
    finally:
        place.close()
        for backend in nodes:
            backend.close()


BACKENDS: dict[str, Callable[[Path, pytest.FixtureRequest], AbstractContextManager[Place]]] = {
    "sqlite": sqlite_place,
    "postgresql": postgres_place,
}


@pytest.fixture(params=sorted(BACKENDS))
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Place]:
    with BACKENDS[request.param](tmp_path, request) as made:
        yield made


def _record(event_id: str | None = None, account: str = ACCOUNT) -> Record:
    raw = {"eventTime": "2026-11-20T10:00:00Z", "eventSource": "s3.amazonaws.com",
           "eventName": "ListBuckets", "eventID": event_id or str(uuid.uuid4()),
           "recipientAccountId": account}
    return parse_record(raw, default_account=account, default_region="us-east-1")


def _started(place: Place, **kw: Any) -> LedgerWriter:
    writer = place.writer(**kw)
    writer.start()
    return writer


def test_dedup_is_per_account_within_a_batch_and_across_batches(place: Place) -> None:
    writer = _started(place)
    same = str(uuid.uuid4())
    result = writer.submit([_record(same), _record(same), _record(same, OTHER)])
    assert result.result(timeout=30) == [True, False, True]
    assert writer.submit([_record(same), _record()]).result(timeout=30) == [False, True]
    assert writer.size == 3
    rows = place.reader().rows(0, 10)
    assert [(r.seq, r.account) for r in rows] == [(0, ACCOUNT), (1, OTHER), (2, ACCOUNT)]


def test_events_get_consecutive_seqs_in_submission_order(place: Place) -> None:
    writer = _started(place)
    first = [_record() for _ in range(5)]
    second = [_record() for _ in range(3)]
    futures = [writer.submit(first), writer.submit(second)]
    assert [f.result(timeout=30) for f in futures] == [[True] * 5, [True] * 3]
    rows = place.reader().rows(0, 100)
    assert [r.seq for r in rows] == list(range(8))
    assert [r.body for r in rows] == [r.body for r in first + second]
    assert [r.leaf for r in rows] == [leaf_hash(r.body) for r in first + second]


def test_acknowledged_means_committed_and_seen_by_a_new_reader(place: Place) -> None:
    writer = _started(place)
    record = _record()
    assert writer.submit([record]).result(timeout=30) == [True]
    found = place.reader().event(ACCOUNT, record.event_id)  # another connection
    assert found is not None and found.body == record.body


def test_a_full_queue_throttles_and_a_reservation_is_never_refused(place: Place) -> None:
    writer = place.writer(max_pending=3)  # not started: nothing drains
    writer.reserve(2)
    with pytest.raises(Throttled):
        writer.submit([_record(), _record()])
    waiting = writer.submit([_record(), _record()], reserved=True)
    writer.reserve(1)  # 3 admitted: the limit
    writer.release(1)  # given back
    writer.start()
    assert waiting.result(timeout=30) == [True, True]
    assert writer.submit([_record(), _record()]).result(timeout=30) == [True, True]


def test_ingest_time_never_goes_back_with_seq(place: Place) -> None:
    writer = _started(place)
    writer.submit([_record()]).result(timeout=30)
    place.clock.advance(-60)  # this writer's clock behind the last stored ingest time
    writer.submit([_record()]).result(timeout=30)
    assert [r.ingested for r in place.reader().rows(0, 10)] == [T0, T0]


def test_two_writers_on_one_ledger_never_duplicate_or_skip_a_seq(place: Place) -> None:
    """Two processes (SQLite) or two nodes (PostgreSQL), each with writer threads;
    some eventIDs are sent through both, as a client retrying on another node would."""
    writers = [_started(place), _started(place)]
    shared = [str(uuid.uuid4()) for _ in range(60)]
    acknowledged: list[tuple[str, bool]] = []
    lock = threading.Lock()
    failures: list[BaseException] = []

    def send(writer: LedgerWriter, offset: int) -> None:
        try:
            for i in range(0, 60, 6):
                ids = shared[i:i + 3] + [str(uuid.uuid4()) for _ in range(3 + offset % 2)]
                results = writer.submit([_record(e) for e in ids]).result(timeout=60)
                with lock:
                    acknowledged.extend(zip(ids, results, strict=True))
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=send, args=(w, n)) for n, w in
               enumerate(writers * 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    rows = list(scan(place.reader()))
    assert [r.seq for r in rows] == list(range(len(rows)))
    stored = [bytes(r.body or b"") for r in rows]
    ids = [_record_id(body) for body in stored]
    assert len(ids) == len(set(ids))  # each eventID once
    assert sorted(ids) == sorted({e for e, _ in acknowledged})  # every acknowledged one
    assert sum(fresh for _, fresh in acknowledged) == len(rows)  # stored exactly once
    assert writers[0].size == writers[1].size == len(rows)


def _record_id(body: bytes) -> str:
    event_id: str = json.loads(body)["eventID"]
    return event_id
