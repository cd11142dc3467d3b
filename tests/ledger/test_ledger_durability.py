"""Nothing acknowledged is ever lost: kill -9 the server under load, again and again."""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
import threading
import time

import httpx
import pytest

from conftest import Server, make_event, opentrail, signed_post

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROUNDS = 4
SENDERS = 3


def _sender(server: Server, acked: list[str], stop: threading.Event) -> None:
    key = server.key("writer")
    while not stop.is_set():
        events = [make_event() for _ in range(200)]
        body = json.dumps({"Records": events}).encode()
        try:
            response = signed_post(server.endpoint, "/opentrail/v1/events", body, key)
        except httpx.HTTPError:
            return  # the server died mid-request: this batch was never acknowledged
        if response.status_code == 200:
            acked.extend(i for i in response.json()["eventIds"] if i)


def _stored_ids(server: Server) -> set[str]:
    conn = sqlite3.connect(server.data_dir / "ledger.db")
    try:
        return {row[0] for row in conn.execute("SELECT event_id FROM events")}
    finally:
        conn.close()


def test_kill_minus_nine_never_loses_an_acknowledged_event(live_server: Server) -> None:
    rng = random.Random(7)
    acked: list[str] = []
    live_server.key("writer")
    for _ in range(ROUNDS):
        stop = threading.Event()
        threads = [threading.Thread(target=_sender, args=(live_server, acked, stop))
                   for _ in range(SENDERS)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.5, 1.5))
        live_server.kill()  # SIGKILL: no shutdown hooks run
        stop.set()
        for t in threads:
            t.join(timeout=60)
        live_server.start()
    assert len(acked) > 1000, "the load was too light to mean anything"
    stored = _stored_ids(live_server)
    lost = [i for i in acked if i not in stored]
    assert not lost, f"{len(lost)} acknowledged events lost"
    assert len(stored) >= len(set(acked))
    proc = subprocess.run([sys.executable, "-m", "opentrail", "verify", "--data-dir",
                           str(live_server.data_dir)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ledger_refuses_update_and_delete(live_server: Server) -> None:
    from conftest import post_records

    post_records(live_server, [make_event()])
    conn = sqlite3.connect(live_server.data_dir / "ledger.db")
    with pytest.raises(sqlite3.DatabaseError):
        conn.execute("UPDATE events SET body = x'00'")
    with pytest.raises(sqlite3.DatabaseError):
        conn.execute("DELETE FROM events")
    with pytest.raises(sqlite3.DatabaseError):  # not even the purge's own change
        conn.execute("UPDATE events SET body = NULL")
    conn.close()


def test_verify_catches_a_row_edited_behind_the_servers_back(live_server: Server) -> None:
    from conftest import post_records

    post_records(live_server, [make_event() for _ in range(10)])
    assert opentrail("verify", "--data-dir", str(live_server.data_dir)).returncode == 0
    conn = sqlite3.connect(live_server.data_dir / "ledger.db", isolation_level=None)
    conn.execute("DROP TRIGGER events_no_update")  # what an attacker with file access could do
    conn.execute("UPDATE events SET body = replace(body, 'alice', 'mallory') WHERE seq = 3")
    conn.close()
    proc = subprocess.run([sys.executable, "-m", "opentrail", "verify", "--data-dir",
                           str(live_server.data_dir)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "event seq 3" in proc.stdout
    assert "events_no_update is missing" in proc.stdout
