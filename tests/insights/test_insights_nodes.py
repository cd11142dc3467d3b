"""Insights on a cluster (two services, one PostgreSQL database): the node holding the
`insights` role counts; every node answers ListInsightsMetricData from the same shared
counters; when the holder goes, the other takes the role over and goes on from the
shared cursor, counting each event once."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import TEST_MASTER_KEY, wait_until
from opentrail.api import build_app
from opentrail.api._app import TARGET_PREFIX
from opentrail.auth import Role
from opentrail.config import Settings
from opentrail.events import parse_record
from opentrail.service import INSIGHTS, Service

ACCOUNT = "123456789012"
HOUR = 1_795_597_200  # 2026-11-25T09:00:00Z
QUERY = {"EventSource": "ec2.amazonaws.com", "EventName": "RunInstances",
         "InsightType": "ApiCallRateInsight", "StartTime": HOUR, "EndTime": HOUR + 3600,
         "Period": 60, "DataType": "NonZeroData"}


def _metric(service: Service, key: tuple[str, str]) -> dict[int, float]:
    """ListInsightsMetricData through the node's own API (SigV4, the in-process app)."""
    data = json.dumps(QUERY).encode()
    request = AWSRequest(method="POST", url="http://testserver/", data=data, headers={
        "X-Amz-Target": TARGET_PREFIX + "ListInsightsMetricData",
        "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials(*key), "cloudtrail", "us-east-1").add_auth(request)

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=build_app(service), client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.post("/", content=data, headers=dict(request.headers.items()))

    answer = asyncio.run(send())
    assert answer.status_code == 200, answer.text
    body = json.loads(answer.content)
    return dict(zip(body["Timestamps"], body["Values"], strict=True))


def _send(node: Service, minute: int, count: int, tag: str) -> None:
    records = [parse_record({
        "eventTime": f"2026-11-25T09:{minute:02d}:{i % 60:02d}Z", "eventID": f"{tag}-{i}",
        "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances", "readOnly": False,
        "awsRegion": "us-east-1", "recipientAccountId": ACCOUNT,
    }, default_account=ACCOUNT, default_region="us-east-1") for i in range(count)]
    assert node.writer.submit(records).result(timeout=30) == [True] * count


def test_any_node_answers_from_the_shared_counters_and_a_new_holder_goes_on(
        postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENTRAIL_MASTER_KEY", base64.b64encode(TEST_MASTER_KEY).decode())

    def node(name: str) -> Service:
        return Service.open(Settings(data_dir=tmp_path / name, database_url=postgres_url,
                                     insights_always=True, health_sample_interval=0),
                            indexer="thread")

    one, two = node("one"), node("two")
    running = [one, two]
    try:
        principal, secret = one.keys.create(account=ACCOUNT, organization=False,
                                            role=Role.ADMIN)
        key = (principal.access_key_id, secret)
        _send(one, 5, 7, "a")
        _send(two, 6, 3, "b")  # through the node that does not count
        first = {HOUR + 300: 7.0, HOUR + 360: 3.0}
        wait_until(lambda: _metric(two, key) == first)  # counted by one, read on two
        assert _metric(one, key) == first
        assert one.role(INSIGHTS).held() and not two.role(INSIGHTS).held()
        running.remove(one)
        one.close()  # the counting node goes; the other takes the role over
        wait_until(two.role(INSIGHTS).held)
        _send(two, 6, 2, "c")
        _send(two, 8, 4, "d")
        # each event counted once: the new holder went on from the shared cursor
        wait_until(lambda: _metric(two, key) == {HOUR + 300: 7.0, HOUR + 360: 5.0,
                                                 HOUR + 480: 4.0})
    finally:
        for service in running:
            service.close()
