"""A writer key must not pass its records off as the server's own: self-audit of admin
calls, ConsoleLogin and Insights carry `opentrailOrigin: server`, which no ingest path
lets a client set; the Insights page and `opentrail insights` show only server-made
Insights. Look-alikes are still accepted (imported CloudTrail logs hold them) and stay
distinguishable."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from typing import Any

import httpx
import pytest

from conftest import ACCOUNT, Server, make_event, post_records, wait_until

pytestmark = pytest.mark.e2e


def _now(offset: int = 0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset))


def _sign_in(server: Server) -> httpx.Client:
    key = server.key("reader")
    http = httpx.Client(base_url=server.endpoint, follow_redirects=False, timeout=60)
    token = re.search(r'name="signin_token" value="([^"]+)"', http.get("/signin").text)
    assert token
    answer = http.post("/signin", data={"signin_token": token[1], "next": "/events",
                                        "access_key_id": key.access_key_id,
                                        "secret": key.secret})
    assert answer.status_code == 303, answer.text
    return http


def _by_name(client: Any, name: str, count: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def enough() -> bool:
        events = client.lookup_events(LookupAttributes=[
            {"AttributeKey": "EventName", "AttributeValue": name}])["Events"]
        found[:] = [json.loads(e["CloudTrailEvent"]) for e in events]
        return len(found) >= count

    wait_until(enough, timeout=30)
    return found


def test_ingest_refuses_a_record_that_claims_to_be_server_made(live_server: Server) -> None:
    forged = make_event("DeleteTrail", when=_now(), eventSource="cloudtrail.amazonaws.com",
                        opentrailOrigin="server")
    result = post_records(live_server, [forged, make_event(when=_now())])
    assert result["accepted"] == 1 and result["rejected"] == 1
    failed = result["failed"]
    assert isinstance(failed, list)
    assert failed[0]["index"] == 0 and failed[0]["errorCode"] == "InvalidData"
    assert "opentrailOrigin is set only by the server" in failed[0]["errorMessage"]


def test_self_audit_and_console_login_are_marked_and_lookalikes_are_not(
        live_server: Server) -> None:
    admin: Any = live_server.client()
    admin.create_trail(Name="victim", S3BucketName="audit-bucket")
    admin.delete_trail(Name="victim")
    _sign_in(live_server)
    # A writer's look-alikes, as an imported CloudTrail log would hold them: accepted.
    identity = {"type": "IAMUser", "principalId": "AKIAFORGED", "accountId": ACCOUNT,
                "arn": f"arn:aws:iam::{ACCOUNT}:user/opentrail/admin", "userName": "admin"}
    post_records(live_server, [
        make_event("DeleteTrail", when=_now(), eventSource="cloudtrail.amazonaws.com",
                   userIdentity=identity, readOnly=False,
                   requestParameters={"name": "victim"}),
        make_event("ConsoleLogin", when=_now(), eventSource="signin.amazonaws.com",
                   eventType="AwsConsoleSignIn", userIdentity=identity,
                   responseElements={"ConsoleLogin": "Success"}),
    ])
    reader: Any = live_server.client(role="reader")
    for name in ("DeleteTrail", "ConsoleLogin"):
        records = _by_name(reader, name, 2)
        origins = sorted(str(r.get("opentrailOrigin")) for r in records)
        assert origins == ["None", "server"], (name, records)


def _insight(state: str, shared: str, when: str) -> dict[str, Any]:
    statistics = {"baseline": {"average": 0.5}, "insight": {"average": 90.0},
                  "insightDuration": 3, "baselineDuration": 10080}
    return {"eventVersion": "1.07", "eventTime": when, "awsRegion": "us-east-1",
            "eventID": str(uuid.uuid4()), "eventType": "AwsCloudTrailInsight",
            "recipientAccountId": ACCOUNT, "sharedEventID": shared, "eventCategory": "Insight",
            "insightDetails": {"state": state, "eventSource": "iam.amazonaws.com",
                               "eventName": "ForgedBurstCall", "insightType":
                                   "ApiCallRateInsight",
                               "insightContext": {"statistics": statistics,
                                                  "attributions": []}}}


def test_an_ingested_insight_stays_off_the_insights_page_and_cli(live_server: Server) -> None:
    shared = str(uuid.uuid4())
    result = post_records(live_server, [_insight("Start", shared, _now(-600)),
                                        _insight("End", shared, _now(-300))])
    assert result["accepted"] == 2  # imported Insights are kept, as history
    reader: Any = live_server.client(role="reader")
    wait_until(lambda: len(reader.lookup_events(EventCategory="insight")["Events"]) == 2)
    page = _sign_in(live_server).get("/insights")
    assert page.status_code == 200
    assert "ForgedBurstCall" not in page.text
    listed = subprocess.run([sys.executable, "-m", "opentrail", "insights", "list",
                             "--endpoint-url", live_server.endpoint], capture_output=True,
                            text=True, env=live_server.env("reader"), timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert "ForgedBurstCall" not in listed.stdout
    assert "2 ingested Insights record(s) not shown" in listed.stderr
