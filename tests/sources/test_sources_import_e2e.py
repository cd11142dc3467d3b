"""`opentrail import --format X` and `opentrail export --format ocsf` against a real server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import ACCOUNT, DATASETS, Server, free_port, wait_until
from opentrail.sources import Converted, convert

pytestmark = pytest.mark.e2e

SRC = Path(__file__).resolve().parents[2] / "src"
NON_AWS = DATASETS / "non-aws"
AUDITD = DATASETS / "auditd"
# format -> (path, an eventSource to look up, the region its events are in). LookupEvents
# is regional, as in CloudTrail: GCP and Azure events sit in their own location.
CASES = {
    "gcp": (NON_AWS / "GCP.AuditLog.json", "compute.googleapis.com", "us-central1"),
    "azure": (NON_AWS / "Azure.MonitorActivity.json", "microsoft.storage", "eastus"),
    "entra": (NON_AWS / "Azure.Audit.json", "signin.entra.microsoft.com", "dc-1"),
    "k8s": (NON_AWS / "Amazon.EKS.Audit.json", "k8s.io", "dc-1"),
    "auditd": (AUDITD / "go-libaudit" / "testdata", "auditd", "dc-1"),
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A live server that keeps history forever: the samples are years old."""
    live = Server(tmp_path / "data", free_port(), ("--history-retention-days", "0"))
    live.start()
    yield live
    live.kill(signal.SIGTERM)


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = dict(env, PYTHONPATH=os.pathsep.join(filter(None, [str(SRC),
                                                               env.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-m", "opentrail", *args], capture_output=True,
                          text=True, env=full, timeout=300, check=False)


def lookup(server: Server, source: str, region: str) -> list[dict[str, Any]]:
    client: Any = server.client(region=region)
    pages = client.get_paginator("lookup_events").paginate(
        LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": source}],
        StartTime=datetime(2000, 1, 1, tzinfo=UTC))
    return [json.loads(e["CloudTrailEvent"]) for p in pages for e in p["Events"]]


def test_every_format_imports_and_its_events_are_found(server: Server) -> None:
    env = server.env(role="writer", account=ACCOUNT)
    for fmt, (path, source, region) in CASES.items():
        done = cli("import", "--format", fmt, str(path), "--region", "dc-1",
                   "--account", ACCOUNT, "--endpoint-url", server.endpoint, env=env)
        assert done.returncode in (0, 1), done.stderr  # 1: entries reported unmappable
        assert "Events: " in done.stdout and " 0 accepted" not in done.stdout, done.stdout
        if done.returncode == 1:
            assert "ConversionError: " in done.stdout
        wait_until(lambda: lookup(server, source, region), timeout=60)  # noqa: B023
        found = lookup(server, source, region)
        for record in found:
            assert record["additionalEventData"]["sourceFormat"] == fmt
        assert {r["awsRegion"] for r in found} == {region}
        assert {r["recipientAccountId"] for r in found} == {ACCOUNT}
    again = cli("import", "--format", "azure", str(CASES["azure"][0]),
                "--endpoint-url", server.endpoint, env=env)
    assert again.returncode == 0, again.stderr
    assert "Events: 0 accepted, 214 duplicates, 0 rejected" in again.stdout


def test_export_writes_ocsf_api_activity(server: Server, tmp_path: Path) -> None:
    env = server.env(role="writer", account=ACCOUNT)
    done = cli("import", "--format", "entra", str(NON_AWS / "Azure.Audit.json"),
               "--endpoint-url", server.endpoint, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    data = (NON_AWS / "Azure.Audit.json").read_bytes()
    signins = {r.record["eventID"] for r in convert("entra", data) if isinstance(r, Converted)
               and r.record["eventSource"] == "signin.entra.microsoft.com"}
    wait_until(lambda: len(lookup(server, "signin.entra.microsoft.com", "on-premises"))
               == len(signins), timeout=60)
    reader = server.env(role="reader", account=ACCOUNT)
    target = tmp_path / "events.ocsf.jsonl"
    out = cli("export", "--format", "ocsf", "--start-time", "2000-01-01",
              "--lookup-attributes", "EventSource=signin.entra.microsoft.com",
              "--endpoint-url", server.endpoint, "--region", "on-premises",
              "-o", str(target), env=reader)
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in target.read_text().splitlines()]
    assert f"Wrote {len(events):,} OCSF events to {target}." in out.stdout
    assert {e["metadata"]["uid"] for e in events} == signins
    assert {e["class_uid"] for e in events} == {6003}
    assert {e["cloud"]["provider"] for e in events} == {"Azure"}
    failed = [e for e in events if e["status"] == "Failure"]
    assert failed and all(e["status_code"] for e in failed)
    array = tmp_path / "events.json"
    out = cli("export", "--start-time", "2000-01-01", "--endpoint-url", server.endpoint,
              "--region", "on-premises", "-o", str(array), env=reader)
    assert out.returncode == 0, out.stderr
    everything = json.loads(array.read_text())  # a JSON array for other file names
    assert signins <= {e["metadata"]["uid"] for e in everything}
    assert {e["class_uid"] for e in everything} == {6003}
