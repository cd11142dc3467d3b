"""The rule engine in process, over a real ledger: each match is enqueued once, the cursor
survives a restart, rule states and accounts are honoured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import ACCOUNT, make_event
from opentrail.clock import ManualClock
from opentrail.events import parse_record
from opentrail.ledger import LedgerWriter
from opentrail.rules import Rule, RuleEngine, RuleStore

NOW = 1_790_000_000.0


def _write(writer: LedgerWriter, *events: dict[str, Any]) -> None:
    writer.submit([parse_record(e, default_account=ACCOUNT, default_region="us-east-1")
                   for e in events]).result()


def _rule(store: RuleStore, name: str, pattern: dict[str, Any], state: str = "ENABLED",
          account: str = ACCOUNT) -> None:
    store.put_rule(Rule(account, "us-east-1", name, json.dumps(pattern), state))
    store.put_targets(account, "us-east-1", name, [{"Id": "t", "Arn": "mailto:a@b.c"}])


def test_matches_are_enqueued_once_across_restarts(backend: Any, tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    writer = backend.ledger_writer(clock)
    writer.start()
    store = backend.rules(backend.keys())
    try:
        engine = RuleEngine(tmp_path, clock, store, reader=backend.ledger_reader)
        engine.step()  # the first run starts at the head
        _write(writer, make_event("StopLogging", readOnly=False))  # before any rule
        clock.advance(2)
        engine.step()  # nothing armed: the cursor moves past it
        _rule(store, "stop", {"detail": {"eventName": ["StopLogging"]}})
        _rule(store, "reads", {"detail": {"eventName": ["DescribeTrails"]}})
        _rule(store, "all-reads", {"detail": {"eventName": ["DescribeTrails"]}},
              state="ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS")
        _rule(store, "off", {"detail": {"eventName": ["StopLogging"]}}, state="DISABLED")
        _rule(store, "theirs", {"detail": {"eventName": ["StopLogging"]}},
              account="210987654321")
        _write(writer, make_event("StopLogging", readOnly=False),
               make_event("DescribeTrails"), make_event("RunInstances", readOnly=False))
        while engine.step():
            pass
        engine.close()
        restarted = RuleEngine(tmp_path, clock, store, reader=backend.ledger_reader)
        while restarted.step():
            pass
        restarted.close()
        due = store.due(clock.now(), 100)
        assert sorted(d.rule for d in due) == ["all-reads", "stop"]
        stop = next(d for d in due if d.rule == "stop")
        assert stop.event["detail"]["eventName"] == "StopLogging"
        assert stop.event["detail-type"] == "AWS API Call via CloudTrail"
    finally:
        store.close()
        writer.close()
