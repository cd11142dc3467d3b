"""End to end: Insights on an event data store reach its InsightsDestination store.

boto3 against a real `opentrail serve`: a Management store (the source) with
PutInsightSelectors(EventDataStore, InsightsDestination, ApiCallRateInsight), three hours
of quiet history sent through the ingest API, then a burst the Insights engine detects;
StartQuery on the destination returns the Insights events in spec §6's Insights schema.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from conftest import Server, make_event, post_records, wait_until

pytestmark = pytest.mark.e2e

ARN = "arn:aws:iam::123456789012:user/"
MARK = str(uuid.uuid4())
INSIGHT = [{"Name": "Insights events",
            "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Insight"]}]}]


def _when(at: datetime, second: int) -> str:
    return (at + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _traffic(origin: datetime) -> list[dict[str, object]]:
    """150 quiet minutes of RunInstances (2 a minute), a 4-minute burst of 50 a minute
    by mallory at minute 100, with 12 AccessDenied GetPasswordData calls a minute."""
    out: list[dict[str, object]] = []
    for minute in range(150):
        at = origin + timedelta(minutes=minute)
        out += [make_event("RunInstances", when=_when(at, 7 + 20 * i), readOnly=False)
                for i in range(2)]
        if 100 <= minute < 104:
            identity = {"type": "IAMUser", "arn": ARN + "mallory", "accountId": "123456789012"}
            out += [make_event("RunInstances", when=_when(at, i), readOnly=False,
                               userIdentity=identity) for i in range(50)]
            out += [make_event("GetPasswordData", when=_when(at, i), readOnly=True,
                               errorCode="Client.UnauthorizedOperation",
                               userIdentity=identity) for i in range(12)]
    return out


def _run(client: Any, sql: str) -> list[dict[str, str]]:
    """StartQuery, wait, every row as one dict."""
    query_id = client.start_query(QueryStatement=sql)["QueryId"]
    deadline = time.monotonic() + 120
    while (info := client.describe_query(QueryId=query_id))["QueryStatus"] in (
            "QUEUED", "RUNNING"):
        assert time.monotonic() < deadline, info
        time.sleep(0.1)
    assert info["QueryStatus"] == "FINISHED", info
    rows: list[dict[str, str]] = []
    token = None
    while True:
        page = client.get_query_results(QueryId=query_id, **({"NextToken": token}
                                                             if token else {}))
        rows += [{k: v for cell in row for k, v in cell.items()}
                 for row in page["QueryResultRows"]]
        token = page.get("NextToken")
        if not token:
            return rows


def test_insights_of_a_source_store_are_queried_in_its_destination(
        live_server: Server) -> None:
    client: Any = live_server.client()
    source = client.create_event_data_store(Name="management")["EventDataStoreArn"]
    dest = client.create_event_data_store(Name="insights", AdvancedEventSelectors=INSIGHT)
    idle = client.create_event_data_store(Name="no-source", AdvancedEventSelectors=INSIGHT)
    answer = client.put_insight_selectors(
        EventDataStore=source, InsightsDestination=dest["EventDataStoreArn"],
        InsightSelectors=[{"InsightType": "ApiCallRateInsight"}])
    assert answer["InsightsDestination"] == dest["EventDataStoreArn"]
    source_id, dest_id = source.rsplit("/", 1)[1], dest["EventDataStoreArn"].rsplit("/", 1)[1]
    idle_id = idle["EventDataStoreArn"].rsplit("/", 1)[1]
    # A trail asks for ApiErrorRateInsight: the engine records those too, but the store's
    # source did not select that type, so they must not reach its destination.
    client.create_trail(Name="errors", S3BucketName="errors-bucket")
    client.put_insight_selectors(TrailName="errors", InsightSelectors=[
        {"InsightType": "ApiErrorRateInsight"}])

    origin = (datetime.now(UTC) - timedelta(hours=5)).replace(second=0, microsecond=0)
    records = _traffic(origin)
    for i in range(0, len(records), 2000):
        post_records(live_server, records[i:i + 2000])

    columns = ("eventcategory, eventtype, insightstate, insighteventsource, insighteventname, "
               "insighttype, insightsource, insightcontext.insightaverage AS insightaverage, "
               "insightcontext.baselineaverage AS baselineaverage, "
               "insightcontext.insightduration AS insightduration, "
               "insightcontext.attributions[1].attribute AS attribute, "
               "insightcontext.attributions[1].insight[1].value AS who, sharedeventid, "
               "eventtime, recipientaccountid, awsregion")

    def insights() -> list[dict[str, str]]:
        rows = _run(client, f"SELECT {columns} FROM {dest_id} ORDER BY eventtime")
        return rows if len(rows) >= 2 else []

    wait_until(insights, timeout=180)

    def error_insights() -> bool:
        found = client.lookup_events(EventCategory="insight", MaxResults=50)["Events"]
        return any(json.loads(e["CloudTrailEvent"])["insightDetails"]["insightType"]
                   == "ApiErrorRateInsight" for e in found)

    wait_until(error_insights, timeout=180)
    # one more event after them: once the source holds it, the Lake writer has passed
    # every Insights event before it (one cursor over the ledger for all stores)
    # (a read call inside the traffic's time: it changes no call rate)
    post_records(live_server, [make_event("DescribeRegions", readOnly=True, eventID=MARK,
                                          when=_when(origin, 149 * 60))])
    wait_until(lambda: _run(client, f"SELECT eventid FROM {source_id} "
                                    f"WHERE eventid = '{MARK}'"), timeout=60)
    rows = insights()
    assert {r["insightstate"] for r in rows} == {"Start", "End"}, rows
    start = next(r for r in rows if r["insightstate"] == "Start")
    end = next(r for r in rows if r["insightstate"] == "End")
    for row in rows:
        assert row["eventcategory"] == "Insight" and row["eventtype"] == "AwsCloudTrailInsight"
        # only the type the source asked for: the GetPasswordData errors are no Insight
        assert row["insighttype"] == "ApiCallRateInsight"
        assert (row["insighteventsource"], row["insighteventname"]) == (
            "ec2.amazonaws.com", "RunInstances")
        assert row["insightsource"] == source
        assert (row["recipientaccountid"], row["awsregion"]) == ("123456789012", "us-east-1")
    assert start["sharedeventid"] == end["sharedeventid"], [
        (r["insightstate"], r["eventtime"], r["insighteventname"], r["sharedeventid"])
        for r in rows]
    assert start["eventtime"] == (origin + timedelta(minutes=100)).strftime(
        "%Y-%m-%d %H:%M:00.000")
    assert float(end["insightaverage"]) == 52 and int(end["insightduration"]) == 4
    assert float(end["baselineaverage"]) < 10
    assert (end["attribute"], end["who"]) == ("userIdentityArn", ARN + "mallory")

    # the source holds the management events and none of the Insights events; another
    # Insight store that no source names receives nothing
    held = _run(client, f"SELECT eventcategory, count(*) AS n FROM {source_id} "
                        "GROUP BY eventcategory")
    assert [r["eventcategory"] for r in held] == ["Management"], held
    sent = _run(client, f"SELECT count(*) AS n FROM {source_id} "
                        "WHERE eventsource = 'ec2.amazonaws.com'")
    assert sent == [{"n": str(len(records) + 1)}]  # the rest: this test's own API calls
    assert _run(client, f"SELECT count(*) AS n FROM {idle_id}") == [{"n": "0"}]
    # turned off: later Insights events go nowhere (the store keeps what it has)
    client.put_insight_selectors(EventDataStore=source, InsightsDestination=dest[
        "EventDataStoreArn"], InsightSelectors=[])
    with pytest.raises(client.exceptions.InsightNotEnabledException):
        client.get_insight_selectors(EventDataStore=source)
    assert len(_run(client, f"SELECT eventid FROM {dest_id}")) == len(rows)

    # validate-lake re-selects the destination's rows with the routing its manifests
    # recorded (no source at first, then the source, then none again)
    def validated() -> bool:
        done = subprocess.run([sys.executable, "-m", "opentrail", "validate-lake",
                               "--data-dir", str(live_server.data_dir), dest_id],
                              capture_output=True, text=True, timeout=120)
        return done.returncode == 0 and done.stdout.strip().endswith("VALID")

    wait_until(validated, timeout=60)
