"""What only the PostgreSQL history index has: the indexer's bounded cache of term ids,
and two plans for an AND (probes per candidate, a merge join), which must answer alike.

Everything LookupEvents answers is in test_history_contract.py, on both backends.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from psycopg.pq import TransactionStatus

from conftest import TEST_MASTER_KEY
from opentrail.backends.postgres import PostgresBackend
from opentrail.backends.postgres import _history as pg_history
from opentrail.backends.sqlite import SqliteBackend
from opentrail.clock import ManualClock
from opentrail.events import Category, Record, parse_record
from opentrail.history import Attr, LookupQuery, Lookups, lookup_terms
from opentrail.sources.demo import generate

NOW = 1795600000
ACCOUNT = "111111111111"


def test_term_ids_stay_right_when_the_indexer_forgets_them(
        postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a cache of 5 terms every batch overflows it: ids are looked up again, never
    minted twice, and every lookup answers as history.db does."""
    monkeypatch.setattr(pg_history, "TERM_CACHE_LIMIT", 5)
    monkeypatch.setattr("opentrail.history._rows_indexer.BATCH", 40)
    records = [parse_record(raw, default_account=ACCOUNT, default_region="us-east-1")
               for raw in generate(seed=3, count=300, start=NOW - 86400, end=NOW - 60,
                                   account=ACCOUNT)]
    clock = ManualClock(NOW)
    pg = PostgresBackend.open(postgres_url, TEST_MASTER_KEY, pool_size=2)
    readers = []
    try:
        for backend in (SqliteBackend(tmp_path), pg):
            writer = backend.ledger_writer(clock)
            writer.start()
            assert all(writer.submit(records).result())
            writer.close()
            indexer = backend.history_index().indexer(clock, 0)
            while indexer.step():
                pass
            indexer.close()
            readers.append(backend.history_index().reader(clock, 0))
        with pg.db.transaction() as conn:
            row = conn.execute("SELECT count(*) FROM history_terms").fetchone()
        assert row is not None and row[0] > 5  # many more terms than the cache holds
        terms = {t for r in records for t in lookup_terms(orjson.loads(r.body))
                 if t[0] in (Attr.EVENT_NAME, Attr.USERNAME, Attr.RESOURCE_NAME)}
        for term in sorted(terms):
            query = LookupQuery((ACCOUNT,), "us-east-1", Category.MANAGEMENT, (term,), None,
                                None, None, 1000)
            sqlite_ids, pg_ids = ([e["EventId"] for e in r.lookup(query).events]
                                  for r in readers)
            assert pg_ids == sqlite_ids, term
    finally:
        pg.close()


def _readers(records: list[Record], folder: Path, pg: PostgresBackend,
             clock: ManualClock) -> list[Lookups]:
    """SQLite's and PostgreSQL's readers, each over its own index of `records`."""
    readers = []
    for backend in (SqliteBackend(folder), pg):
        writer = backend.ledger_writer(clock)
        writer.start()
        assert all(writer.submit(records).result())
        writer.close()
        indexer = backend.history_index().indexer(clock, 0)
        while indexer.step():
            pass
        indexer.close()
        readers.append(backend.history_index().reader(clock, 0))
    return readers


def _pages(reader: Lookups, terms: tuple[tuple[Attr, str], ...]) -> list[list[str]]:
    """Every page of the AND, 7 events a page, following NextToken."""
    pages, token = [], None
    while True:
        query = LookupQuery((ACCOUNT,), "us-east-1", Category.MANAGEMENT, terms, None,
                            NOW - 20 * 3600, None, 7, token)
        result = reader.lookup(query)
        pages.append([e["EventId"] for e in result.events])
        token = result.next_token
        if token is None:
            return pages


@pytest.mark.parametrize("ratio", [0, 10**9], ids=["probes", "merge-join"])
def test_an_and_answers_alike_by_probes_and_by_merge_join(
        postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        ratio: int) -> None:
    """Forced to one plan or the other, every AND of two and three terms pages through
    the same events as history.db, in the same order (a time bound and tokens too)."""
    monkeypatch.setattr(pg_history, "PROBE_RATIO", ratio)
    records = [parse_record(raw, default_account=ACCOUNT, default_region="us-east-1")
               for raw in generate(seed=5, count=400, start=NOW - 86400, end=NOW - 60,
                                   account=ACCOUNT)]
    pg = PostgresBackend.open(postgres_url, TEST_MASTER_KEY, pool_size=1)
    try:
        sqlite, postgres = _readers(records, tmp_path, pg, ManualClock(NOW))
        wanted = (Attr.USERNAME, Attr.EVENT_SOURCE, Attr.READ_ONLY)
        ands = set()
        for r in records[::10]:
            terms = dict(lookup_terms(orjson.loads(r.body)))
            if all(a in terms for a in wanted):
                ands.add(tuple((a, terms[a]) for a in wanted))
                ands.add(tuple((a, terms[a]) for a in wanted[1:]))
        assert len(ands) > 10
        for terms in sorted(ands):
            assert _pages(postgres, terms) == _pages(sqlite, terms), terms
        # The merge join's planner settings ended with its transaction (one connection).
        assert pg.db.read(lambda conn: (conn.info.transaction_status, conn.execute(
            "SHOW enable_hashjoin").fetchone())) == (TransactionStatus.IDLE, ("on",))
    finally:
        pg.close()
