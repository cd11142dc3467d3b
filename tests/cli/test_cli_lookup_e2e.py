"""`opentrail lookup-events` and `opentrail download` against a real server on loopback."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from clirun import run_cli

from conftest import Server, make_event, post_records, wait_until
from opentrail.cli.lookup import CSV_COLUMNS

pytestmark = pytest.mark.e2e

EVIL_NAME = '=HYPERLINK("http://evil.example","click")'


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Seeded:
    """120 ec2 calls by alice, 5 failed DeleteBuckets by bob, 5 by alice, 1 by EVIL_NAME,
    all between two and one hours ago (the server's own audit events come later)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.start = int(time.time()) - 7200
        self.end = self.start + 3600
        self.events = self._records()
        for i in range(0, len(self.events), 50):
            post_records(server, self.events[i:i + 50])
        client: Any = server.client(role="reader")
        pages = client.get_paginator("lookup_events")
        wait_until(lambda: sum(len(p["Events"]) for p in pages.paginate(
            StartTime=self.start, EndTime=self.end)) == len(self.events))

    def _records(self) -> list[dict[str, object]]:
        def at(i: int) -> str:
            return iso(self.start + 10 + i * 20)

        events = [make_event("DescribeInstances", when=at(i)) for i in range(120)]
        bob = {"type": "IAMUser", "userName": "bob", "accountId": "123456789012"}
        bucket = [{"ARN": "arn:aws:s3:::logs", "type": "AWS::S3::Bucket"}]
        for i in range(120, 130):
            events.append(make_event(
                "DeleteBucket", when=at(i), eventSource="s3.amazonaws.com", readOnly=False,
                resources=bucket, **({"userIdentity": bob, "errorCode": "AccessDenied",
                                      "sourceIPAddress": "198.51.100.9"} if i < 125 else {})))
        evil = {"type": "IAMUser", "userName": EVIL_NAME, "accountId": "123456789012"}
        events.append(make_event("GetCallerIdentity", when=at(130), userIdentity=evil))
        return events

    def window(self) -> list[str]:
        return ["--start-time", iso(self.start), "--end-time", str(self.end),
                "--endpoint-url", self.server.endpoint]


@pytest.fixture
def seeded(live_server: Server) -> Seeded:
    return Seeded(live_server)


def lookup(seeded: Seeded, *args: str) -> subprocess.CompletedProcess[str]:
    result = run_cli("lookup-events", *seeded.window(), *args,
                     env=seeded.server.env(role="reader"))
    assert result.returncode == 0, result.stderr
    return result


def test_json_output_is_byte_for_byte_what_the_aws_cli_prints(seeded: Seeded) -> None:
    ours = lookup(seeded, "--lookup-attributes", "EventName=DescribeInstances",
                  "--max-items", "70").stdout
    theirs = subprocess.run(
        [sys.executable, "-m", "awscli", "cloudtrail", "lookup-events", *seeded.window(),
         "--lookup-attributes", "AttributeKey=EventName,AttributeValue=DescribeInstances",
         "--max-items", "70"],
        capture_output=True, text=True, env=seeded.server.env(role="reader"), check=True,
        timeout=120).stdout
    assert ours == theirs
    assert len(json.loads(ours)["Events"]) == 70 and json.loads(ours)["NextToken"]


def test_several_attributes_are_anded(seeded: Seeded) -> None:
    out = lookup(seeded, "--lookup-attributes",
                 "AttributeKey=EventName,AttributeValue=DeleteBucket",
                 "--lookup-attributes", '[{"AttributeKey": "Username", "AttributeValue": "bob"}]',
                 "--lookup-attributes", "ErrorCode=AccessDenied").stdout
    events = json.loads(out)["Events"]
    assert len(events) == 5
    assert {(e["EventName"], e["Username"]) for e in events} == {("DeleteBucket", "bob")}


def test_max_items_and_starting_token_page_through_everything_once(seeded: Seeded) -> None:
    seen: list[str] = []
    token: list[str] = []
    for _ in range(10):
        page = json.loads(lookup(seeded, "--lookup-attributes", "Username=alice",
                                 "--max-items", "40", "--page-size", "7", *token).stdout)
        seen += [e["EventId"] for e in page["Events"]]
        if "NextToken" not in page:
            break
        token = ["--starting-token", page["NextToken"]]
    assert len(seen) == len(set(seen)) == 125


def test_table_shows_error_code_and_source_ip_from_the_record(seeded: Seeded) -> None:
    out = lookup(seeded, "--lookup-attributes", "Username=bob", "--output", "table").stdout
    for header in ("Time", "EventName", "Username", "EventSource", "Resources", "ReadOnly",
                   "ErrorCode", "SourceIP"):
        assert header in out
    assert out.count("AccessDenied") == 5 and out.count("198.51.100.9") == 5
    assert "AWS::S3::Bucket: arn:aws:s3:::logs" in out


def test_csv_output_is_escaped(seeded: Seeded) -> None:
    out = lookup(seeded, "--lookup-attributes", "EventName=GetCallerIdentity",
                 "--output", "csv").stdout
    rows = list(csv.DictReader(out.splitlines()))
    assert [r["User name"] for r in rows] == ["'" + EVIL_NAME]


def test_server_errors_are_one_line_with_exit_code_1(seeded: Seeded) -> None:
    env = seeded.server.env(role="reader")
    for args, code in [
        (["--lookup-attributes", "Bogus=x"], "InvalidLookupAttributesException"),
        (["--start-time", "2024-02-01", "--end-time", "2024-01-01"], "InvalidTimeRangeException"),
        (["--starting-token", "bm9wZQ=="], "InvalidNextTokenException"),
    ]:
        result = run_cli("lookup-events", "--endpoint-url", seeded.server.endpoint, *args,
                         env=env)
        assert result.returncode == 1, (args, result.stderr)
        assert result.stderr.startswith(f"error: {code}: ")
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_download_json_holds_every_matching_record(seeded: Seeded, tmp_path: Path) -> None:
    target = tmp_path / "events.json"
    result = run_cli("download", *seeded.window(), "--format", "json", "-o", str(target),
                     env=seeded.server.env(role="reader"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Wrote 131 events to {target}."
    records = json.loads(target.read_text())["Records"]
    assert sorted(r["eventID"] for r in records) == sorted(
        str(e["eventID"]) for e in seeded.events)
    assert not list(tmp_path.glob(".*partial"))


def test_download_csv_has_the_console_columns(seeded: Seeded, tmp_path: Path) -> None:
    target = tmp_path / "events.csv"
    result = run_cli("download", *seeded.window(), "--lookup-attributes",
                     "EventSource=s3.amazonaws.com", "-o", str(target),
                     env=seeded.server.env(role="reader"))
    assert result.returncode == 0, result.stderr
    with target.open(newline="") as f:
        reader = csv.reader(f)
        assert tuple(next(reader)) == CSV_COLUMNS
        rows = [dict(zip(CSV_COLUMNS, row, strict=True)) for row in reader]
    assert len(rows) == 10
    assert {r["Error code"] for r in rows} == {"AccessDenied", ""}
    assert {r["Resource name"] for r in rows} == {"arn:aws:s3:::logs"}
    assert all(json.loads(r["CloudTrail event"])["eventID"] == r["Event ID"] for r in rows)


def test_download_of_nothing_is_still_a_valid_file(seeded: Seeded, tmp_path: Path) -> None:
    target = tmp_path / "insights.json"
    result = run_cli("download", *seeded.window(), "--event-category", "insight",
                     "-o", str(target), env=seeded.server.env(role="reader"))
    assert result.returncode == 0, result.stderr
    assert json.loads(target.read_text()) == {"Records": []}


def test_a_failed_download_leaves_no_file(live_server: Server, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = run_cli("download", "--endpoint-url", live_server.endpoint, "--lookup-attributes",
                     "Bogus=x", "-o", str(out_dir / "events.json"),
                     env=live_server.env(role="reader"))
    assert result.returncode == 1
    assert result.stderr.startswith("error: InvalidLookupAttributesException: ")
    assert list(out_dir.iterdir()) == []


def test_imported_invictus_data_downloads_back_unchanged(live_server: Server,
                                                         tmp_path: Path) -> None:
    # The 2023 sample is older than the default 90-day history: keep history forever.
    live_server.kill()
    live_server.extra_args = ("--history-retention-days", "0")
    live_server.start()
    invictus = Path(__file__).resolve().parents[2].parent / "shared/datasets/invictus-aws"
    env = live_server.env(role="writer", account=None)
    imported = run_cli("import", str(invictus / "CloudTrail"), "--endpoint-url",
                       live_server.endpoint, env=env)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    originals = {r["eventID"]: r for f in sorted((invictus / "CloudTrail").glob("*.json"))
                 for r in json.loads(f.read_bytes())["Records"]}
    client: Any = live_server.client(role="reader", account=None)
    window = {"StartTime": datetime(2023, 7, 10, tzinfo=UTC),
              "EndTime": datetime(2023, 7, 11, tzinfo=UTC)}
    wait_until(lambda: sum(len(p["Events"]) for p in client.get_paginator("lookup_events")
                           .paginate(**window)) == len(originals), timeout=60)
    target = tmp_path / "invictus.json"
    result = run_cli("download", "--endpoint-url", live_server.endpoint, "--start-time",
                     "2023-07-10", "--end-time", "2023-07-11", "-o", str(target), env=env)
    assert result.returncode == 0, result.stderr
    records = json.loads(target.read_text())["Records"]
    assert {r["eventID"] for r in records} == set(originals)
    for record in records[:50]:
        assert record == originals[record["eventID"]]
