"""The Kubernetes audit webhook, over real HTTP, with EventList bodies built from EKS samples."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from conftest import DATASETS, Server, wait_until

PATH = "/opentrail/v1/kubernetes-audit"
EKS = DATASETS / "non-aws" / "Amazon.EKS.Audit.json"


def eks_events() -> list[dict[str, Any]]:
    """Sample audit Events that carry a time, one per (auditID, stage), moved to
    yesterday so that they are inside LookupEvents' 90-day window."""
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for case in json.loads(EKS.read_text()):
        event = case.get("log")
        if isinstance(event, dict) and event.get("verb") and event.get("auditID") \
                and event.get("requestReceivedTimestamp"):
            seen.setdefault((event["auditID"], event.get("stage", "")),
                            {**event, "requestReceivedTimestamp": yesterday})
    return list(seen.values())


def event_list(events: list[dict[str, Any]]) -> bytes:
    return json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1",
                       "metadata": {}, "items": events}).encode()


def post(server: Server, body: bytes, token: str, query: str = "") -> httpx.Response:
    return httpx.post(f"{server.endpoint}{PATH}{query}", content=body, timeout=60,
                      headers={"Authorization": f"Bearer {token}",
                               "Content-Type": "application/json"})


def token(server: Server, role: str = "writer") -> str:
    key = server.key(role)
    return f"{key.access_key_id}:{key.secret}"


def lookup_k8s(server: Server) -> list[dict[str, Any]]:
    client: Any = server.client(region="eu-west-1")
    pages = client.get_paginator("lookup_events").paginate(
        LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": "k8s.io"}],
        StartTime=datetime.now(UTC) - timedelta(days=2))
    return [json.loads(e["CloudTrailEvent"]) for page in pages for e in page["Events"]]


@pytest.mark.e2e
def test_event_list_is_stored_once_and_searchable(live_server: Server) -> None:
    events = eks_events()
    assert len(events) >= 3
    timeless = {k: v for k, v in events[0].items() if not k.endswith("Timestamp")}
    timeless["auditID"] = "no-time"
    body = event_list([*events, timeless])
    answer = post(live_server, body, token(live_server), "?region=eu-west-1")
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["accepted"], result["duplicates"], result["rejected"]) == (len(events), 0, 1)
    assert "no time" in result["failed"][0]["errorMessage"]
    again = post(live_server, body, token(live_server), "?region=eu-west-1").json()
    assert (again["accepted"], again["duplicates"]) == (0, len(events))
    wait_until(lambda: len(lookup_k8s(live_server)) == len(events), timeout=60)
    stored = {e["requestID"]: e for e in lookup_k8s(live_server)}
    first = stored[events[0]["auditID"]]
    assert first["awsRegion"] == "eu-west-1"
    assert first["recipientAccountId"] == "123456789012"
    assert first["userIdentity"]["userName"] == events[0]["user"]["username"]


@pytest.mark.e2e
def test_webhook_refuses_bad_tokens_and_readers(live_server: Server) -> None:
    body = event_list(eks_events()[:1])
    key = live_server.key("writer")
    for bad in ("x", f"{key.access_key_id}:wrong", f"AKIANOSUCHKEY:{key.secret}", key.secret):
        answer = post(live_server, body, bad)
        assert answer.status_code == 403, (bad, answer.text)
    no_header = httpx.post(f"{live_server.endpoint}{PATH}", content=body, timeout=60)
    assert no_header.json()["__type"] == "MissingAuthenticationToken"
    reader = post(live_server, body, token(live_server, "reader"))
    assert reader.status_code == 400
    assert reader.json()["__type"] == "AccessDeniedException"
