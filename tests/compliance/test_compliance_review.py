"""OT-19 (findings reviewed) and OT-20 (alerting in place) from real actions: a server
with a Sigma rule raises findings from posted events, event rules are made with boto3's
`events` client, and `opentrail compliance report` reads both through the API.

One server for the module; each scenario uses its own account (rules, findings and
reports are per account).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from conftest import Server, free_port, make_event, post_records, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RULE = """title: Trail logging stopped (test rule)
id: 0b7a2c1e-5f0e-4f4e-9d55-2f4b1c0f7a12
status: test
description: A rule written for this test.
author: OpenTrail tests
logsource:
    product: aws
    service: cloudtrail
detection:
    selection:
        eventSource: cloudtrail.amazonaws.com
        eventName: StopLogging
    condition: selection
level: high
"""
TARGET = [{"Id": "chat", "Arn": "slack:http://127.0.0.1:9/services/T0/B0/secret"}]
ALL_RULES = {
    "trail-tampering": {"source": ["aws.cloudtrail"], "detail": {"eventName": [
        "StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors"]}},
    "console-without-mfa": {"detail-type": ["AWS Console Sign In via CloudTrail"],
                            "detail": {"additionalEventData": {"MFAUsed": ["No"]}}},
    "root-use": {"detail": {"userIdentity": {"type": ["Root"]}}},
    "denied": {"detail": {"errorCode": [{"prefix": "AccessDenied"}]}},
    "iam-policy": {"source": ["aws.iam"], "detail": {"eventName": ["PutUserPolicy"]}},
    "delivery-errors": {"source": ["opentrail.internal"],
                        "detail": {"eventName": ["DeliveryError"]}},
    "verifier-failures": {"source": ["opentrail.internal"], "detail": {
        "eventName": ["VerifierRun"], "serviceEventDetails": {"result": ["FAIL", "ERROR"]}}},
}


def now_iso(offset: float = 0.0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("review")
    (root / "sigma").mkdir()
    (root / "sigma" / "stop_logging.yml").write_text(RULE)
    live = Server(root / "data", free_port(), ("--checkpoint-interval", "1",
                                               "--sigma-rules", str(root / "sigma"),
                                               "--health-sample-interval", "1"))
    live.start()
    yield live
    live.kill(signal.SIGTERM)


@pytest.fixture(scope="module")
def hook() -> Iterator[tuple[str, list[bytes]]]:
    """A chat webhook on loopback that accepts every alert (and keeps its body)."""
    got: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    yield f"slack:http://127.0.0.1:{http.server_port}/services/T0/B0/secret", got
    http.shutdown()


def put_rules(server: Server, account: str, names: list[str],
              targets: list[dict[str, str]] = TARGET) -> None:
    events: Any = server.client("events", account=account)
    for name in names:
        events.put_rule(Name=name, EventPattern=json.dumps(ALL_RULES[name]))
        events.put_targets(Rule=name, Targets=targets)


def internal(server: Server, account: str, name: str, since: str) -> list[dict[str, Any]]:
    """The account's internal records named `name` since `since` (LookupEvents)."""
    from datetime import UTC, datetime

    begin = datetime.strptime(since, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return list(_source(server, account).events(begin, datetime.now(UTC), attribute=(
        "EventName", name), category="internal"))


def with_trail(server: Server, account: str) -> None:
    """A trail in the account: the health log then records its DetectorRun too."""
    ct: Any = server.client(account=account)
    ct.create_trail(Name="audit", S3BucketName=f"audit-{account}")
    wait_until(lambda: any(r["serviceEventDetails"].get("running") for r in internal(
        server, account, "DetectorRun", now_iso(-60))), timeout=60)


def findings(server: Server, account: str) -> list[dict[str, Any]]:
    answer = _source(server, account).operation("ListSigmaFindings", {})
    found: list[dict[str, Any]] = answer.get("Findings", [])
    return found


def _session(server: Server, account: str) -> Any:
    import botocore.session

    key = server.key("admin", account)
    session = botocore.session.Session()
    session.set_credentials(key.access_key_id, key.secret)
    return session


def stop_logging_finding(server: Server, account: str) -> dict[str, Any]:
    post_records(server, [make_event("StopLogging", account=account,
                                     eventSource="cloudtrail.amazonaws.com", readOnly=False)],
                 account=account)
    wait_until(lambda: bool(findings(server, account)), timeout=60)
    return findings(server, account)[0]


def report(server: Server, account: str, start: str, out: Path, *extra: str
           ) -> dict[str, dict[str, Any]]:
    time.sleep(1.1)
    proc = subprocess.run(
        [sys.executable, "-m", "opentrail", "compliance", "report", "--profile", "pci-dss-4",
         "--start-time", start, "--end-time", now_iso(), "--output", str(out),
         "--endpoint-url", server.endpoint, "--local-folder",
         str(server.data_dir / "buckets"), *extra],
        capture_output=True, text=True, env=server.env("admin", account), timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads((out / "report.json").read_text())
    checks = {c["id"]: c for c in doc["checks"]}
    for check in ("OT-19", "OT-20"):
        rows = (out / "evidence" / f"{check}.jsonl").read_text().splitlines()
        checks[check]["all_rows"] = [json.loads(r) for r in rows]
    return checks


def test_reviewed_findings_and_delivered_alerts_pass(server: Server, tmp_path: Path,
                                                    hook: tuple[str, list[bytes]]) -> None:
    account = "444444444444"
    start = now_iso(-1)
    with_trail(server, account)
    put_rules(server, account, list(ALL_RULES), [{"Id": "chat", "Arn": hook[0]}])
    finding = stop_logging_finding(server, account)
    wait_until(lambda: internal(server, account, "AlertDelivered", start), timeout=60)
    ack = _source(server, account).operation("AcknowledgeSigmaFinding",
                                             {"FindingId": finding["findingId"]})
    assert ack["Finding"]["state"] == "acknowledged"
    checks = report(server, account, start, tmp_path / "r")
    ot19, ot20 = checks["OT-19"], checks["OT-20"]
    assert ot19["result"] == "PASS", ot19["reason"]
    assert ot19["counts"]["findings"] == 1 and ot19["counts"]["overdue"] == 0
    row = ot19["all_rows"][0]
    assert row["eventID"] == finding["findingId"] and row["state"] == "acknowledged"
    assert row["matchedEventName"] == "StopLogging" and row["leafIndex"] is not None
    assert ot19["counts"]["detectorRuns"] >= 1 and ot19["counts"]["daysWithoutRun"] == 0
    runs = [r for r in ot19["all_rows"] if r.get("eventName") == "DetectorRun"]
    assert {r["detector"] for r in runs} >= {"sigma", "insights"}
    # Every critical and recommended event is covered, and an alert reached its target.
    assert any(b"StopLogging" in body for body in hook[1])
    assert ot20["result"] == "PASS", ot20["reason"]
    assert ot20["counts"]["criticalUncovered"] == 0
    assert ot20["counts"]["recommendedUncovered"] == 0
    assert ot20["counts"]["deliveriesByCoveringRules"] >= 1
    delivered = [r for r in ot20["all_rows"] if r.get("eventName") == "AlertDelivered"]
    assert any(r["rule"] == "trail-tampering" and r["coveringRule"]
               and "StopLogging" in r["matchedEventNames"] for r in delivered)
    covered = {r["event"]: r["coveredBy"] for r in ot20["all_rows"] if "event" in r}
    assert covered["StopLogging"] == ["trail-tampering"]
    assert covered["Root account use"] == ["root-use"]
    targets = [r["targets"] for r in ot20["all_rows"] if "rule" in r and "targets" in r]
    origin = hook[0].split("/services/")[0]
    assert targets[0] == [origin]  # the webhook's secret path is not kept


def test_undelivered_alerts_fail_ot20(server: Server, tmp_path: Path) -> None:
    """Every critical event is covered, but the one alert raised never reaches its
    target (nothing listens there): delivery is not proven."""
    account = "888888888888"
    start = now_iso(-1)
    put_rules(server, account, list(ALL_RULES))
    stop_logging_finding(server, account)
    checks = report(server, account, start, tmp_path / "r")
    ot20 = checks["OT-20"]
    assert ot20["result"] == "FAIL" and "not proven" in ot20["reason"], ot20["reason"]
    assert ot20["counts"]["criticalUncovered"] == 0 and ot20["counts"]["deliveries"] == 0


def test_overdue_finding_and_no_stop_logging_rule_fail(server: Server, tmp_path: Path) -> None:
    account = "555555555555"
    start = now_iso(-1)
    put_rules(server, account, ["console-without-mfa", "root-use"])
    events: Any = server.client("events", account=account)
    events.put_rule(Name="deletes-only", EventPattern=json.dumps(
        {"source": ["aws.cloudtrail"], "detail": {"eventName": ["DeleteTrail"]}}))
    events.put_targets(Rule="deletes-only", Targets=TARGET)
    stop_logging_finding(server, account)
    time.sleep(2)  # older than the 1 s review window below, and never acknowledged
    checks = report(server, account, start, tmp_path / "r", "--review-window", "1")
    ot19, ot20 = checks["OT-19"], checks["OT-20"]
    assert ot19["result"] == "FAIL" and "not acknowledged within 1 s" in ot19["reason"]
    assert ot19["counts"]["overdue"] == 1 and ot19["counts"]["open"] == 1
    assert ot20["result"] == "FAIL"
    assert "StopLogging" in ot20["reason"] and "DeleteTrail" not in ot20["reason"]


def test_no_detector_fails_ot19(tmp_path: Path) -> None:
    """A server without Sigma rules, and no trail with Insights: nothing reviews."""
    live = Server(tmp_path / "data", free_port(), ("--checkpoint-interval", "1"))
    live.start()
    try:
        checks = report(live, "666666666666", now_iso(-2), tmp_path / "r")
    finally:
        live.kill(signal.SIGTERM)
    assert checks["OT-19"]["result"] == "FAIL"
    assert "No Sigma rules" in checks["OT-19"]["reason"]
    assert checks["OT-20"]["result"] == "FAIL"  # no rules at all


def _source(server: Server, account: str) -> Any:
    from opentrail.compliance._source import ServerSource
    return ServerSource(server.endpoint, session=_session(server, account))
