"""Tampering with ledger.db as an attacker with file access would, and `opentrail verify`
catching it against the signed checkpoints and the retention period."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import Server, make_event, opentrail, post_records
from opentrail.clock import ManualClock
from opentrail.events import parse_record
from opentrail.ledger import (
    LedgerWriter,
    Retention,
    open_reader,
    recorded_retention,
    verify_ledger,
)

pytestmark = pytest.mark.e2e

OLD = "2020-01-01T00:00:00Z"  # event times long expired: only ingest times keep bodies


def _checkpoint_covering(server: Server, event_id: str) -> int:
    """Ask for an inclusion proof of `event_id`: the server signs a checkpoint covering it."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    key = server.key("reader")
    url = f"{server.endpoint}/opentrail/v1/proofs/inclusion?eventId={event_id}"
    request = AWSRequest(method="GET", url=url, data=b"")
    SigV4Auth(Credentials(key.access_key_id, key.secret), "opentrail", "us-east-1").add_auth(
        request)
    response = httpx.get(url, headers=dict(request.headers.items()), timeout=60)
    assert response.status_code == 200, response.text
    size: int = response.json()["treeSize"]
    return size


def _post(server: Server, n: int) -> list[str]:
    events = [make_event(when=OLD) for _ in range(n)]
    post_records(server, events)
    return [str(e["eventID"]) for e in events]


def _verify(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "opentrail", "verify", "--data-dir",
                           str(server.data_dir), *args], capture_output=True, text=True,
                          timeout=120)


def _seq(conn: sqlite3.Connection, event_id: str) -> int:
    seq: int = conn.execute("SELECT seq FROM events WHERE event_id = ?",
                            (event_id,)).fetchone()[0]
    return seq


@pytest.fixture
def attacker(live_server: Server) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(live_server.data_dir / "ledger.db", isolation_level=None)
    yield conn
    conn.close()


def test_body_and_leaf_rewritten_together_break_the_signed_root(
        live_server: Server, attacker: sqlite3.Connection) -> None:
    ids = _post(live_server, 10)
    size = _checkpoint_covering(live_server, ids[-1])
    assert opentrail("verify", "--data-dir", str(live_server.data_dir)).returncode == 0
    seq = _seq(attacker, ids[3])
    guard = attacker.execute("SELECT sql FROM sqlite_master WHERE name = 'events_no_update'"
                             ).fetchone()[0]
    body = attacker.execute("SELECT body FROM events WHERE seq = ?", (seq,)).fetchone()[0]
    forged = body.replace(b"alice", b"mallory")
    attacker.execute("DROP TRIGGER events_no_update")
    attacker.execute("UPDATE events SET body = ?, leaf = ? WHERE seq = ?",
                     (forged, hashlib.sha256(b"\x00" + forged).digest(), seq))
    attacker.execute(guard)  # the guard is back, word for word
    proc = _verify(live_server)
    assert proc.returncode == 1, proc.stdout
    assert f"Merkle root at tree size {size}" in proc.stdout
    assert "leaves it covers were changed" in proc.stdout
    assert "mismatches: 0" not in proc.stdout


def test_a_forged_checkpoint_signature_is_reported(
        live_server: Server, tmp_path: Path) -> None:
    ids = _post(live_server, 3)
    size = _checkpoint_covering(live_server, ids[-1])
    conn = sqlite3.connect(live_server.data_dir / "checkpoints.db", isolation_level=None)
    note = conn.execute("SELECT note FROM checkpoints WHERE size = ?", (size,)).fetchone()[0]
    conn.execute("UPDATE checkpoints SET note = ? WHERE size = ?",
                 (note.replace(f"\n{size}\n", f"\n{size + 1}\n", 1), size))
    conn.close()
    proc = _verify(live_server)
    assert proc.returncode == 1, proc.stdout
    assert f"the signed checkpoint of tree size {size} does not verify" in proc.stdout


def test_the_old_purge_function_no_longer_unlocks_the_trigger(
        live_server: Server, attacker: sqlite3.Connection) -> None:
    ids = _post(live_server, 3)
    attacker.create_function("opentrail_purge_cutoff", 0, lambda: 2**62)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        attacker.execute("UPDATE events SET body = NULL WHERE event_id = ?", (ids[1],))
    with pytest.raises(sqlite3.DatabaseError):  # nor does deleting the cutoff row
        attacker.execute("DELETE FROM purge")


def test_a_minutes_old_body_dropped_through_the_purge_cutoff_is_reported(
        live_server: Server, attacker: sqlite3.Connection) -> None:
    """Without dropping a trigger, writing the cutoff row lets a body go (file access can
    always do that); verify names the event: it was ingested minutes ago."""
    ids = _post(live_server, 5)
    seq = _seq(attacker, ids[2])
    attacker.execute("BEGIN")
    attacker.execute("UPDATE purge SET cutoff = ?", (2**62,))
    attacker.execute("UPDATE events SET body = NULL WHERE seq = ?", (seq,))
    attacker.execute("UPDATE purge SET cutoff = 0")
    attacker.execute("COMMIT")
    proc = _verify(live_server)
    assert proc.returncode == 1, proc.stdout
    assert f"MISMATCH\tevent seq {seq}\tits body is missing" in proc.stdout
    assert "within the retention period (90 days)" in proc.stdout
    assert "retention: 90 days (recorded by the server)" in proc.stdout
    assert "expired (leaf kept): 0" in proc.stdout


def test_rewritten_ingest_time_does_not_hide_a_dropped_body(
        live_server: Server, attacker: sqlite3.Connection) -> None:
    """The attacker also dates the event to 1970: the signed checkpoint before it still
    says it was appended minutes ago."""
    first = _post(live_server, 3)
    _checkpoint_covering(live_server, first[-1])
    later = _post(live_server, 3)
    seq = _seq(attacker, later[1])
    guard = attacker.execute("SELECT sql FROM sqlite_master WHERE name = 'events_no_update'"
                             ).fetchone()[0]
    attacker.execute("DROP TRIGGER events_no_update")
    attacker.execute("UPDATE events SET body = NULL, ingested = 0, event_time = 0 "
                     "WHERE seq = ?", (seq,))
    attacker.execute(guard)
    proc = _verify(live_server)
    assert proc.returncode == 1, proc.stdout
    assert f"event seq {seq}\tits body is missing, but it was appended after the " \
           "checkpoint signed at" in proc.stdout


def test_retention_flag_overrides_the_recorded_value(
        live_server: Server, attacker: sqlite3.Connection) -> None:
    _post(live_server, 2)
    attacker.execute("UPDATE retention SET days = 0")
    proc = _verify(live_server, "--retention-days", "30")
    assert proc.returncode == 0, proc.stdout
    assert "retention: 30 days (--retention-days)" in proc.stdout


NOW = 1795600000.0
DAY = 86400


def test_a_ledger_from_before_the_purge_table_is_migrated(tmp_path: Path) -> None:
    """The old update trigger trusted a SQL function; opening the ledger replaces it."""
    old = sqlite3.connect(tmp_path / "ledger.db")
    old.executescript(OLD_SCHEMA)
    old.close()
    clock = ManualClock(NOW - 100 * DAY)
    writer = LedgerWriter(tmp_path, clock, retention_days=90)
    writer.start()
    raw = make_event(when=OLD)
    writer.submit([parse_record(raw, default_account="x", default_region="us-east-1")]).result()
    clock.advance(100 * DAY)
    assert writer.purge(int(clock.now()) - 90 * DAY) == 1
    writer.close()
    conn = open_reader(tmp_path)
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'events_no_update'"
                       ).fetchone()[0]
    assert "opentrail_purge_cutoff" not in sql
    assert verify_ledger(conn).ok


def test_raising_the_retention_later_does_not_turn_old_purges_into_alarms(
        tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    writer = LedgerWriter(tmp_path, clock, retention_days=30)
    writer.start()
    raw = make_event(when=OLD)
    writer.submit([parse_record(raw, default_account="x", default_region="us-east-1")]).result()
    clock.advance(40 * DAY)
    assert writer.purge(int(clock.now()) - 30 * DAY) == 1  # expired under 30 days
    writer.close()
    LedgerWriter(tmp_path, clock, retention_days=90).close()  # the operator raises it
    conn = open_reader(tmp_path)
    history = recorded_retention(conn)
    assert [days for _, days in history] == [30, 90]
    retention = Retention.of_history(history, clock.now())
    assert retention is not None and retention.text == "90 days, earlier 30 days"
    assert verify_ledger(conn, retention=retention).ok
    flat = verify_ledger(conn, retention=Retention.of_days(90, clock.now()))
    assert [m.reason.split(",")[0] for m in flat.mismatches] == ["its body is missing"]


OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL,
    category INTEGER NOT NULL, event_time INTEGER NOT NULL, ingested INTEGER NOT NULL,
    event_id TEXT NOT NULL, leaf BLOB NOT NULL, body BLOB);
CREATE UNIQUE INDEX IF NOT EXISTS events_by_id ON events(account, event_id);
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only: events cannot be deleted');
END;
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
WHEN NOT (
    new.body IS NULL
    AND new.seq IS old.seq AND new.account IS old.account AND new.region IS old.region
    AND new.category IS old.category AND new.event_time IS old.event_time
    AND new.ingested IS old.ingested AND new.event_id IS old.event_id
    AND new.leaf IS old.leaf
    AND old.event_time < opentrail_purge_cutoff()
    AND old.ingested < opentrail_purge_cutoff()
)
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only: events cannot be changed');
END;
"""


def test_checkpoints_without_a_public_key_are_reported_once(
        live_server: Server, tmp_path: Path) -> None:
    first = _post(live_server, 2)
    _checkpoint_covering(live_server, first[-1])
    second = _post(live_server, 2)
    _checkpoint_covering(live_server, second[-1])
    live_server.kill()
    (live_server.data_dir / "checkpoint.pub").unlink()
    proc = _verify(live_server)
    assert proc.returncode == 1, proc.stdout
    assert proc.stdout.count("no public key to check them with") == 1
