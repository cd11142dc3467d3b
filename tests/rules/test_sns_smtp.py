"""SNS targets through moto's SNS server (read back from a subscribed SQS queue) and e-mail
targets through a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from conftest import ACCOUNT, free_port, make_event, post_records, wait_until

PATTERN = json.dumps({"detail": {"eventName": ["DeleteTrail"]}})


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials for boto3 in the server and here (moto accepts any)."""
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)


def test_sns_target(aws_env: None, moto_url: str, make_server: Any) -> None:
    sns = boto3.client("sns", endpoint_url=moto_url, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=moto_url, region_name="us-east-1")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    assert topic == f"arn:aws:sns:us-east-1:{ACCOUNT}:alerts"
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn,
                  Attributes={"RawMessageDelivery": "true"})
    server = make_server("--sns-endpoint-url", moto_url)
    events = server.client("events")
    events.put_rule(Name="delete", EventPattern=PATTERN)
    events.put_targets(Rule="delete", Targets=[{"Id": "sns", "Arn": topic}])
    post_records(server, [make_event("DeleteTrail", eventSource="cloudtrail.amazonaws.com",
                                     readOnly=False)])
    messages: list[dict[str, Any]] = []

    def received() -> bool:
        messages.extend(sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get(
            "Messages", []))
        return bool(messages)

    wait_until(received, timeout=30)
    envelope = json.loads(messages[0]["Body"])
    assert envelope["detail"]["eventName"] == "DeleteTrail"
    assert envelope["source"] == "aws.cloudtrail"


@pytest.fixture
def smtp() -> Iterator[tuple[int, list[Any]]]:
    from aiosmtpd.controller import Controller

    inbox: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            inbox.append(envelope)
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


def test_email_target(smtp: tuple[int, list[Any]], make_server: Any) -> None:
    port, inbox = smtp
    server = make_server("--smtp-url", f"smtp://127.0.0.1:{port}")
    events = server.client("events")
    events.put_rule(Name="delete", EventPattern=PATTERN)
    assert events.put_targets(Rule="delete", Targets=[
        {"Id": "mail", "Arn": "mailto:sec@example.com,ops@example.com"}])[
        "FailedEntryCount"] == 0
    post_records(server, [make_event("DeleteTrail", eventSource="cloudtrail.amazonaws.com",
                                     readOnly=False)])
    wait_until(lambda: bool(inbox))
    mail = inbox[0]
    assert sorted(mail.rcpt_tos) == ["ops@example.com", "sec@example.com"]
    text = mail.content.decode()
    assert "Subject: [OpenTrail] AWS API Call via CloudTrail: DeleteTrail" in text
    assert '"eventName": "DeleteTrail"' in text


def test_trail_sns_notifications(aws_env: None, moto_url: str, make_server: Any) -> None:
    """SnsTopicName: CreateTrail refuses a missing topic; each delivered log file is
    announced with CloudTrail's message."""
    from botocore.exceptions import ClientError

    sns = boto3.client("sns", endpoint_url=moto_url, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=moto_url, region_name="us-east-1")
    topic = sns.create_topic(Name="trail-files")["TopicArn"]
    queue = sqs.create_queue(QueueName="trail-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn,
                  Attributes={"RawMessageDelivery": "true"})
    server = make_server("--sns-endpoint-url", moto_url, "--delivery-interval", "1")
    ct = server.client()
    with pytest.raises(ClientError) as info:
        ct.create_trail(Name="main", S3BucketName="audit", SnsTopicName="no-such-topic")
    assert info.value.response["Error"]["Code"] == "InsufficientSnsTopicPolicyException"
    ct.create_trail(Name="main", S3BucketName="audit", SnsTopicName="trail-files")
    with pytest.raises(ClientError) as info:
        ct.update_trail(Name="main", SnsTopicName="gone")
    assert info.value.response["Error"]["Code"] == "InsufficientSnsTopicPolicyException"
    ct.start_logging(Name="main")
    post_records(server, [make_event("RunInstances", readOnly=False)])
    messages: list[dict[str, Any]] = []

    def received() -> bool:
        messages.extend(sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get(
            "Messages", []))
        return bool(messages)

    wait_until(received, timeout=30)
    note = json.loads(messages[0]["Body"])
    assert note["s3Bucket"] == "audit"
    assert note["s3ObjectKey"][0].startswith(f"AWSLogs/{ACCOUNT}/CloudTrail/")
