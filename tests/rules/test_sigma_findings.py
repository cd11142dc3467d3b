"""A Sigma finding reaches an event rule's webhook: its envelope is "Sigma Rule Match" from
"opentrail.detect" (detect/ ledgers it, the rule engine matches it like any event), with
the detector and the rule engine each in its own process, as `serve` runs them."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from rules_webhook import Webhook, webhook_fixture  # noqa: F401 - the fixture

from conftest import ACCOUNT, Server, free_port, make_event, post_records, wait_until

RULE = """title: Trail logging stopped (test rule)
id: 0b7a2c1e-5f0e-4f4e-9d55-2f4b1c0f7a11
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


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    folder = tmp_path / "sigma"
    folder.mkdir()
    (folder / "stop_logging.yml").write_text(RULE)
    server = Server(tmp_path / "data", free_port(), ("--sigma-rules", str(folder)))
    server.start()
    yield server
    server.kill(signal.SIGTERM)


def _detector_is_a_child(server: Server) -> bool:
    """A child of the server's process (not the server itself) holds findings.db: the
    detector ran in its own process, the way `opentrail serve` runs it."""
    import psutil

    assert server.proc is not None
    children = psutil.Process(server.proc.pid).children(recursive=True)
    return any(f.path.endswith("findings.db") for child in children
               for f in child.open_files())


def test_findings_go_to_event_rule_targets(server: Server, webhook: Webhook) -> None:
    events = server.client("events")
    events.put_rule(Name="findings", EventPattern=json.dumps(
        {"source": ["opentrail.detect"], "detail-type": ["Sigma Rule Match"]}))
    events.put_targets(Rule="findings", Targets=[
        {"Id": "chat", "Arn": "slack:" + webhook.url("/slack")},
        {"Id": "raw", "Arn": "slack:" + webhook.url("/raw"), "InputPath": "$.detail"}])
    post_records(server, [make_event("StopLogging", eventSource="cloudtrail.amazonaws.com",
                                     readOnly=False)])
    wait_until(lambda: bool(webhook.at("/slack")) and bool(webhook.at("/raw")), timeout=60)
    assert _detector_is_a_child(server)  # as `serve` runs it: its own process
    assert "Sigma Rule Match" in webhook.at("/slack")[0].json()["text"]
    finding = json.loads(webhook.at("/raw")[0].json()["text"])
    assert finding["eventSource"] == "detect.opentrail.local"
    assert finding["eventName"] == "SigmaRuleMatch"
    assert finding["recipientAccountId"] == ACCOUNT
