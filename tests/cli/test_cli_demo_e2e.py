"""`opentrail demo` end to end: generated activity lands in the server and can be looked up."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from clirun import run_cli

from conftest import ACCOUNT, Server, wait_until

pytestmark = pytest.mark.e2e


def test_demo_events_are_stored_and_visible_to_lookups(live_server: Server,
                                                       tmp_path: Path) -> None:
    started = time.time()
    result = run_cli("demo", "--endpoint-url", live_server.endpoint, "--events", "400",
                     "--days", "1", "--seed", "7", env=live_server.env(role="writer"))
    assert result.returncode == 0, result.stderr
    assert "Events: 400 accepted, 0 duplicates, 0 rejected" in result.stdout
    assert "Files:" not in result.stdout
    assert "(seed 7)" in result.stderr
    client: Any = live_server.client(role="reader")
    window = {"StartTime": started - 86_400 - 60, "EndTime": started + 60}
    wait_until(lambda: client.lookup_events(**window)["Events"])
    target = tmp_path / "demo.json"
    download = run_cli("download", "--endpoint-url", live_server.endpoint, "--start-time",
                       str(int(window["StartTime"])), "--end-time", str(int(window["EndTime"])),
                       "-o", str(target), env=live_server.env(role="reader"))
    assert download.returncode == 0, download.stderr
    records = json.loads(target.read_text())["Records"]
    # Management events only (the demo's data events are not in event history), in the
    # key's account and the signing region; the server's own audit events count too.
    assert len({r["eventSource"] for r in records}) > 3
    assert all(r["recipientAccountId"] == ACCOUNT for r in records)
    assert all(r["awsRegion"] == "us-east-1" for r in records)


def test_demo_refuses_a_bad_account_before_sending(live_server: Server) -> None:
    result = run_cli("demo", "--endpoint-url", live_server.endpoint, "--account", "12",
                     env=live_server.env(role="writer"))
    assert result.returncode == 2
    assert "12-digit" in result.stderr
