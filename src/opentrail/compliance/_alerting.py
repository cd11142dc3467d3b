"""Which event rules alert on what: the caller's rules and the server's own matcher.

An event "alerts" when an enabled rule of the caller's default bus, with at least one
target, matches its EventBridge envelope, as the server's `TestEventPattern` (the rule
engine's matcher) decides. Rules are read once per report (ListRules,
ListTargetsByRule); webhook targets are kept by kind and origin only, since their paths
are secrets. OT-06 asks it of each logging-configuration change, OT-20 of the critical
events.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from opentrail.compliance._evidence import Evidence

__all__ = ["alerting_rules", "event_rules", "matching"]

ALL_EVENTS = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"


def _target(arn: str) -> str:
    """A target as evidence: ARNs as they are; webhook URLs (whose paths are secrets) by
    kind and origin only."""
    if arn.startswith("arn:"):
        return arn
    kind, _, url = arn.partition(":")
    parts = urlsplit(url)
    return f"{kind}:{parts.scheme}://{parts.netloc}" if parts.netloc else kind


def _rules(evidence: Evidence) -> list[dict[str, Any]]:
    """Every rule of the caller's default bus, with its targets."""
    client, rules = evidence.source.events_client(), []
    kwargs: dict[str, Any] = {}
    while True:
        page = client.list_rules(**kwargs)
        for rule in page.get("Rules", []):
            targets = client.list_targets_by_rule(Rule=rule["Name"]).get("Targets", [])
            rules.append({"name": rule["Name"], "arn": rule.get("Arn"),
                          "state": rule.get("State"), "pattern": rule.get("EventPattern"),
                          "targets": sorted(_target(t["Arn"]) for t in targets)})
        if not page.get("NextToken"):
            return sorted(rules, key=lambda r: str(r["name"]))
        kwargs["NextToken"] = page["NextToken"]


def event_rules(evidence: Evidence) -> list[dict[str, Any]]:
    """The caller's event rules, read once per report (OT-06 and OT-20 share them)."""
    if "event_rules" not in evidence.options:
        evidence.options["event_rules"] = _rules(evidence)
    rules: list[dict[str, Any]] = evidence.options["event_rules"]
    return rules


def _read_only(detail: dict[str, Any]) -> bool:
    """A read-only management API call: only rules in state
    ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS see it (EventBridge's rule, and the
    rule engine's)."""
    return (detail.get("eventType") == "AwsApiCall" and detail.get("readOnly") is True
            and detail.get("eventCategory", "Management") == "Management")


def matching(evidence: Evidence, event: dict[str, Any]) -> list[str]:
    """Names of the enabled rules with a target that see and match `event` (an
    envelope)."""
    states = {ALL_EVENTS} if _read_only(event.get("detail") or {}) else {"ENABLED", ALL_EVENTS}
    armed = [r for r in event_rules(evidence)
             if r["state"] in states and r["targets"] and r["pattern"]]
    if not armed:
        return []
    client, text = evidence.source.events_client(), json.dumps(event)
    return [r["name"] for r in armed
            if client.test_event_pattern(EventPattern=r["pattern"], Event=text)["Result"]]


def alerting_rules(evidence: Evidence, record: dict[str, Any]) -> list[str]:
    """The enabled rules with a target that match this record's EventBridge envelope:
    the rules that alerted on it."""
    from opentrail.rules import envelope

    return matching(evidence, envelope(record, event_id="00000000-0000-0000-0000-000000000000"))
