"""`opentrail collect` killed with SIGKILL mid-file and restarted: no loss, no duplicates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import Server, wait_until

RECENT = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def k8s_line(n: int) -> str:
    """One kube-apiserver audit log line (a ResponseComplete Event)."""
    return json.dumps({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": f"audit-{n:06d}", "stage": "ResponseComplete", "verb": "get",
        "requestURI": f"/api/v1/namespaces/default/pods/p{n}",
        "user": {"username": "alice"}, "sourceIPs": ["10.0.0.1"], "userAgent": "kubectl",
        "objectRef": {"resource": "pods", "namespace": "default", "name": f"p{n}",
                      "apiVersion": "v1"},
        "responseStatus": {"code": 200},
        "requestReceivedTimestamp": RECENT, "stageTimestamp": RECENT}) + "\n"


def append(path: Path, numbers: range) -> None:
    with path.open("a") as out:
        out.writelines(k8s_line(n) for n in numbers)


def write_config(tmp_path: Path, log: Path, chunk_bytes: int = 4096) -> Path:
    config = tmp_path / "collect.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\npoll_interval = 0.05\n'
                      f'chunk_bytes = {chunk_bytes}\n\n'
                      f'[[file]]\npath = "{log}"\nformat = "k8s"\n')
    return config


def offset(tmp_path: Path) -> int:
    try:
        files = json.loads((tmp_path / "state" / "positions.json").read_text())["files"]
    except (FileNotFoundError, ValueError):
        return 0
    return sum(int(p["offset"]) for p in files.values())


def stored_ids(server: Server) -> list[str]:
    client: Any = server.client(region="on-premises")
    pages = client.get_paginator("lookup_events").paginate(
        LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": "k8s.io"}],
        StartTime=datetime.now(UTC) - timedelta(days=1))
    return [e["EventId"] for page in pages for e in page["Events"]]


def start(server: Server, config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "opentrail", "collect", "--config", str(config),
         "--endpoint-url", server.endpoint, "-v"],
        env=server.env("writer"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.e2e
def test_sigkill_mid_file_then_restart_loses_and_repeats_nothing(
        live_server: Server, tmp_path: Path) -> None:
    log = tmp_path / "kube-audit.log"
    append(log, range(600))
    config = write_config(tmp_path, log, chunk_bytes=1024)  # ~2 events per batch
    collector = start(live_server, config)
    try:
        wait_until(lambda: offset(tmp_path) > 0, timeout=60)
        collector.send_signal(signal.SIGKILL)
        collector.wait(timeout=30)
    finally:
        collector.kill()
    killed_at = offset(tmp_path)
    assert 0 < killed_at < log.stat().st_size, "the kill did not land mid-file"
    append(log, range(600, 700))  # written while the collector was down
    collector = start(live_server, config)
    try:
        wait_until(lambda: offset(tmp_path) == log.stat().st_size, timeout=120)
        append(log, range(700, 750))  # and followed once running again
        wait_until(lambda: offset(tmp_path) == log.stat().st_size, timeout=60)
    finally:
        collector.send_signal(signal.SIGTERM)
        assert collector.wait(timeout=30) == 0
    wait_until(lambda: len(stored_ids(live_server)) >= 750, timeout=60)
    ids = stored_ids(live_server)
    assert len(ids) == len(set(ids)) == 750
    assert os.stat(tmp_path / "state" / "positions.json").st_size > 0
