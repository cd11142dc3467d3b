"""The ledger's PostgreSQL tables guard themselves as SQLite's do (ledger/_schema.py):
append-only except the retention purge dropping old bodies; the retention each writer
ran with is recorded; every node signs checkpoints with one key. (The reader and writer
contracts run on both backends in tests/ledger/.)"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from conftest import TEST_MASTER_KEY
from opentrail.backends.postgres import PostgresBackend
from opentrail.backends.postgres import _ledger_sequencer as ledger_sequencer
from opentrail.clock import ManualClock
from opentrail.events import parse_record
from opentrail.ledger import Checkpointer, tree_head

T0 = 1795600000


def _appended(url: str, count: int) -> None:
    backend = PostgresBackend.open(url, TEST_MASTER_KEY)
    writer = backend.ledger_writer(ManualClock(T0))
    writer.start()
    records = [parse_record({"eventTime": "2026-01-01T00:00:00Z", "eventSource": "s3",
                             "eventName": "ListBuckets", "eventID": str(uuid.uuid4())},
                            default_account="111111111111", default_region="us-east-1")
               for _ in range(count)]
    assert writer.submit(records).result(timeout=30) == [True] * count
    writer.close()
    backend.close()


@pytest.mark.parametrize("statement", [
    "UPDATE events SET body = NULL WHERE seq = 0",  # no purge cutoff raised
    "UPDATE events SET region = 'eu-west-1' WHERE seq = 0",
    "UPDATE events SET leaf = body, body = NULL WHERE seq = 0",
    "DELETE FROM events WHERE seq = 1",
    "TRUNCATE events",
    "DELETE FROM ledger_purge",
])
def test_the_ledger_refuses_changes(postgres_url: str, statement: str) -> None:
    _appended(postgres_url, 2)
    with psycopg.connect(postgres_url) as conn, pytest.raises(psycopg.errors.RaiseException):
        conn.execute(statement)
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute("SELECT seq, body IS NULL FROM events ORDER BY seq").fetchall()
    assert rows == [(0, False), (1, False)]


def test_only_old_bodies_expire_and_only_inside_the_purge(postgres_url: str) -> None:
    _appended(postgres_url, 2)  # event time 2026-01-01, ingested T0
    with psycopg.connect(postgres_url) as conn:
        conn.execute("UPDATE ledger_purge SET cutoff = %s", (T0 + 1,))
        conn.execute("UPDATE events SET body = NULL WHERE seq = 0")
        conn.execute("UPDATE ledger_purge SET cutoff = 0")
    with psycopg.connect(postgres_url) as conn, pytest.raises(psycopg.errors.RaiseException):
        conn.execute("UPDATE ledger_purge SET cutoff = %s", (T0,))  # not older than it
        conn.execute("UPDATE events SET body = NULL WHERE seq = 1")
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute("SELECT body IS NULL FROM events ORDER BY seq").fetchall()
        assert rows == [(True,), (False,)]
        assert conn.execute("SELECT cutoff FROM ledger_purge").fetchone() == (0,)


def test_each_retention_setting_is_recorded_once(postgres_url: str) -> None:
    backend = PostgresBackend.open(postgres_url, TEST_MASTER_KEY)
    for now, days in ((T0, 90), (T0 + 10, 90), (T0 + 20, 30)):
        backend.ledger_writer(ManualClock(now), retention_days=days).close()
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute("SELECT since, days FROM ledger_retention ORDER BY 1").fetchall()
    assert rows == [(T0, 90), (T0 + 20, 30)]
    backend.close()


def test_every_node_signs_checkpoints_with_one_key(backends: Any, tmp_path: Path) -> None:
    """Over either backend: the checkpoint key is shared by every node (SQLite: the
    data dir's file; PostgreSQL: the vault), and a Checkpointer following the backend's
    ledger signs the tree head of that ledger."""
    one, two = backends.open(), backends.open()
    signer = one.checkpoint_signer()
    assert two.checkpoint_signer().text() == signer.text()
    writer = one.ledger_writer(ManualClock(T0))
    writer.start()
    records = [parse_record({"eventTime": "2026-01-01T00:00:00Z", "eventSource": "s3",
                             "eventName": "ListBuckets", "eventID": str(uuid.uuid4())},
                            default_account="111111111111", default_region="us-east-1")
               for _ in range(300)]
    assert all(writer.submit(records).result(timeout=30))
    writer.close()
    reader = two.ledger_reader()
    scratch = tmp_path / "node-two"
    scratch.mkdir()
    checkpoints = Checkpointer(scratch, ManualClock(T0), 60.0, ledger=reader,
                               signer=two.checkpoint_signer())
    made = checkpoints.make_checkpoint()
    assert (made.size, made.root) == tree_head(reader)
    assert made.origin == signer.name
    assert signer.verifier().open(made.note).startswith(signer.name + "\n")
    checkpoints.close()
    reader.close()


def test_the_vault_holds_the_checkpoint_key_sealed(postgres_url: str) -> None:
    backend = PostgresBackend.open(postgres_url, TEST_MASTER_KEY)
    key = backend.checkpoint_signer().text()
    with psycopg.connect(postgres_url) as conn:
        stored = b"".join(bytes(r[0]) for r in conn.execute("SELECT sealed FROM secrets"))
    assert key.encode() not in stored and key.split("+")[-1].encode() not in stored
    backend.close()


def _at(when: float) -> Any:
    return parse_record({"eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when)),
                         "eventSource": "s3", "eventName": "ListBuckets",
                         "eventID": str(uuid.uuid4())},
                        default_account="111111111111", default_region="us-east-1")


def test_the_purge_goes_in_chunks_and_comes_back_for_what_expires_later(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """As SQLite's (tests/history/test_history_retention.py): short transactions over
    the ingested-before-cutoff prefix only; old ingests of then-recent events are purged
    by a later pass, once their time expires."""
    monkeypatch.setattr(ledger_sequencer, "PURGE_CHUNK", 3)
    day, now = 86400, float(T0)
    backend = PostgresBackend.open(postgres_url, TEST_MASTER_KEY)
    clock = ManualClock(now - 200 * day)
    writer = backend.ledger_writer(clock)
    writer.start()
    writer.submit([_at(now - 210 * day) for _ in range(7)]
                  + [_at(now) for _ in range(3)]).result(timeout=30)
    clock.advance(190 * day)
    writer.submit([_at(now - 10 * day) for _ in range(2)]).result(timeout=30)
    assert writer.purge(int(now) - 90 * day) == 7
    assert writer.purge(int(now) - 90 * day) == 0
    assert writer.purge(int(now) + 91 * day) == 5
    writer.close()
    rows = backend.ledger_reader().rows(0, 20)
    assert [r.body is None for r in rows] == [True] * 12
    assert tree_head(backend.ledger_reader())[0] == 12
    backend.close()
