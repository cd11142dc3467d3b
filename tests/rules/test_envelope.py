"""The EventBridge envelope of CloudTrail records (spec detection.md §4.1)."""

from __future__ import annotations

import uuid

import pytest

from opentrail.rules import envelope, source_of

RECORD = {"eventVersion": "1.08", "eventTime": "2024-07-31T13:06:24Z",
          "eventSource": "iam.amazonaws.com", "eventName": "CreateUser",
          "awsRegion": "us-east-1", "eventType": "AwsApiCall",
          "recipientAccountId": "111122223333", "eventID": "e1"}


def test_envelope_members() -> None:
    env = envelope(RECORD)
    assert list(env) == ["version", "id", "detail-type", "source", "account", "time",
                         "region", "resources", "detail"]
    assert env["version"] == "0"
    assert uuid.UUID(env["id"]) and env["id"] != RECORD["eventID"]
    assert env["detail-type"] == "AWS API Call via CloudTrail"
    assert env["source"] == "aws.iam"
    assert (env["account"], env["time"], env["region"]) == (
        "111122223333", "2024-07-31T13:06:24Z", "us-east-1")
    assert env["resources"] == [] and env["detail"] is RECORD


@pytest.mark.parametrize(("event_type", "wanted"), [
    ("AwsConsoleSignIn", "AWS Console Sign In via CloudTrail"),
    ("AwsConsoleAction", "AWS Console Action via CloudTrail"),
    ("AwsServiceEvent", "AWS Service Event via CloudTrail"),
    ("AwsCloudTrailInsight", "AWS Insight via CloudTrail"),
])
def test_detail_type_by_event_type(event_type: str, wanted: str) -> None:
    assert envelope({**RECORD, "eventType": event_type})["detail-type"] == wanted


def test_insight_source_and_ledger_fallbacks() -> None:
    env = envelope({"eventType": "AwsCloudTrailInsight", "eventSource": "ec2.amazonaws.com"},
                   account="1", region="eu-west-1")
    assert (env["source"], env["account"], env["region"]) == ("aws.cloudtrail", "1",
                                                              "eu-west-1")


def test_sigma_findings() -> None:
    env = envelope({**RECORD, "eventSource": "detect.opentrail.local",
                    "eventName": "SigmaRuleMatch"})
    assert (env["detail-type"], env["source"]) == ("Sigma Rule Match", "opentrail.detect")


@pytest.mark.parametrize(("event_source", "wanted"), [
    ("signin.amazonaws.com", "aws.signin"), ("cloudtrail.amazonaws.com", "aws.cloudtrail"),
    ("monitoring.amazonaws.com", "aws.cloudwatch"), ("myapp.example.com", "myapp.example.com"),
])
def test_source(event_source: str, wanted: str) -> None:
    assert source_of(event_source) == wanted
