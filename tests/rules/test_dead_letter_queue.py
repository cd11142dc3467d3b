"""DeadLetterConfig: a delivery that gives up is sent to its SQS queue (moto's SQS server
on loopback, through --sqs-endpoint-url) with EventBridge's attributes, and is still
listed as a dead letter; a queue that cannot be reached is said so in that record."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from rules_webhook import Webhook, webhook_fixture  # noqa: F401 - the fixture
from test_delivery import _dead_letters, _destination

from conftest import ACCOUNT, make_event, post_records, wait_until

PATTERN = json.dumps({"detail": {"eventName": ["DeleteTrail"]}})


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials for boto3 in the server and here (moto accepts any)."""
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)


def test_dead_letter_goes_to_sqs(aws_env: None, moto_url: str, make_server: Any,
                                 webhook: Webhook) -> None:
    sqs = boto3.client("sqs", endpoint_url=moto_url, region_name="us-east-1")
    queue = sqs.create_queue(QueueName="rules-dlq")["QueueUrl"]
    queue_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:rules-dlq"
    server = make_server("--sqs-endpoint-url", moto_url)
    events = server.client("events")
    dest = _destination(events, webhook, "d", "API_KEY", {"ApiKeyAuthParameters": {
        "ApiKeyName": "X-Key", "ApiKeyValue": "v"}}, "/refuses")
    webhook.script = {"/refuses": [400, 400]}
    events.put_rule(Name="delete", EventPattern=PATTERN)
    out = events.put_targets(Rule="delete", Targets=[
        {"Id": "hook", "Arn": dest, "DeadLetterConfig": {"Arn": queue_arn}},
        {"Id": "lost", "Arn": dest, "DeadLetterConfig": {
            "Arn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:no-such-queue"}}])
    assert out["FailedEntryCount"] == 0
    listed = {t["Id"]: t for t in events.list_targets_by_rule(Rule="delete")["Targets"]}
    assert listed["hook"]["DeadLetterConfig"] == {"Arn": queue_arn}
    post_records(server, [make_event("DeleteTrail", eventSource="cloudtrail.amazonaws.com",
                                     readOnly=False)])
    messages: list[dict[str, Any]] = []

    def received() -> bool:
        messages.extend(sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1,
                                            MessageAttributeNames=["All"]).get("Messages", []))
        return bool(messages)

    wait_until(received, timeout=30)
    body = json.loads(messages[0]["Body"])
    assert body["detail"]["eventName"] == "DeleteTrail" and body["source"] == "aws.cloudtrail"
    attrs = {k: v["StringValue"] for k, v in messages[0]["MessageAttributes"].items()}
    assert attrs["RULE_ARN"] == f"arn:aws:events:us-east-1:{ACCOUNT}:rule/delete"
    assert attrs["TARGET_ARN"] == dest and attrs["RETRY_ATTEMPTS"] == "0"
    assert "HTTP 400" in attrs["ERROR_MESSAGE"]
    wait_until(lambda: len(_dead_letters(server)) == 2)
    dead = {d["target"]: d["error"] for d in _dead_letters(server)}
    assert f"sent to dead-letter queue {queue_arn}" in dead["hook"]
    assert "dead-letter queue" in dead["lost"] and "failed" in dead["lost"]
