"""Packed postings: the blob round-trips, sorting and intersections are the set operations,
and LookupEvents over packed rows answers what a brute-force scan of the ledger does."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest
from history_corpus import (
    ACCOUNTS,
    DAY,
    NOW,
    REGIONS,
    expected,
    paged,
    queries,
    record,
    scanned,
    times,
    write_ledger,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from opentrail.clock import ManualClock
from opentrail.history import (
    HISTORY_FILE,
    MANAGEMENT,
    Attr,
    HistoryDbActivityRows,
    HistoryIndexer,
    HistoryReader,
    LookupQuery,
)
from opentrail.history._packed import (
    BUCKET,
    decode,
    encode,
    intersect,
    offsets,
    sort_pairs,
)
from opentrail.ledger import LedgerWriter

BUCKETS = st.integers(min_value=0, max_value=2**40)
TIMES = st.one_of(st.integers(min_value=1_500_000_000, max_value=1_800_000_000),
                  st.integers(min_value=-2**62, max_value=2**62))


@st.composite
def pair_sets(draw: st.DrawFn, min_size: int = 1) -> set[tuple[int, int]]:
    """(time, seq) pairs of one bucket, a seq at most once (as events are)."""
    offsets = draw(st.sets(st.integers(0, BUCKET - 1), min_size=min_size, max_size=300))
    return {(draw(TIMES), o) for o in offsets}


def _as_bucket(pairs: set[tuple[int, int]], bucket: int) -> tuple[list[int], list[int]]:
    ordered = sorted((t, bucket * BUCKET + o) for t, o in pairs)
    return [t for t, _ in ordered], [s for _, s in ordered]


@given(pair_sets(), BUCKETS)
def test_encode_decode_round_trips(pairs: set[tuple[int, int]], bucket: int) -> None:
    times_, seqs = _as_bucket(pairs, bucket)
    blob = encode(times_, seqs, bucket)
    assert decode(blob, times_[0], bucket) == (times_, seqs)
    assert list(offsets(blob, len(seqs))) == [s - bucket * BUCKET for s in seqs]


@given(st.lists(st.tuples(TIMES, st.integers(0, BUCKET - 1)), min_size=1, max_size=200,
                unique_by=lambda p: p[1]))
def test_sort_pairs_orders_by_time_then_seq(pairs: list[tuple[int, int]]) -> None:
    by_seq = sorted(pairs, key=lambda p: p[1])
    got = sort_pairs([t for t, _ in by_seq], [s for _, s in by_seq])
    assert list(zip(*got, strict=True)) == sorted(pairs)


@given(st.lists(pair_sets(), min_size=1, max_size=5), BUCKETS)
def test_parts_concatenated_in_seq_order_sort_to_their_union(
        parts: list[set[tuple[int, int]]], bucket: int) -> None:
    """What compaction does: parts of disjoint, ascending seq ranges, each sorted by (time,
    seq), concatenated, then sorted."""
    seen: set[int] = set()
    ranges = []
    for pairs in parts:  # give part k offsets above part k-1's
        shift = max(seen, default=-1) + 1
        moved = {(t, shift + o) for t, o in pairs if shift + o < BUCKET}
        seen |= {o for _, o in moved}
        ranges.append(moved)
    times_: list[int] = []
    seqs: list[int] = []
    for pairs in ranges:
        t, s = _as_bucket(pairs, bucket)
        times_ += t
        seqs += s
    assert sort_pairs(times_, seqs) == _as_bucket(set().union(*ranges), bucket)


@settings(max_examples=200)
@given(st.lists(pair_sets(min_size=0), min_size=1, max_size=4), BUCKETS)
def test_intersection_is_set_intersection(lists: list[set[tuple[int, int]]],
                                          bucket: int) -> None:
    """Pairs of one event share its time, so a seq stands for its pair."""
    time_of = {o: t for pairs in lists for t, o in pairs}
    lists = [{(time_of[o], o) for _, o in pairs} for pairs in lists]
    driver = _as_bucket(lists[0], bucket)
    if driver[0]:
        driver = decode(encode(*driver, bucket), driver[0][0], bucket)
    others = []
    for pairs in lists[1:]:
        t, s = _as_bucket(pairs, bucket)
        others.append(offsets(encode(t, s, bucket), len(s)) if s else [])
    got = intersect(driver, others, bucket)
    assert got == _as_bucket(set.intersection(*lists), bucket)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """9,000 events (three buckets), indexed in one pass by steps of a bucket."""
    rng = random.Random(15)
    data = tmp_path_factory.mktemp("packed")
    records = [record(rng, t) for t in times(rng, 9000)]
    write_ledger(data, ManualClock(NOW), [records[i:i + 1000] for i in range(0, 9000, 1000)])
    indexer = HistoryIndexer(data, ManualClock(NOW), 0)
    while indexer.step():
        pass
    indexer.close()
    return data


def test_lookups_answer_as_a_scan_of_the_ledger(corpus: Path) -> None:
    reader = HistoryReader(corpus, ManualClock(NOW), 90)
    for query in queries(random.Random(1), 120):
        lo, hi = reader.window(query)
        assert paged(reader, query) == expected(corpus, query, lo, hi), query


def test_an_index_built_a_few_events_at_a_time_answers_the_same(tmp_path: Path) -> None:
    """Live ingest: many small steps inside a bucket, each a part, compacted once the
    bucket is full; lookups read parts and compacted rows alike."""
    rng = random.Random(7)
    clock = ManualClock(NOW)
    writer = LedgerWriter(tmp_path, clock)
    writer.start()
    indexer = HistoryIndexer(tmp_path, clock, 0)
    stamps = times(rng, 5000)
    at = 0
    while at < len(stamps):
        size = rng.choice((1, 2, 3, 17, 250))
        writer.submit([record(rng, t) for t in stamps[at:at + size]]).result()
        at += size
        while indexer.step():
            pass
    writer.close()
    conn = sqlite3.connect(tmp_path / HISTORY_FILE)
    parts = "SELECT max(c) FROM (SELECT count(*) c FROM packed WHERE bucket=? GROUP BY term)"
    assert conn.execute(parts, (0,)).fetchone()[0] == 1  # full: compacted
    assert conn.execute(parts, (1,)).fetchone()[0] > 1  # being filled: one part a step
    conn.close()
    reader = HistoryReader(tmp_path, clock, 0)
    for query in queries(random.Random(2), 60):
        lo, hi = reader.window(query)
        assert paged(reader, query) == expected(tmp_path, query, lo, hi), query
    _activity_answers_as_a_scan(tmp_path, random.Random(6))


def test_activity_counts_and_probes_answer_as_a_scan_of_the_ledger(corpus: Path) -> None:
    _activity_answers_as_a_scan(corpus, random.Random(5))


def _activity_answers_as_a_scan(data_dir: Path, rng: random.Random) -> None:
    """The overview's counts and probes (history/_activity_rows.py) over packed rows, some
    across a bucket's end or holding late arrivals, against the ledger's pairs."""
    rows = HistoryDbActivityRows(data_dir)
    for account in ACCOUNTS:
        for region in REGIONS:
            every = rows.term(account, region, Attr.ALL, "")
            assert every is not None
            pairs = sorted((row.event_time, row.seq) for row, _terms, _id in scanned(data_dir)
                           if (row.account, row.region, row.category) == (account, region,
                                                                          MANAGEMENT))
            for _ in range(40):
                lo = int(NOW) - rng.randrange(0, 100 * DAY)
                hi = lo + rng.choice((0, 3600, DAY, 40 * DAY))
                inside = [p for p in pairs if lo <= p[0] <= hi]
                limit = rng.choice((1, 3, 500))
                assert rows.count([every], lo, hi) == len(inside)
                assert rows.first(every, lo, hi, limit) == [s for _, s in inside[:limit]]


def test_purge_removes_expired_pairs_and_keeps_the_rest(corpus: Path, tmp_path: Path) -> None:
    """Rows wholly expired go, rows across the cutoff are rewritten: with retention off,
    the reader then finds exactly the events from the cutoff on."""
    import shutil
    data = tmp_path / "copy"
    shutil.copytree(corpus, data)
    clock = ManualClock(NOW - 30 * DAY)
    indexer = HistoryIndexer(data, clock, 40)  # cutoff: 70 days before NOW
    assert indexer.purge() > 0
    assert indexer.purge() == 0
    indexer.close()
    reader = HistoryReader(data, ManualClock(NOW), 0)
    cutoff = int(NOW - 70 * DAY)
    for query in queries(random.Random(3), 40):
        lo, hi = reader.window(query)
        assert paged(reader, query) == expected(data, query, max(lo, cutoff), hi), query


def test_event_id_lookups_check_the_other_terms(corpus: Path) -> None:
    reader = HistoryReader(corpus, ManualClock(NOW), 0)
    for query in queries(random.Random(4), 60):
        want = expected(corpus, query, *reader.window(query))
        if not want or not query.terms or query.accounts is None:
            continue
        probe = LookupQuery(query.accounts, query.region, query.category, query.terms,
                            want[-1], None, None, 50)
        assert [e["EventId"] for e in reader.lookup(probe).events] == [want[-1]]
