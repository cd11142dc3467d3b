"""`opentrail migrate` copies the Insights engine's state (insights.db) into the
database: the same counters, attributions, partitions and detector states, the cursor
with them; a second run copies nothing; a database whose state differs at the same
cursor is refused, naming the table; and the engine on the database goes on from the
copied cursor, counting only the events appended after it."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from conftest import TEST_MASTER_KEY
from opentrail.backends.postgres import PostgresBackend
from opentrail.backends.transfer import MigrationRefused, migrate_data_dir
from opentrail.clock import ManualClock
from opentrail.events import parse_record
from opentrail.insights import CALL_RATE, CounterStore, InsightsEngine, minute_text
from opentrail.ledger import LedgerWriter

ACCOUNT = "123456789012"
START = 29_449_440  # 2025-12-29T00:00Z, in minutes
KEY = ("ec2.amazonaws.com", "RunInstances", CALL_RATE, None)


def _events(first: int, minutes: int, per_minute: int) -> list[Any]:
    """RunInstances calls; the first of each minute denied (an error-rate series too)."""
    return [parse_record({
        "eventTime": minute_text(m)[:-3] + f"{i:02d}Z", "eventID": str(uuid.uuid4()),
        "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances", "readOnly": False,
        "awsRegion": "us-east-1", "recipientAccountId": ACCOUNT, "userAgent": f"agent/{i % 3}",
        **({"errorCode": "AccessDenied"} if i == 0 else {}),
    }, default_account=ACCOUNT, default_region="us-east-1")
        for m in range(first, first + minutes) for i in range(per_minute)]


def _engine(data_dir: Path, writer: Any, clock: ManualClock, **kw: Any) -> InsightsEngine:
    return InsightsEngine(data_dir, clock, writer, lambda *_: True, **kw)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A data dir whose Insights engine counted and decided two days of traffic."""
    data = tmp_path / "data"
    data.mkdir()
    clock = ManualClock((START + 2 * 1440 + 60) * 60)
    writer = LedgerWriter(data, clock)
    writer.start()
    assert all(writer.submit(_events(START, 2 * 1440, 3)).result())
    engine = _engine(data, writer, clock)
    while engine.count():
        pass
    engine.detect()
    engine.close()
    writer.close()
    return data


def _state(store: Any) -> tuple[Any, ...]:
    parts = store.partitions()
    live = store.live_series(ACCOUNT, "us-east-1", 0)
    return (store.cursor(), parts, live, store.metric(ACCOUNT, "us-east-1", KEY, 0, 1 << 40),
            [store.attribution(sid, "userAgent", 0, 1 << 40) for sid, _, _ in live],
            [list(store.counts(sid, START, START + 2 * 1440)) for sid, _, _ in live])


def test_migrate_copies_insights_and_the_engine_goes_on_from_its_cursor(
        source: Path, postgres_url: str) -> None:
    lines: list[str] = []
    migrate_data_dir(source, postgres_url, TEST_MASTER_KEY, progress=lines.append)
    assert any(line.startswith("Insights: ") and "rows copied" in line for line in lines)
    local = CounterStore(source)
    backend = PostgresBackend.open(postgres_url, TEST_MASTER_KEY, pool_size=2)
    try:
        ours = _state(local)
        assert ours[0] > 0 and ours[2] and any(s[2] for s in ours[2])  # states were saved
        assert _state(backend.insights_store()) == ours
        again: list[str] = []
        migrate_data_dir(source, postgres_url, TEST_MASTER_KEY, progress=again.append)
        assert any(line.startswith("Insights: 0 rows copied") for line in again)
        clock = ManualClock((START + 2 * 1440 + 120) * 60)
        writer = backend.ledger_writer(clock)
        writer.start()
        later = _events(START + 2 * 1440, 30, 2)
        assert all(writer.submit(later).result())
        engine = _engine(source, writer, clock, ledger=backend.ledger_reader(),
                         store=backend.insights_store())
        while engine.count():
            pass
        assert engine.analysed == len(later)  # nothing counted twice
        total = sum(backend.insights_store().metric(ACCOUNT, "us-east-1", KEY, 0,
                                                    1 << 40).values())
        assert total == 2 * 1440 * 3 + len(later)
        engine.close()
        writer.close()
    finally:
        local.close()
        backend.close()


def test_a_database_whose_insights_differ_is_refused_naming_the_table(
        source: Path, postgres_url: str) -> None:
    migrate_data_dir(source, postgres_url, TEST_MASTER_KEY)
    with psycopg.connect(postgres_url) as conn:
        conn.execute("UPDATE insights_counts SET n = n + 1 WHERE minute = %s", (START,))
    with pytest.raises(MigrationRefused) as info:
        migrate_data_dir(source, postgres_url, TEST_MASTER_KEY)
    assert "insights_counts" in info.value.message and "nothing of it" in info.value.message


def test_a_database_behind_the_data_dir_gets_its_state_one_ahead_keeps_its_own(
        source: Path, postgres_url: str) -> None:
    migrate_data_dir(source, postgres_url, TEST_MASTER_KEY)
    with psycopg.connect(postgres_url) as conn:  # as if copied while still counting
        conn.execute("UPDATE insights_cursor SET seq = 100")
        conn.execute("DELETE FROM insights_counts WHERE minute > %s", (START + 10,))
    lines: list[str] = []
    migrate_data_dir(source, postgres_url, TEST_MASTER_KEY, progress=lines.append)
    assert any(line.startswith("Insights: ") and "rows copied" in line for line in lines)
    local = CounterStore(source)
    backend = PostgresBackend.open(postgres_url, TEST_MASTER_KEY, pool_size=2)
    try:
        assert _state(backend.insights_store()) == _state(local)
        with psycopg.connect(postgres_url) as conn:  # a node counted events appended since
            conn.execute("UPDATE insights_cursor SET seq = seq + 5")
        lines.clear()
        migrate_data_dir(source, postgres_url, TEST_MASTER_KEY, progress=lines.append)
        assert any(line.startswith("Insights: ") and line.endswith(": kept")
                   for line in lines)
    finally:
        local.close()
        backend.close()
