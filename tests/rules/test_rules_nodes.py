"""Event rules on two nodes of one PostgreSQL database: a connection, API destination and
rule created through one node are described by the other at once; the engine and sender
run on the node holding the `rules` role only, and when that node goes the other takes
over from the shared cursor and outbox: every match reaches the webhook exactly once.
PutTargets keeps to 5 targets per rule on both backends."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from rules_webhook import Webhook, webhook_fixture  # noqa: F401 - the fixture

from conftest import TEST_MASTER_KEY, wait_until
from opentrail.api import build_app
from opentrail.auth import Role
from opentrail.config import Settings
from opentrail.events import parse_record
from opentrail.service import RULES, Service

ACCOUNT = "123456789012"
PATTERN = json.dumps({"detail": {"eventName": ["StopLogging"]}})


def _events(service: Service, key: tuple[str, str],
            status: int = 200) -> Callable[..., dict[str, Any]]:
    """EventBridge calls (AWSEvents.*) signed with `key`, against this node's app; each
    must answer `status`."""
    app = build_app(service)

    def call(op: str, **body: Any) -> dict[str, Any]:
        data = json.dumps(body).encode()
        request = AWSRequest(method="POST", url="http://testserver/", data=data, headers={
            "X-Amz-Target": "AWSEvents." + op, "Content-Type": "application/x-amz-json-1.1"})
        SigV4Auth(Credentials(*key), "events", "us-east-1").add_auth(request)

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
            async with httpx.AsyncClient(transport=transport,
                                         base_url="http://testserver") as client:
                return await client.post("/", content=data,
                                         headers=dict(request.headers.items()))

        answer = asyncio.run(send())
        assert answer.status_code == status, answer.content
        result: dict[str, Any] = json.loads(answer.content or b"{}")
        return result

    return call


def _send(node: Service, count: int) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(count)]
    records = [parse_record({"eventTime": "2026-12-02T10:00:00Z", "eventSource":
                             "cloudtrail.amazonaws.com", "eventType": "AwsApiCall",
                             "readOnly": False, "eventName": "StopLogging", "eventID": i},
                            default_account=ACCOUNT, default_region="us-east-1") for i in ids]
    assert node.writer.submit(records).result(timeout=30) == [True] * count
    return ids


def test_rules_are_shared_and_delivered_once_across_a_handover(
        postgres_url: str, tmp_path: Path, webhook: Webhook,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENTRAIL_MASTER_KEY", base64.b64encode(TEST_MASTER_KEY).decode())
    one, two = (Service.open(Settings(data_dir=tmp_path / name, database_url=postgres_url),
                             indexer="thread") for name in ("one", "two"))
    running = [one, two]
    try:
        principal, secret = one.keys.create(account=ACCOUNT, organization=False,
                                            role=Role.ADMIN)
        key = (principal.access_key_id, secret)
        first, second = _events(one, key), _events(two, key)
        conn = first("CreateConnection", Name="siem", AuthorizationType="API_KEY",
                     AuthParameters={"ApiKeyAuthParameters": {
                         "ApiKeyName": "X-Key", "ApiKeyValue": "s3cret"}})["ConnectionArn"]
        dest = first("CreateApiDestination", Name="siem", ConnectionArn=conn,
                     InvocationEndpoint=webhook.url("/hook"),
                     HttpMethod="POST")["ApiDestinationArn"]
        first("PutRule", Name="stop", EventPattern=PATTERN)
        first("PutTargets", Rule="stop", Targets=[{"Id": "siem", "Arn": dest}])
        assert second("DescribeRule", Name="stop")["EventPattern"] == PATTERN  # at once
        assert second("DescribeConnection", Name="siem")["ConnectionArn"] == conn
        assert second("DescribeApiDestination", Name="siem")["ApiDestinationArn"] == dest
        assert [t["Id"] for t in second("ListTargetsByRule", Rule="stop")["Targets"]] == [
            "siem"]
        wait_until(lambda: one.role(RULES).held() != two.role(RULES).held())
        holder, other = (one, two) if one.role(RULES).held() else (two, one)
        wait_until(lambda: holder.rules is not None
                   and holder.rules.cursor_or_none() is not None)  # engine at the head
        sent = _send(one, 3) + _send(two, 3)

        def received() -> list[str]:
            hooks = webhook.at("/hook")
            assert all(r.headers.get("x-key") == "s3cret" for r in hooks)
            return [r.json()["detail"]["eventID"] for r in hooks]

        wait_until(lambda: sorted(received()) == sorted(sent), timeout=30)
        running.remove(holder)
        holder.close()  # the rules' node goes; the other takes the role over
        wait_until(other.role(RULES).held)
        sent += _send(other, 4)
        assert other.rules is not None
        wait_until(lambda: set(received()) == set(sent) and other.rules is not None
                   and other.rules.pending() == 0, timeout=30)
        assert sorted(received()) == sorted(sent)  # each exactly once
    finally:
        for node in running:
            node.close()


def test_put_targets_keeps_to_five_targets_per_rule_on_both_backends(
        backends: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENTRAIL_MASTER_KEY", base64.b64encode(TEST_MASTER_KEY).decode())
    node = Service.open(Settings(data_dir=tmp_path / "node", database_url=backends.url),
                        indexer="thread")
    try:
        principal, secret = node.keys.create(account=ACCOUNT, organization=False,
                                             role=Role.ADMIN)
        key = (principal.access_key_id, secret)
        call, refused = _events(node, key), _events(node, key, status=400)
        call("PutRule", Name="r", EventPattern=PATTERN)
        five = [{"Id": f"t{i}", "Arn": f"mailto:{i}@example.com"} for i in range(5)]
        assert call("PutTargets", Rule="r", Targets=five)["FailedEntryCount"] == 0
        answer = refused("PutTargets", Rule="r", Targets=[{"Id": "t5", "Arn": "mailto:x@y.z"}])
        assert answer["__type"] == "LimitExceededException"
        assert "5 targets per rule" in answer["message"]
        assert call("PutTargets", Rule="r", Targets=five[:1])["FailedEntryCount"] == 0
        assert len(call("ListTargetsByRule", Rule="r")["Targets"]) == 5
    finally:
        node.close()
