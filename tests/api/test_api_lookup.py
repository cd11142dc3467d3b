"""LookupEvents end to end: a real server on loopback, boto3 and the aws CLI."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, Server, make_event, post_records, wait_until

pytestmark = pytest.mark.e2e


def _lookup(client: Any, **kw: Any) -> list[dict[str, Any]]:
    pages = client.get_paginator("lookup_events").paginate(**kw)
    return [e for page in pages for e in page["Events"]]


def _ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["EventId"] for e in events]


def _seed(server: Server) -> list[dict[str, Any]]:
    events = [
        make_event("RunInstances", when="2026-11-20T10:00:00Z", readOnly=False,
                   resources=[{"ARN": "arn:aws:ec2:us-east-1:123456789012:instance/i-1",
                               "accountId": ACCOUNT, "type": "AWS::EC2::Instance"}]),
        make_event("DescribeInstances", when="2026-11-20T10:01:00Z"),
        make_event("DeleteBucket", when="2026-11-20T10:02:00Z", readOnly=False,
                   eventSource="s3.amazonaws.com", errorCode="AccessDenied",
                   errorMessage="Access Denied"),
        make_event("GetObject", when="2026-11-20T10:03:00Z", eventCategory="Data",
                   managementEvent=False, eventSource="s3.amazonaws.com"),
        make_event("DescribeInstances", when="2026-11-20T10:04:00Z", region="us-west-2"),
    ]
    result = post_records(server, events)
    assert result["accepted"] == 5
    return events


def test_each_attribute_finds_its_events(live_server: Server) -> None:
    events = _seed(live_server)
    ct = live_server.client(role="reader")
    window = {"StartTime": 1795160000, "EndTime": 1795200000}
    wait_until(lambda: len(_lookup(ct, **window, LookupAttributes=[
        {"AttributeKey": "EventSource", "AttributeValue": "ec2.amazonaws.com"}])) == 2)
    cases = {
        ("EventName", "RunInstances"): [events[0]],
        ("ReadOnly", "false"): [events[2], events[0]],
        ("Username", "alice"): [events[2], events[1], events[0]],
        ("ResourceType", "AWS::EC2::Instance"): [events[0]],
        ("ResourceName", "arn:aws:ec2:us-east-1:123456789012:instance/i-1"): [events[0]],
        ("EventSource", "s3.amazonaws.com"): [events[2]],  # the data event is not returned
        ("AccessKeyId", "AKIAEXAMPLE"): [events[2], events[1], events[0]],
        ("EventId", events[1]["eventID"]): [events[1]],
        ("ErrorCode", "AccessDenied"): [events[2]],
        ("SourceIPAddress", "203.0.113.7"): [events[2], events[1], events[0]],
    }
    for (key, value), expected in cases.items():
        found = _lookup(ct, **window,
                        LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}])
        assert _ids(found) == [e["eventID"] for e in expected], (key, value)
    anded = _lookup(ct, **window, LookupAttributes=[
        {"AttributeKey": "ReadOnly", "AttributeValue": "false"},
        {"AttributeKey": "EventSource", "AttributeValue": "ec2.amazonaws.com"}])
    assert _ids(anded) == [events[0]["eventID"]]


def test_event_shape_and_region_scope(live_server: Server) -> None:
    events = _seed(live_server)
    west = live_server.client(role="reader", region="us-west-2")
    wait_until(lambda: len(_lookup(west, StartTime=1795160000, EndTime=1795200000)) == 1)
    [event] = _lookup(west, StartTime=1795160000, EndTime=1795200000)
    assert event["EventId"] == events[4]["eventID"]
    assert event["EventName"] == "DescribeInstances"
    assert event["ReadOnly"] == "true"
    assert event["Username"] == "alice"
    assert event["AccessKeyId"] == "AKIAEXAMPLE"
    assert event["EventSource"] == "ec2.amazonaws.com"
    assert event["EventTime"].timestamp() == 1795169040
    assert json.loads(event["CloudTrailEvent"]) == events[4]


def test_pagination_returns_each_event_once_newest_first(live_server: Server) -> None:
    base = 1795600000
    events = [make_event(when=_iso(base + i // 3)) for i in range(137)]
    post_records(live_server, events)
    ct = live_server.client(role="reader")
    window = {"StartTime": base, "EndTime": base + 1000}
    wait_until(lambda: len(_lookup(ct, **window)) == 137)
    pages = list(ct.get_paginator("lookup_events").paginate(
        **window, PaginationConfig={"PageSize": 10}))
    found = [e for p in pages for e in p["Events"]]
    assert len(pages) == 14
    assert sorted(_ids(found)) == sorted(e["eventID"] for e in events)
    times = [e["EventTime"] for e in found]
    assert times == sorted(times, reverse=True)


def _iso(ts: int) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def test_time_range_is_inclusive(live_server: Server) -> None:
    events = [make_event(when=_iso(1795600000 + i)) for i in range(5)]
    post_records(live_server, events)
    ct = live_server.client(role="reader")
    wait_until(lambda: len(_lookup(ct, StartTime=1795600000, EndTime=1795600004)) == 5)
    assert len(_lookup(ct, StartTime=1795600001, EndTime=1795600003)) == 3


@pytest.mark.parametrize(("kwargs", "code"), [
    ({"MaxResults": 51}, "InvalidMaxResultsException"),
    ({"StartTime": 1795600100, "EndTime": 1795600000}, "InvalidTimeRangeException"),
    ({"LookupAttributes": [{"AttributeKey": "Nope", "AttributeValue": "x"}]},
     "InvalidLookupAttributesException"),
    ({"LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": "x" * 2001}]},
     "InvalidLookupAttributesException"),
    ({"EventCategory": "management"}, "InvalidEventCategoryException"),
    ({"EventCategory": "insight",
      "LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": "x"}]},
     "InvalidLookupAttributesException"),
    ({"NextToken": "garbage"}, "InvalidNextTokenException"),
])
def test_errors_name_the_problem(live_server: Server, kwargs: dict[str, Any],
                                 code: str) -> None:
    ct: Any = live_server.client(role="reader")
    with pytest.raises(ClientError) as info:
        ct.lookup_events(**kwargs)
    assert info.value.response["Error"]["Code"] == code
    assert info.value.response["Error"]["Message"]
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert ct.lookup_events()["Events"] is not None  # the server keeps serving


def test_next_token_is_bound_to_its_query(live_server: Server) -> None:
    post_records(live_server, [make_event(when=_iso(1795600000 + i)) for i in range(5)])
    ct: Any = live_server.client(role="reader")
    wait_until(lambda: len(_lookup(ct, StartTime=1795600000, EndTime=1795600010)) == 5)
    page = ct.lookup_events(StartTime=1795600000, EndTime=1795600010, MaxResults=2)
    with pytest.raises(ClientError) as info:
        ct.lookup_events(StartTime=1795600000, EndTime=1795600009, MaxResults=2,
                         NextToken=page["NextToken"])
    assert info.value.response["Error"]["Code"] == "InvalidNextTokenException"


def test_accounts_see_only_their_own_events(live_server: Server) -> None:
    other = "210987654321"
    mine = post_records(live_server, [make_event(when=_iso(1795600000))])
    theirs = post_records(live_server, [make_event(when=_iso(1795600001), account=other)],
                          account=other)
    window = {"StartTime": 1795600000, "EndTime": 1795600010}
    me = live_server.client(role="reader")
    them = live_server.client(role="reader", account=other)
    org = live_server.client(role="reader", account=None)
    wait_until(lambda: len(_lookup(org, **window)) == 2)
    assert _ids(_lookup(me, **window)) == mine["eventIds"]
    assert _ids(_lookup(them, **window)) == theirs["eventIds"]
    narrowed = _lookup(org, **window, LookupAttributes=[
        {"AttributeKey": "RecipientAccountId", "AttributeValue": other}])
    assert _ids(narrowed) == theirs["eventIds"]
    # A key of one account cannot write another account's events.
    result = post_records(live_server, [make_event(account=other)])
    assert result["rejected"] == 1
    assert result["failed"][0]["errorCode"] == "InvalidRecipient"  # type: ignore[index]


def test_aws_cli_lookup_events(live_server: Server) -> None:
    post_records(live_server, [make_event("ConsoleLogin", when=_iso(1795600000))])
    ct = live_server.client(role="reader")
    wait_until(lambda: len(_lookup(ct, StartTime=1795600000, EndTime=1795600000)) == 1)
    proc = subprocess.run(
        ["aws", "cloudtrail", "lookup-events", "--endpoint-url", live_server.endpoint,
         "--lookup-attributes", "AttributeKey=EventName,AttributeValue=ConsoleLogin",
         "--start-time", "2026-11-25T09:00:00Z", "--end-time", "2026-11-25T10:00:00Z"],
        capture_output=True, text=True, env=live_server.env(role="reader"), timeout=120)
    assert proc.returncode == 0, proc.stderr
    [event] = json.loads(proc.stdout)["Events"]
    assert event["EventName"] == "ConsoleLogin"
