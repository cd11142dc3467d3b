"""Overload: the server answers ThrottlingException (HTTP 400), keeps serving, loses nothing."""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
from pathlib import Path

import pytest

from conftest import Server, free_port, make_event, signed_post

pytestmark = pytest.mark.e2e


def test_overload_is_throttled_and_nothing_acknowledged_is_lost(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", free_port(), ("--max-pending-events", "1"))
    server.start()
    key = server.key("writer")
    statuses: list[tuple[int, str]] = []
    acked: list[str] = []

    def send() -> None:
        for _ in range(4):
            body = json.dumps({"Records": [make_event() for _ in range(1500)]}).encode()
            response = signed_post(server.endpoint, "/opentrail/v1/events", body, key)
            kind = response.json().get("__type", "ok")
            statuses.append((response.status_code, kind))
            if response.status_code == 200:
                acked.extend(response.json()["eventIds"])

    try:
        for _ in range(10):  # bounded: overlap of concurrent requests is near certain
            threads = [threading.Thread(target=send) for _ in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if (400, "ThrottlingException") in statuses:
                break
        assert (400, "ThrottlingException") in statuses
        assert set(statuses) <= {(200, "ok"), (400, "ThrottlingException")}
        conn = sqlite3.connect(server.data_dir / "ledger.db")
        stored = {r[0] for r in conn.execute("SELECT event_id FROM events")}
        conn.close()
        assert set(acked) <= stored
    finally:
        server.kill(signal.SIGTERM)
