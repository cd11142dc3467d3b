"""EventBridge's rule API through boto3's unchanged `events` client against a real server.

One server for the module; each test works in an account of its own (accounts are
isolated, so every test starts from an empty one)."""

from __future__ import annotations

import itertools
import json
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import Server, free_port, wait_until

PATTERN = json.dumps({"source": ["aws.cloudtrail"],
                      "detail": {"eventName": ["StopLogging", "DeleteTrail"]}})


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real `opentrail serve` for this module: starting one costs seconds."""
    server = Server(tmp_path_factory.mktemp("rules-api") / "data", free_port())
    server.start()
    yield server
    server.kill(signal.SIGTERM)


_accounts = itertools.count(100000000001)


@pytest.fixture
def account() -> str:
    return str(next(_accounts))


@pytest.fixture
def events(live_server: Server, account: str) -> Any:
    return live_server.client("events", account=account)


def _code(info: pytest.ExceptionInfo[ClientError]) -> str:
    return str(info.value.response["Error"]["Code"])


def test_rule_lifecycle(events: Any, account: str) -> None:
    arn = events.put_rule(Name="stop-logging", EventPattern=PATTERN,
                          Description="trail stopped", Tags=[{"Key": "team", "Value": "sec"}]
                          )["RuleArn"]
    assert arn == f"arn:aws:events:us-east-1:{account}:rule/stop-logging"
    rule = events.describe_rule(Name="stop-logging")
    assert (rule["State"], rule["EventPattern"], rule["Description"], rule["EventBusName"]) \
        == ("ENABLED", PATTERN, "trail stopped", "default")
    events.disable_rule(Name="stop-logging")
    assert events.describe_rule(Name="stop-logging")["State"] == "DISABLED"
    events.enable_rule(Name="stop-logging")
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == [
        {"Key": "team", "Value": "sec"}]
    events.tag_resource(ResourceARN=arn, Tags=[{"Key": "env", "Value": "prod"}])
    events.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == [
        {"Key": "env", "Value": "prod"}]
    events.put_rule(Name="stop-logging", EventPattern=PATTERN,
                    State="ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS")
    assert events.describe_rule(Name="stop-logging")["State"] == \
        "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
    events.delete_rule(Name="stop-logging")
    with pytest.raises(ClientError) as info:
        events.describe_rule(Name="stop-logging")
    assert _code(info) == "ResourceNotFoundException"


def test_list_rules_prefix_and_paging(events: Any) -> None:
    for i in range(5):
        events.put_rule(Name=f"r-{i}", EventPattern=PATTERN)
    events.put_rule(Name="other", EventPattern=PATTERN)
    first = events.list_rules(NamePrefix="r-", Limit=2)
    assert [r["Name"] for r in first["Rules"]] == ["r-0", "r-1"]
    names = [r["Name"] for r in first["Rules"]]
    token = first.get("NextToken")
    while token:
        more = events.list_rules(NamePrefix="r-", Limit=2, NextToken=token)
        names += [r["Name"] for r in more["Rules"]]
        token = more.get("NextToken")
    assert names == [f"r-{i}" for i in range(5)]
    paginated = events.get_paginator("list_rules").paginate(PaginationConfig={"PageSize": 4})
    assert sum(len(p["Rules"]) for p in paginated) == 6


def test_invalid_patterns(events: Any) -> None:
    for bad, reason in [('{"a": [{"contains": "x"}]}', "Unrecognized match type contains"),
                        ('{"a": []}', "Empty arrays are not allowed"),
                        ('{"a": [{"wildcard": "x**"}]}', "Consecutive wildcard characters")]:
        with pytest.raises(ClientError) as info:
            events.put_rule(Name="bad", EventPattern=bad)
        assert _code(info) == "InvalidEventPatternException"
        assert reason in info.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as info:
        events.put_rule(Name="bad")
    assert _code(info) == "ValidationException"


def test_test_event_pattern(live_server: Server, account: str) -> None:
    events = live_server.client("events", role="reader", account=account)
    event = json.dumps({"id": "1", "account": account, "source": "aws.cloudtrail",
                        "time": "2024-01-01T00:00:00Z", "region": "us-east-1",
                        "resources": [], "detail-type": "AWS API Call via CloudTrail",
                        "detail": {"eventName": "StopLogging"}})
    assert events.test_event_pattern(EventPattern=PATTERN, Event=event)["Result"] is True
    other = event.replace("StopLogging", "StartLogging")
    assert events.test_event_pattern(EventPattern=PATTERN, Event=other)["Result"] is False
    with pytest.raises(ClientError) as info:
        events.test_event_pattern(EventPattern='{"detail": "x"}', Event=event)
    assert _code(info) == "InvalidEventPatternException"
    with pytest.raises(ClientError) as info:
        events.test_event_pattern(EventPattern=PATTERN, Event='{"detail": {}}')
    assert _code(info) == "ValidationException"
    with pytest.raises(ClientError) as info:  # a reader may test, not change
        events.put_rule(Name="x", EventPattern=PATTERN)
    assert _code(info) == "AccessDeniedException"


def _connection(events: Any, name: str = "hook") -> str:
    arn: str = events.create_connection(
        Name=name, AuthorizationType="API_KEY",
        AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": "X-Api-Key",
                                                  "ApiKeyValue": "s3cret-value"},
                        "InvocationHttpParameters": {"HeaderParameters": [
                            {"Key": "X-Tenant", "Value": "t1", "IsValueSecret": False},
                            {"Key": "X-Hidden", "Value": "h1dden", "IsValueSecret": True}]}},
    )["ConnectionArn"]
    return arn


def test_targets(events: Any, account: str) -> None:
    events.put_rule(Name="r", EventPattern=PATTERN)
    conn = _connection(events)
    dest = events.create_api_destination(Name="d", ConnectionArn=conn,
                                         InvocationEndpoint="https://example.com/hook",
                                         HttpMethod="POST")["ApiDestinationArn"]
    out = events.put_targets(Rule="r", Targets=[
        {"Id": "web", "Arn": dest, "RetryPolicy": {"MaximumRetryAttempts": 2}},
        {"Id": "sns", "Arn": f"arn:aws:sns:us-east-1:{account}:alerts"},
        {"Id": "bad", "Arn": "arn:aws:lambda:us-east-1:123456789012:function:f"},
        {"Id": "both", "Arn": "mailto:sec@example.com", "Input": "{}", "InputPath": "$"}])
    assert out["FailedEntryCount"] == 2
    assert [(f["TargetId"], f["ErrorCode"]) for f in out["FailedEntries"]] == [
        ("bad", "ValidationException"), ("both", "ValidationException")]
    ids = [t["Id"] for t in events.list_targets_by_rule(Rule="r")["Targets"]]
    assert ids == ["sns", "web"]
    with pytest.raises(ClientError) as info:
        events.delete_rule(Name="r")
    assert "has targets" in info.value.response["Error"]["Message"]
    events.remove_targets(Rule="r", Ids=["sns", "web"])
    events.delete_rule(Name="r")
    with pytest.raises(ClientError) as info:
        events.put_targets(Rule="nope", Targets=[{"Id": "a", "Arn": dest}])
    assert _code(info) == "ResourceNotFoundException"


def test_connections_never_return_secrets(live_server: Server, events: Any,
                                         account: str) -> None:
    arn = _connection(events)
    described = events.describe_connection(Name="hook")
    assert described["ConnectionArn"] == arn and described["ConnectionState"] == "AUTHORIZED"
    text = json.dumps(described, default=str)
    assert "s3cret-value" not in text and "h1dden" not in text
    assert described["AuthParameters"]["ApiKeyAuthParameters"] == {"ApiKeyName": "X-Api-Key"}
    with pytest.raises(ClientError) as info:
        _connection(events)
    assert _code(info) == "ResourceAlreadyExistsException"
    with pytest.raises(ClientError) as info:
        events.update_connection(Name="hook", KmsKeyIdentifier="alias/mine")
    assert _code(info) == "ValidationException"
    events.update_connection(Name="hook", AuthorizationType="BASIC", AuthParameters={
        "BasicAuthParameters": {"Username": "u", "Password": "pw-s3cret"}})
    described = events.describe_connection(Name="hook")
    assert described["AuthorizationType"] == "BASIC"
    assert "ApiKeyAuthParameters" not in described["AuthParameters"]
    assert [c["Name"] for c in events.list_connections()["Connections"]] == ["hook"]
    stored = (live_server.data_dir / "rules.db").read_bytes()
    assert b"pw-s3cret" not in stored and b"s3cret-value" not in stored
    log = live_server.data_dir.parent.glob("server-*.log")
    assert all(b"pw-s3cret" not in p.read_bytes() for p in log)
    events.delete_connection(Name="hook")
    assert events.list_connections()["Connections"] == []
    audit = _audited(live_server, account, "CreateConnection")
    assert audit["eventSource"] == "events.amazonaws.com"
    assert "s3cret-value" not in json.dumps(audit) and "h1dden" not in json.dumps(audit)
    assert "pw-s3cret" not in json.dumps(_audited(live_server, account, "UpdateConnection"))


def _audited(server: Server, account: str, name: str) -> dict[str, Any]:
    """The self-audit record of an EventBridge call, through LookupEvents."""
    cloudtrail = server.client(account=account)
    found: list[dict[str, Any]] = []

    def visible() -> bool:
        found.extend(cloudtrail.lookup_events(LookupAttributes=[
            {"AttributeKey": "EventName", "AttributeValue": name}])["Events"])
        return bool(found)

    wait_until(visible)
    record: dict[str, Any] = json.loads(found[0]["CloudTrailEvent"])
    return record


def test_api_destinations(events: Any) -> None:
    conn = _connection(events)
    with pytest.raises(ClientError) as info:
        events.create_api_destination(Name="d", ConnectionArn=conn, HttpMethod="POST",
                                      InvocationEndpoint="http://example.com/hook")
    assert "https" in info.value.response["Error"]["Message"]
    events.create_api_destination(Name="d", ConnectionArn=conn, HttpMethod="POST",
                                  InvocationEndpoint="http://127.0.0.1:9/hook")
    events.update_api_destination(Name="d", HttpMethod="PUT",
                                  InvocationRateLimitPerSecond=10)
    dest = events.describe_api_destination(Name="d")
    assert (dest["HttpMethod"], dest["InvocationRateLimitPerSecond"]) == ("PUT", 10)
    assert [d["Name"] for d in events.list_api_destinations(
        ConnectionArn=conn)["ApiDestinations"]] == ["d"]
    events.delete_api_destination(Name="d")
    with pytest.raises(ClientError) as info:
        events.describe_api_destination(Name="d")
    assert _code(info) == "ResourceNotFoundException"


def test_accounts_are_isolated(live_server: Server, account: str) -> None:
    mine = live_server.client("events", account=account)
    theirs = live_server.client("events", account=str(int(account) + 50000))
    mine.put_rule(Name="private", EventPattern=PATTERN)
    assert theirs.list_rules()["Rules"] == []
    with pytest.raises(ClientError):
        theirs.describe_rule(Name="private")


def test_unsupported_operation(events: Any) -> None:
    with pytest.raises(ClientError) as info:
        events.put_events(Entries=[{"Source": "x", "DetailType": "y", "Detail": "{}"}])
    assert _code(info) == "UnsupportedOperationException"


def test_targets_refuse_what_they_would_ignore(events: Any, account: str) -> None:
    """Parameters of target types OpenTrail does not deliver to, a DeadLetterConfig that
    is not an SQS queue, and HttpParameters off API destinations are refused by name."""
    events.put_rule(Name="unused", EventPattern=PATTERN)
    topic = f"arn:aws:sns:us-east-1:{account}:alerts"
    out = events.put_targets(Rule="unused", Targets=[
        {"Id": "kin", "Arn": topic, "KinesisParameters": {"PartitionKeyPath": "$.id"}},
        {"Id": "sqsp", "Arn": topic, "SqsParameters": {"MessageGroupId": "g"}},
        {"Id": "http", "Arn": topic, "HttpParameters": {"HeaderParameters": {"a": "b"}}},
        {"Id": "dlq", "Arn": topic, "DeadLetterConfig": {"Arn": topic}},
        {"Id": "fifo", "Arn": topic, "DeadLetterConfig": {
            "Arn": f"arn:aws:sqs:us-east-1:{account}:q.fifo"}},
        {"Id": "ok", "Arn": topic, "RoleArn": f"arn:aws:iam::{account}:role/r",
         "DeadLetterConfig": {"Arn": f"arn:aws:sqs:us-east-1:{account}:q"}}])
    reasons = {f["TargetId"]: f["ErrorMessage"] for f in out["FailedEntries"]}
    assert {f["ErrorCode"] for f in out["FailedEntries"]} == {"ValidationException"}
    assert "KinesisParameters" in reasons["kin"] and "SqsParameters" in reasons["sqsp"]
    assert "HttpParameters" in reasons["http"]
    assert "DeadLetterConfig.Arn" in reasons["dlq"] and "FIFO" in reasons["fifo"]
    assert sorted(reasons) == ["dlq", "fifo", "http", "kin", "sqsp"]
    assert [t["Id"] for t in events.list_targets_by_rule(Rule="unused")["Targets"]] == ["ok"]
    events.remove_targets(Rule="unused", Ids=["ok"])
    events.delete_rule(Name="unused")


def test_put_rule_refuses_what_it_would_ignore(events: Any, account: str) -> None:
    """ScheduleExpression and RoleArn are refused by name (no rule is made)."""
    for extra in ({"ScheduleExpression": "rate(5 minutes)"},
                  {"RoleArn": f"arn:aws:iam::{account}:role/events"}):
        with pytest.raises(ClientError) as info:
            events.put_rule(Name="ignored", EventPattern=PATTERN, **extra)
        assert _code(info) == "ValidationException"
        assert next(iter(extra)) in info.value.response["Error"]["Message"]
    names = [r["Name"] for r in events.list_rules()["Rules"]]
    assert "ignored" not in names
