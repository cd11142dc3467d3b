"""The self-audit journal (ledger/_journal.py, `Backend.audit_journal()`) on both
backends: a live writer's records are never replayed; a node killed (SIGKILL) with a
record in flight has it appended to the ledger by the next node that recovers (embedded:
the data dir's next server), once, marked outcome unknown, however many nodes recover."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import Any

import orjson

from conftest import wait_until
from opentrail.clock import ManualClock
from opentrail.events import Record, parse_record
from opentrail.ledger import LedgerWriter, scan

ACCOUNT = "123456789012"

NODE = """
import sys, time
from pathlib import Path
from opentrail.events import parse_record
kind, where, event_id = sys.argv[1:4]
if kind == "sqlite":
    from opentrail.backends.sqlite import SqliteBackend
    backend = SqliteBackend(Path(where))
else:
    from opentrail.backends.postgres import PostgresBackend
    backend = PostgresBackend.open(where, bytes([7]) * 32, pool_size=2)
journal = backend.audit_journal()
journal.write(parse_record({
    "eventTime": "2026-12-02T10:00:00Z", "eventSource": "cloudtrail.amazonaws.com",
    "eventName": "DeleteTrail", "eventID": event_id, "recipientAccountId": "123456789012",
    "awsRegion": "us-east-1", "requestParameters": {"name": "gone"}},
    default_account="123456789012", default_region="us-east-1"))
print("written", flush=True)
time.sleep(600)
"""


def _record(name: str = "CreateTrail") -> Record:
    return parse_record({"eventTime": "2026-12-02T10:00:00Z",
                         "eventSource": "cloudtrail.amazonaws.com", "eventName": name,
                         "eventID": str(uuid.uuid4()), "recipientAccountId": ACCOUNT,
                         "awsRegion": "us-east-1"},
                        default_account=ACCOUNT, default_region="us-east-1")


def _writer(backend: Any) -> LedgerWriter:
    writer: LedgerWriter = backend.ledger_writer(ManualClock(1_790_000_000.0))
    writer.start()
    return writer


def _ledgered(backend: Any, event_id: str) -> list[dict[str, Any]]:
    reader = backend.ledger_reader()
    try:
        bodies = [orjson.loads(row.body) for row in scan(reader) if row.body is not None]
    finally:
        reader.close()
    return [b for b in bodies if b["eventID"] == event_id]


def test_a_live_writers_records_are_not_replayed(backends: Any) -> None:
    backends.data_dir.mkdir(parents=True, exist_ok=True)
    one, two = backends.open(), backends.open()
    writer = _writer(one)
    mine, theirs = one.audit_journal(), two.audit_journal()
    flying = _record()
    mine.write(flying)
    assert mine.recover(writer) == 0 and theirs.recover(writer) == 0  # its writer lives
    done = _record()
    mine.write(done)
    mine.remove(done)
    mine.remove(done)  # twice: nothing to forget, no error
    assert theirs.recover(writer) == 0 and _ledgered(one, flying.event_id) == []
    beside = _record("DeleteTrail")  # another live writer (node, or process on the dir)
    theirs.write(beside)
    assert mine.recover(writer) == 0 and _ledgered(one, beside.event_id) == []
    theirs.remove(beside)
    mine.remove(flying)
    mine.close()
    theirs.close()
    writer.close()


def test_a_killed_nodes_record_is_replayed_once_by_another(backends: Any) -> None:
    backends.data_dir.mkdir(parents=True, exist_ok=True)
    event_id = str(uuid.uuid4())
    where = str(backends.data_dir) if backends.kind == "sqlite" else backends.url
    node = subprocess.Popen([sys.executable, "-c", NODE, backends.kind, where, event_id],
                            stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert node.stdout is not None and node.stdout.readline().strip() == "written"
        other = backends.open()
        writer = _writer(other)
        journal = other.audit_journal()
        assert journal.recover(writer) == 0  # in flight on a live node: left alone
    finally:
        node.kill()  # SIGKILL: the node is lost with its record in flight
        node.wait()
    replayed = [journal.recover(writer)]
    wait_until(lambda: replayed.append(journal.recover(writer)) or sum(replayed) >= 1)
    third = backends.open()
    late = third.audit_journal()
    assert sum(replayed) == 1 and late.recover(writer) == 0 and journal.recover(writer) == 0
    [stored] = _ledgered(other, event_id)
    assert stored["additionalEventData"] == {"outcome": "unknown"}
    assert stored["requestParameters"] == {"name": "gone"}
    journal.close()
    late.close()
    writer.close()


def test_a_record_that_is_not_one_is_kept_aside(backends: Any) -> None:
    backends.data_dir.mkdir(parents=True, exist_ok=True)
    backend = backends.open()
    if backends.kind == "sqlite":
        (backends.data_dir / "audit-journal").mkdir(exist_ok=True)
        (backends.data_dir / "audit-journal" / "broken.json").write_bytes(b"{not json")
    else:
        with backend.db.transaction() as conn:
            conn.execute("INSERT INTO audit_journal (event_id, node, written, body) "
                         "VALUES ('broken', 0, 0, %s)", (b"{not json",))
    writer = _writer(backend)
    journal = backend.audit_journal()
    assert journal.recover(writer) == 0 and journal.recover(writer) == 0
    if backends.kind == "sqlite":
        assert (backends.data_dir / "audit-journal" / "broken.bad").exists()
    else:
        with backend.db.transaction() as conn:
            row = conn.execute("SELECT bad, body FROM audit_journal").fetchone()
        assert row is not None and row[0] and bytes(row[1]) == b"{not json"
    journal.close()
    writer.close()
