"""The Insights state's tables (migration 0011) reached from every earlier schema
version: a node opening a database migrated from any of them counts from cursor 0 and
reads back what it added (the schema itself is compared with a fresh one's in
test_backends_postgres.py)."""

from __future__ import annotations

from typing import Any

import psycopg

from conftest import TEST_MASTER_KEY
from opentrail.backends.postgres import LATEST, PostgresBackend, migrate
from opentrail.insights import CALL_RATE
from opentrail.insights._store import Tally

INSIGHTS_VERSION = 11  # the migration that made the insights_* tables


def test_insights_state_works_on_a_database_migrated_from_every_earlier_version(
        postgres_server: Any) -> None:
    assert LATEST >= INSIGHTS_VERSION
    for start in range(INSIGHTS_VERSION):
        url = postgres_server.new_database()
        with psycopg.connect(url, autocommit=True) as conn:
            migrate(conn, "old", target=start)
        backend = PostgresBackend.open(url, TEST_MASTER_KEY, pool_size=2)  # migrates
        store = backend.insights_store()
        tally = Tally()
        series = tally.number(("111111111111", "eu-west-1", "s3.amazonaws.com",
                               "PutObject", CALL_RATE, ""))
        tally.counts[(series, 7)] = 2
        tally.spans[("111111111111", "eu-west-1")] = (7, 7)
        assert store.cursor() == 0 and store.add(tally, 0, 5), f"from version {start}"
        assert store.metric("111111111111", "eu-west-1", (
            "s3.amazonaws.com", "PutObject", CALL_RATE, None), 0, 10) == {7: 2}
        store.close()
        backend.close()
        postgres_server.drop_database(url)
