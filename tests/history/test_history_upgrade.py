"""A history.db written by the release before packed postings is upgraded on open: emptied
and re-derived from the ledger, after which every lookup answers as that release did."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from history_corpus import (
    NOW,
    PAGES,
    expected,
    paged,
    queries,
    record,
    scanned,
    times,
    write_ledger,
)
from history_old_format import old_lookup, write_old_history

from opentrail.clock import ManualClock
from opentrail.history import HISTORY_FILE, HistoryIndexer, HistoryReader, create_history
from opentrail.history._index import FORMAT


def _tables(data_dir: Path) -> set[str]:
    conn = sqlite3.connect(data_dir / HISTORY_FILE)
    try:
        return {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()


def test_an_old_store_is_rebuilt_and_answers_every_lookup_as_before(tmp_path: Path) -> None:
    rng = random.Random(42)
    records = [record(rng, t) for t in times(rng, 6000)]
    write_ledger(tmp_path, ManualClock(NOW), [records[i:i + 500] for i in range(0, 6000, 500)])
    write_old_history(tmp_path)
    reader = HistoryReader(tmp_path, ManualClock(NOW), 90)
    ids = {row.seq: event_id for row, _, event_id in scanned(tmp_path)}
    cases = queries(random.Random(5), 80)
    before = []
    for query in cases:
        lo, hi = reader.window(query)
        before.append([ids[s] for s in old_lookup(tmp_path, query, lo, hi)])
    assert "postings" in _tables(tmp_path)

    create_history(tmp_path).close()  # what the server does on start
    assert "postings" not in _tables(tmp_path)
    conn = sqlite3.connect(tmp_path / HISTORY_FILE)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == FORMAT
    conn.close()
    indexer = HistoryIndexer(tmp_path, ManualClock(NOW), 90)
    assert indexer.cursor == 0  # re-derived from the start of the ledger
    while indexer.step():
        pass
    indexer.close()
    for query, old in zip(cases, before, strict=True):
        assert paged(reader, query) == old[:PAGES * query.max_results], query
    assert any(before)  # the cases found events


def test_a_store_of_this_format_is_left_as_it_is(tmp_path: Path) -> None:
    rng = random.Random(43)
    write_ledger(tmp_path, ManualClock(NOW), [[record(rng, t) for t in times(rng, 300)]])
    indexer = HistoryIndexer(tmp_path, ManualClock(NOW), 0)
    while indexer.step():
        pass
    indexer.close()
    create_history(tmp_path).close()
    indexer = HistoryIndexer(tmp_path, ManualClock(NOW), 0)
    assert indexer.cursor == 300
    indexer.close()
    reader = HistoryReader(tmp_path, ManualClock(NOW), 0)
    for query in queries(random.Random(6), 10):
        assert paged(reader, query) == expected(tmp_path, query, *reader.window(query))
