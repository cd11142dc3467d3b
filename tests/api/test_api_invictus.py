"""The invictus dataset (2,900 real CloudTrail events) imported end to end with the real
`opentrail import`, then looked up with boto3 and checked against counts computed here,
independently of the server, from the raw files."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import DATASETS, Server, free_port, wait_until

pytestmark = pytest.mark.e2e

FOLDER = DATASETS / "invictus-aws" / "CloudTrail"
ACCOUNT = "123837392027"  # from the records; the file names say 218007301253
WINDOW = {"StartTime": 1688983200, "EndTime": 1688994000}  # 2023-07-10 10:00-13:00 UTC


def _records() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(FOLDER.glob("*.json")):
        out.extend(json.loads(path.read_text())["Records"])
    return out


def _management(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r.get("eventCategory", "Management") == "Management"]


@pytest.fixture
def forever_server(tmp_path: Path) -> Iterator[Server]:
    """History kept forever: these events are from 2023."""
    server = Server(tmp_path / "data", free_port(), ("--history-retention-days", "0"))
    server.start()
    yield server
    server.kill(signal.SIGTERM)


def _count(client: Any, key: str, value: str) -> int:
    pages = client.get_paginator("lookup_events").paginate(
        **WINDOW, LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}])
    return sum(len(p["Events"]) for p in pages)


def _import(server: Server) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opentrail", "import", "--endpoint-url", server.endpoint,
         str(FOLDER)], capture_output=True, text=True, timeout=300,
        env=server.env(role="writer", account=ACCOUNT))


def test_invictus_imports_with_zero_rejections_and_lookups_match(
        forever_server: Server) -> None:
    records = _records()
    assert len(records) == 2900
    first = _import(forever_server)
    assert first.returncode == 0, first.stdout + first.stderr
    again = _import(forever_server)  # re-running an import is safe
    assert again.returncode == 0, again.stdout + again.stderr
    ct = forever_server.client(role="reader", account=ACCOUNT)
    mgmt = _management(records)
    names = Counter(r["eventName"] for r in mgmt)
    wait_until(lambda: _count(ct, "EventName", "GetCallerIdentity")
               == names["GetCallerIdentity"], timeout=30)
    for name in ("GetPasswordData", "ListBuckets", "AssumeRole"):
        assert _count(ct, "EventName", name) == names[name], name
    sources = Counter(r["eventSource"] for r in mgmt)
    assert _count(ct, "EventSource", "iam.amazonaws.com") == sources["iam.amazonaws.com"]
    errors = Counter(r.get("errorCode") for r in mgmt)
    assert _count(ct, "ErrorCode", "AccessDenied") == errors["AccessDenied"]
    writes = sum(1 for r in mgmt if r.get("readOnly") is False)
    assert _count(ct, "ReadOnly", "false") == writes
    pages = ct.get_paginator("lookup_events").paginate(**WINDOW)
    assert sum(len(p["Events"]) for p in pages) == len(mgmt)
