"""End to end: records in through the ingest API, Insights out through boto3 and the CLI."""

from __future__ import annotations

import gzip
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import Server, free_port, make_event, post_records, wait_until

pytestmark = pytest.mark.e2e

ARN = "arn:aws:iam::123456789012:user/"


def _when(at: datetime, second: int) -> str:
    return (at + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _traffic(origin: datetime) -> list[dict[str, object]]:
    """150 quiet minutes of RunInstances, a 4-minute burst by mallory at minute 100,
    and 12 AccessDenied GetPasswordData calls a minute during it."""
    out: list[dict[str, object]] = []
    for minute in range(150):
        at = origin + timedelta(minutes=minute)
        out += [make_event("RunInstances", when=_when(at, 7 + 20 * i), readOnly=False)
                for i in range(2)]
        if 100 <= minute < 104:
            identity = {"type": "IAMUser", "arn": ARN + "mallory", "accountId": "123456789012"}
            out += [make_event("RunInstances", when=_when(at, i), readOnly=False,
                               userIdentity=identity, userAgent="boto3/evil")
                    for i in range(50)]
            out += [make_event("GetPasswordData", when=_when(at, i), readOnly=True,
                               errorCode="Client.UnauthorizedOperation",
                               userIdentity=identity) for i in range(12)]
    return out


def _insights(client: Any) -> list[dict[str, Any]]:
    events = client.lookup_events(EventCategory="insight", MaxResults=50)["Events"]
    return [json.loads(e["CloudTrailEvent"]) for e in events]


@pytest.fixture
def delivering_server(tmp_path: Path) -> Iterator[Server]:
    """A server whose trails deliver every second (CloudTrail-Insight/ files too)."""
    server = Server(tmp_path / "data", free_port(), ("--delivery-interval", "1"))
    server.start()
    yield server
    server.kill(signal.SIGTERM)


def _insight_files(server: Server) -> list[Path]:
    root = server.data_dir / "buckets" / "audit-bucket" / "AWSLogs"
    return sorted(root.glob("*/CloudTrail-Insight/us-east-1/*/*/*/*.json.gz"))


def test_insights_recorded_for_a_trail_with_insight_selectors(
        delivering_server: Server) -> None:
    live_server = delivering_server
    client: Any = live_server.client()
    client.create_trail(Name="audit", S3BucketName="audit-bucket")
    client.start_logging(Name="audit")
    client.put_insight_selectors(TrailName="audit", InsightSelectors=[
        {"InsightType": "ApiCallRateInsight"}, {"InsightType": "ApiErrorRateInsight"}])
    origin = (datetime.now(UTC) - timedelta(hours=5)).replace(second=0, microsecond=0)
    records = _traffic(origin)
    for i in range(0, len(records), 2000):
        post_records(live_server, records[i:i + 2000])
    wait_until(lambda: len(_insights(client)) >= 4, timeout=120)
    found = _insights(client)
    calls = [r for r in found if r["insightDetails"]["insightType"] == "ApiCallRateInsight"]
    states = {r["insightDetails"]["state"]: r for r in calls}
    assert set(states) == {"Start", "End"}
    start, end = states["Start"], states["End"]
    assert start["sharedEventID"] == end["sharedEventID"]
    assert start["eventTime"] == (origin + timedelta(minutes=100)).strftime("%Y-%m-%dT%H:%M:00Z")
    assert end["eventTime"] == (origin + timedelta(minutes=104)).strftime("%Y-%m-%dT%H:%M:00Z")
    stats = end["insightDetails"]["insightContext"]["statistics"]
    assert stats["insightDuration"] == 4 and stats["insight"]["average"] == 52
    who = end["insightDetails"]["insightContext"]["attributions"][0]
    assert who["attribute"] == "userIdentityArn"
    assert who["insight"][0] == {"value": ARN + "mallory", "average": 50.0}
    errors = [r for r in found if r["insightDetails"]["insightType"] == "ApiErrorRateInsight"]
    assert {r["insightDetails"]["errorCode"] for r in errors} == {"Client.UnauthorizedOperation"}
    # Insights never show up without EventCategory=insight
    plain = client.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "RunInstances"}], MaxResults=50)
    assert all(json.loads(e["CloudTrailEvent"])["eventType"] != "AwsCloudTrailInsight"
               for e in plain["Events"])
    _check_metric(client, origin)
    _check_cli(live_server, start["sharedEventID"])
    wait_until(lambda: len({r["eventID"] for f in _insight_files(live_server)
                            for r in json.loads(gzip.decompress(f.read_bytes()))["Records"]})
               >= len(found), timeout=120)
    name = _insight_files(live_server)[0].name
    assert re.fullmatch(r"123456789012_CloudTrail-Insight_us-east-1_\d{8}T\d{4}Z_"
                        r"[A-Za-z0-9]{16}\.json\.gz", name), name


def _check_metric(client: Any, origin: datetime) -> None:
    data = client.list_insights_metric_data(
        EventSource="ec2.amazonaws.com", EventName="RunInstances",
        InsightType="ApiCallRateInsight", StartTime=origin + timedelta(minutes=98),
        EndTime=origin + timedelta(minutes=106), Period=60, DataType="FillWithZeros")
    assert data["Values"] == [2.0, 2.0, 52.0, 52.0, 52.0, 52.0, 2.0, 2.0]
    assert data["Timestamps"][0] == origin + timedelta(minutes=98)
    sparse = client.list_insights_metric_data(
        EventSource="ec2.amazonaws.com", EventName="GetPasswordData",
        InsightType="ApiErrorRateInsight", ErrorCode="Client.UnauthorizedOperation",
        StartTime=origin, EndTime=origin + timedelta(hours=3), Period=3600,
        DataType="NonZeroData")
    assert sparse["Values"] == [48.0]
    with pytest.raises(ClientError) as bad:
        client.list_insights_metric_data(EventSource="ec2.amazonaws.com",
                                         EventName="RunInstances",
                                         InsightType="ApiCallRateInsight", Period=120)
    assert bad.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "Period" in bad.value.response["Error"]["Message"]


def _check_cli(server: Server, insight_id: str) -> None:
    args = ["--endpoint-url", server.endpoint]
    listed = subprocess.run([sys.executable, "-m", "opentrail", "insights", "list", *args],
                            capture_output=True, text=True, env=server.env(), timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert "RunInstances" in listed.stdout and "GetPasswordData" in listed.stdout
    shown = subprocess.run([sys.executable, "-m", "opentrail", "insights", "show", insight_id,
                            *args], capture_output=True, text=True, env=server.env(),
                           timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "mallory" in shown.stdout and "#" in shown.stdout


def test_no_insights_without_selectors(live_server: Server) -> None:
    """Analysed, but not recorded: another account's trail wants Insights (so the engine
    runs), this account's trails do not."""
    other: Any = live_server.client(account="210987654321")
    other.create_trail(Name="other", S3BucketName="other-bucket")
    other.put_insight_selectors(TrailName="other", InsightSelectors=[
        {"InsightType": "ApiCallRateInsight"}])
    client: Any = live_server.client()
    origin = (datetime.now(UTC) - timedelta(hours=5)).replace(second=0, microsecond=0)
    post_records(live_server, _traffic(origin))
    wait_until(lambda: _counted(client, origin) == 500, timeout=120)
    deadline = time.monotonic() + 3  # give the detector a moment: nothing must appear
    while time.monotonic() < deadline:
        assert _insights(client) == []
        time.sleep(0.2)


def _counted(client: Any, origin: datetime) -> float:
    """RunInstances calls in ListInsightsMetricData over the traffic's first 3 hours."""
    return sum(client.list_insights_metric_data(
        EventSource="ec2.amazonaws.com", EventName="RunInstances",
        InsightType="ApiCallRateInsight", Period=3600, DataType="NonZeroData",
        StartTime=origin, EndTime=origin + timedelta(hours=3))["Values"])


def test_engine_idle_until_a_trail_wants_insights_then_counts_the_backlog(
        live_server: Server) -> None:
    """Counting costs ingest CPU, so the engine waits for the first Insights selector;
    then it counts the stored history, so the baseline covers what came before."""
    client: Any = live_server.client()
    origin = (datetime.now(UTC) - timedelta(hours=5)).replace(second=0, microsecond=0)
    post_records(live_server, _traffic(origin))
    client.lookup_events(MaxResults=1)  # the events are stored (acknowledged above)
    time.sleep(2)  # the engine polls every second: it would have counted by now
    assert _counted(client, origin) == 0
    client.create_trail(Name="audit", S3BucketName="audit-bucket")
    client.put_insight_selectors(TrailName="audit", InsightSelectors=[
        {"InsightType": "ApiCallRateInsight"}])
    wait_until(lambda: _counted(client, origin) == 500, timeout=120)
