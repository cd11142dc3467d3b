"""`Backend.ledger_audit()` on both backends: what `opentrail verify` reads beside the
rows (the checkpoint key, recorded retention, the append-only guards) answers the same
way, and `verify_reader` over the backend's reader checks a clean ledger as clean and a
replaced guard as a mismatch."""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

import psycopg

from conftest import Backends
from opentrail.clock import ManualClock
from opentrail.events import parse_record
from opentrail.ledger import verify_reader

T0 = 1795600000


def _fill(backend: Any, count: int) -> None:
    writer = backend.ledger_writer(ManualClock(T0), retention_days=30)
    writer.start()
    records = [parse_record({"eventTime": "2026-01-01T00:00:00Z", "eventSource": "s3",
                             "eventName": "ListBuckets", "eventID": str(uuid.uuid4())},
                            default_account="111111111111", default_region="us-east-1")
               for _ in range(count)]
    assert writer.submit(records).result(timeout=30) == [True] * count
    writer.close()


def test_a_clean_ledger_verifies_through_the_backend(backends: Backends) -> None:
    backend = backends.open()
    _fill(backend, 5)
    audit, reader = backend.ledger_audit(), backend.ledger_reader()
    try:
        report = verify_reader(reader, checkpoints=audit.signed_checkpoints(None),
                               guards=audit.guard_problems)
    finally:
        reader.close()
    assert report.ok and report.size == 5 and report.checked == 5
    assert audit.retention() == [(T0, 30)]


def test_the_checkpoint_key_is_the_backends_signer(backends: Backends) -> None:
    backend = backends.open()
    signer = backend.checkpoint_signer()
    if backends.kind == "sqlite":  # the data dir publishes it as checkpoint.pub
        (backends.data_dir / "checkpoint.pub").write_text(signer.verifier().text() + "\n")
    found = backend.ledger_audit().public_key()
    assert found is not None and found.text() == signer.verifier().text()


def test_a_dropped_guard_is_a_mismatch(backends: Backends) -> None:
    backend = backends.open()
    _fill(backend, 1)
    if backends.kind == "sqlite":
        conn = sqlite3.connect(backends.data_dir / "ledger.db")
        conn.execute("DROP TRIGGER events_no_delete")
        conn.commit()
        conn.close()
        name = "events_no_delete"
    else:
        with psycopg.connect(backends.url) as pg:
            pg.execute("DROP TRIGGER events_no_truncate ON events")
        name = "events_no_truncate"
    problems = [m.reason for m in backend.ledger_audit().guard_problems()]
    assert problems == [f"append-only trigger {name} is missing"]
