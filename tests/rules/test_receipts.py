"""Receipts of delivered alerts: the sender keeps one per success (none per failure), the
publisher appends one AlertDelivered per (rule, target) and pass to the ledger and drops
them; an alert about an AlertDelivered leaves no receipt (no loop)."""

from __future__ import annotations

from typing import Any

import orjson

from conftest import wait_until
from opentrail.clock import ManualClock
from opentrail.events import is_internal
from opentrail.rules import Delivery, ReceiptPublisher, RuleStore, Sender, SendError

NOW = 1_790_000_000.0
ACCOUNT = "123456789012"


class Scripted:
    """Answers each target id with its scripted outcomes: True delivers, else raises."""

    def __init__(self, script: dict[str, list[Any]]) -> None:
        self.script = script

    def send(self, delivery: Delivery) -> None:
        outcomes = self.script.get(str(delivery.target["Id"])) or [True]
        if outcomes[0] is not True:
            raise outcomes[0]

    def close(self) -> None:
        pass


def _delivery(target: str, event: dict[str, Any], rule: str = "r") -> Delivery:
    return Delivery(0, ACCOUNT, "us-east-1", rule,
                    {"Id": target, "Arn": "slack:https://hooks.example/services/T/B/secret"},
                    event, NOW, next_try=NOW)


def _event(name: str, event_id: str, source: str = "aws.cloudtrail") -> dict[str, Any]:
    return {"source": source, "detail-type": "AWS API Call via CloudTrail",
            "detail": {"eventName": name, "eventID": event_id}}


def _send(store: RuleStore, clock: ManualClock, deliveries: list[Delivery],
          script: dict[str, list[Any]]) -> None:
    store.enqueue(0, deliveries)
    sender = Sender(store, clock, Scripted(script))  # type: ignore[arg-type]
    try:
        sender.step()
        wait_until(lambda: sender.sending == 0)
    finally:
        sender.close()


def test_each_success_leaves_a_receipt_and_failures_none(backend: Any) -> None:
    clock = ManualClock(NOW)
    store = backend.rules(backend.keys())
    _send(store, clock, [
        _delivery("ok", _event("StopLogging", "e-1")),
        _delivery("ok", _event("DeleteTrail", "e-2")),
        _delivery("bad", _event("StopLogging", "e-3")),
        _delivery("ok", _event("AlertDelivered", "e-4", source="opentrail.internal")),
    ], {"bad": [SendError("HTTP 400", retryable=False)]})
    rows = store.receipts(100)
    assert [(r[3], r[4], r[5], r[6], r[7]) for r in rows] == [
        ("r", "ok", "slack", "e-1", "StopLogging"), ("r", "ok", "slack", "e-2", "DeleteTrail")]
    assert all("secret" not in str(r) for r in rows)  # the webhook's path is not kept
    store.close()


def test_publisher_appends_one_record_per_rule_and_target(backend: Any) -> None:
    clock = ManualClock(NOW)
    store = backend.rules(backend.keys())
    _send(store, clock, [_delivery("ok", _event("StopLogging", f"e-{i}")) for i in range(3)]
          + [_delivery("ok", _event("DeleteTrail", "d-1"), rule="other")], {})
    writer = backend.ledger_writer(clock)
    writer.start()
    publisher = ReceiptPublisher(store, writer, clock.now)
    assert publisher.step() == 4
    assert publisher.step() == 0 and store.receipts(10) == []
    writer.close()
    reader = backend.ledger_reader()
    records = [orjson.loads(row.body) for row in reader.rows(0, 100)]
    reader.close()
    delivered = {r["serviceEventDetails"]["rule"]: r for r in records
                 if r["eventName"] == "AlertDelivered"}
    assert set(delivered) == {"r", "other"} and all(is_internal(r) for r in records)
    details = delivered["r"]["serviceEventDetails"]
    assert details["deliveries"] == 3 and details["targetId"] == "ok"
    assert details["eventIds"] == ["e-0", "e-1", "e-2"]
    assert details["eventNames"] == ["StopLogging"] and details["targetKind"] == "slack"
    assert details["ruleArn"] == f"arn:aws:events:us-east-1:{ACCOUNT}:rule/r"
    store.close()
