"""Review checks: OT-19 (detectors ran and findings were reviewed) and OT-20 (alerting).

OT-19 reads the Sigma detector (ListSigmaRules, ListSigmaFindings), the trails'
Insights and the health log's DetectorRun records (each UTC day needs one showing a
detector running). A finding is judged as of the period's end: due `review_window_seconds` after it
was made, reviewed when acknowledged by then; one left open past its due time, or
acknowledged late, is overdue. OT-20 reads the event rules (ListRules, DescribeRule,
ListTargetsByRule) and asks the server's own pattern matcher (TestEventPattern) whether an
enabled rule with a target matches each critical event of the CIS monitoring set; delivery
is proven by an AlertDelivered record (rules/_receipts.py) of one of those rules in the
period (a successful delivery to its target, the end-to-end test the spec asks for).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from opentrail.compliance._alerting import event_rules, matching
from opentrail.compliance._checks_logging import lookup_command
from opentrail.compliance._evidence import Evidence, event_time, row_of
from opentrail.compliance._result import CheckResult, iso

__all__ = ["CRITICAL_EVENTS", "RECOMMENDED_EVENTS", "ot19", "ot20"]


def _findings(evidence: Evidence) -> Iterator[dict[str, Any]]:
    """The Sigma findings made in the period, newest first (paging stops before it)."""
    start, end = evidence.period.start.timestamp(), evidence.period.end.timestamp()
    params: dict[str, Any] = {"MaxResults": 1000}
    while True:
        page = evidence.source.operation("ListSigmaFindings", params)
        for finding in page.get("Findings", []):
            created = float(finding.get("createdAt") or 0)
            if created < start:
                return
            if created < end:
                yield finding
        if not page.get("NextToken"):
            return
        params["NextToken"] = page["NextToken"]


def _when(epoch: float | None) -> str | None:
    return None if epoch is None else iso(datetime.fromtimestamp(epoch, UTC))


def _finding_row(finding: dict[str, Any], window: int, end: float) -> dict[str, Any]:
    created = float(finding.get("createdAt") or 0)
    acked = finding.get("acknowledgedAt")
    acked_at = float(acked) if acked is not None and float(acked) < end else None
    due = created + window
    overdue = due < end and (acked_at is None or acked_at > due)
    return {"eventID": finding.get("findingId"), "accountId": finding.get("accountId"),
            "ruleId": finding.get("ruleId"), "ruleTitle": finding.get("ruleTitle"),
            "level": finding.get("level"), "matchedEventId": finding.get("eventId"),
            "matchedEventName": finding.get("eventName"), "createdAt": _when(created),
            "state": "acknowledged" if acked_at is not None else "open",
            "acknowledgedBy": finding.get("acknowledgedBy") if acked_at else None,
            "acknowledgedAt": _when(acked_at), "reviewDue": _when(due), "overdue": overdue}


RUN_SLACK = timedelta(hours=1)  # DetectorRun is recorded hourly (compliance/_health.py)


def _missed_days(evidence: Evidence, runs: list[dict[str, Any]]) -> list[str]:
    """UTC days of the period with no DetectorRun showing a detector running in their
    part of the period (or in the hour before it: the run that attested its start)."""
    p, missed = evidence.period, []
    day = p.start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day < p.end:
        low, high = max(day, p.start) - RUN_SLACK, min(day + timedelta(days=1), p.end)
        if not any(low <= event_time(r) < high for r in runs):
            missed.append(day.date().isoformat())
        day += timedelta(days=1)
    return missed


def _runs(evidence: Evidence) -> tuple[list[dict[str, Any]], list[str]]:
    """The DetectorRun records showing a detector running, and the days without one."""
    runs = [r for r in evidence.internal_named("DetectorRun", in_period=False)
            if (r.get("serviceEventDetails") or {}).get("running")]
    return runs, _missed_days(evidence, runs)


def _run_row(record: dict[str, Any]) -> dict[str, Any]:
    return row_of(record, **(record.get("serviceEventDetails") or {}))


def _insight_row(record: dict[str, Any]) -> dict[str, Any]:
    details = record.get("insightDetails") or {}
    return row_of(record, insightType=details.get("insightType"), state=details.get("state"))


def _review_command(evidence: Evidence) -> str:
    return (f"opentrail findings list --endpoint-url {evidence.source.endpoint} --output "
            "jsonl; " + lookup_command(evidence, "EventName", "ApiCallRateInsight").replace(
                " --lookup-attributes AttributeKey=EventName,AttributeValue=ApiCallRateInsight",
                " --event-category insight"))


def ot19(evidence: Evidence) -> CheckResult:
    window = evidence.profile.review_window_seconds
    end = evidence.period.end.timestamp()
    with_insights = sorted(t["TrailARN"] for t in evidence.trails if t.get("HasInsightSelectors"))
    rules = evidence.source.operation("ListSigmaRules", {}).get("Rules", [])
    findings = sorted((_finding_row(f, window, end) for f in _findings(evidence)),
                      key=lambda r: (str(r["createdAt"]), str(r["eventID"])))
    overdue = [r for r in findings if r["overdue"]]
    runs, missed = _runs(evidence)
    rows = [*findings, *(_insight_row(r) for r in evidence.insights),
            *(_run_row(r) for r in evidence.internal_named("DetectorRun"))]
    counts = {"trailsWithInsights": len(with_insights), "insightsEvents": len(evidence.insights),
              "sigmaRules": len(rules), "findings": len(findings), "overdue": len(overdue),
              "open": sum(1 for r in findings if r["state"] == "open"),
              "detectorRuns": len(runs), "daysWithoutRun": len(missed)}
    cmd, params = _review_command(evidence), {"reviewWindowSeconds": window}
    if not with_insights and not rules:
        return CheckResult("OT-19", "FAIL", "No Sigma rules are loaded and no trail has "
                           "Insights selectors: nothing reviewed the events automatically.",
                           counts, rows, cmd, params)
    if overdue:
        return CheckResult("OT-19", "FAIL", f"{len(overdue)} finding(s) were not acknowledged "
                           f"within {window} s of being raised (first: "
                           f"{overdue[0]['ruleTitle']} at {overdue[0]['createdAt']}).",
                           counts, rows, cmd, params)
    if missed:
        return CheckResult("OT-19", "FAIL", f"{len(missed)} UTC day(s) of the period have no "
                           f"recorded detector run (DetectorRun, running), first {missed[0]}: "
                           "the daily review is not evidenced for them.", counts, rows, cmd,
                           params)
    if not rules:
        return CheckResult("OT-19", "WARN", f"Insights are on for {len(with_insights)} "
                           "trail(s), but Insights events carry no review state and no Sigma "
                           "rules are loaded: the daily review is MANUAL.", counts, rows, cmd,
                           params)
    return CheckResult("OT-19", "PASS", f"{len(rules)} Sigma rule(s) loaded; a detector "
                       "run is recorded for every UTC day of the period; all "
                       f"{len(findings)} finding(s) of the period were acknowledged within "
                       f"{window} s or are not yet due.", counts, rows, cmd, params)


# --- OT-20 ---------------------------------------------------------------------------

def _api_call(name: str, source: str = "cloudtrail.amazonaws.com",
              **detail: Any) -> dict[str, Any]:
    service = source.partition(".")[0]
    return {"detail-type": "AWS API Call via CloudTrail", "source": f"aws.{service}",
            "detail": {"eventName": name, "eventSource": source, "eventType": "AwsApiCall",
                       **detail}}


def _internal(name: str, **details: Any) -> dict[str, Any]:
    """One of OpenTrail's own health records (docs/compliance.md "Log from day one")."""
    return {"detail-type": "AWS Service Event via CloudTrail", "source": "opentrail.internal",
            "detail": {"eventName": name, "eventSource": "opentrail.internal",
                       "eventType": "AwsServiceEvent", "serviceEventDetails": details}}


_SIGNIN = {"detail-type": "AWS Console Sign In via CloudTrail", "source": "aws.signin",
           "detail": {"eventName": "ConsoleLogin", "eventSource": "signin.amazonaws.com",
                      "eventType": "AwsConsoleSignIn",
                      "userIdentity": {"type": "IAMUser"},
                      "responseElements": {"ConsoleLogin": "Success"},
                      "additionalEventData": {"MFAUsed": "No"}}}

# What an alert must exist for (the CIS monitoring set's logging and root items): FAIL if
# missing. RECOMMENDED_EVENTS are the rest of it and OpenTrail's own failures (its health
# records reach event rules like any ledger record): WARN if missing.
CRITICAL_EVENTS: dict[str, dict[str, Any]] = {
    "StopLogging": _api_call("StopLogging"),
    "DeleteTrail": _api_call("DeleteTrail"),
    "ConsoleLogin without MFA": _SIGNIN,
    "Root account use": _api_call("CreateAccessKey", "iam.amazonaws.com",
                                  userIdentity={"type": "Root"}),
}
RECOMMENDED_EVENTS: dict[str, dict[str, Any]] = {
    "UpdateTrail": _api_call("UpdateTrail"),
    "PutEventSelectors": _api_call("PutEventSelectors"),
    "Unauthorized API call": _api_call("RunInstances", "ec2.amazonaws.com",
                                       errorCode="AccessDenied", readOnly=False),
    "IAM policy change": _api_call("PutUserPolicy", "iam.amazonaws.com"),
    "OpenTrail delivery error": _internal("DeliveryError", kind="log", error="AccessDenied"),
    "OpenTrail verifier failure": _internal("VerifierRun", result="FAIL"),
}


def _envelope(sample: dict[str, Any], evidence: Evidence) -> dict[str, Any]:
    when = iso(evidence.period.start)
    detail = {"eventTime": when, "awsRegion": evidence.source.region, **sample["detail"]}
    return {"version": "0", "id": "00000000-0000-0000-0000-000000000000",
            "account": "000000000000", "time": when, "region": evidence.source.region,
            "resources": [], **sample, "detail": detail}


def _covering(evidence: Evidence, sample: dict[str, Any]) -> list[str]:
    return matching(evidence, _envelope(sample, evidence))


def _deliveries(evidence: Evidence, covering: set[str]) -> list[dict[str, Any]]:
    """The period's AlertDelivered records (rules/_receipts.py) as evidence rows."""
    rows = []
    for record in evidence.internal_named("AlertDelivered"):
        d = record.get("serviceEventDetails") or {}
        rows.append(row_of(record, rule=d.get("rule"), targetId=d.get("targetId"),
                           targetKind=d.get("targetKind"), deliveries=d.get("deliveries"),
                           firstDeliveredAt=d.get("firstDeliveredAt"),
                           lastDeliveredAt=d.get("lastDeliveredAt"),
                           matchedEventNames=d.get("eventNames"),
                           coveringRule=d.get("rule") in covering))
    return rows


def _coverage(evidence: Evidence) -> tuple[list[dict[str, Any]], dict[str, list[str]],
                                           set[str]]:
    """A row per critical and recommended event with the rules that alert on it; the
    uncovered ones by level; the names of the rules that cover any."""
    rows: list[dict[str, Any]] = []
    missing: dict[str, list[str]] = {"critical": [], "recommended": []}
    covering: set[str] = set()
    for level, events in (("critical", CRITICAL_EVENTS), ("recommended", RECOMMENDED_EVENTS)):
        for name, sample in events.items():
            covered = _covering(evidence, sample)
            covering.update(covered)
            rows.append({"event": name, "level": level, "coveredBy": covered})
            if not covered:
                missing[level].append(name)
    return rows, missing, covering


def ot20(evidence: Evidence) -> CheckResult:
    rules = event_rules(evidence)
    rows: list[dict[str, Any]] = [{"rule": r["name"], "state": r["state"],
                                   "eventPattern": r["pattern"], "targets": r["targets"]}
                                  for r in rules]
    events, missing, covering = _coverage(evidence)
    rows.extend(events)
    delivered = _deliveries(evidence, covering)
    proven = [r for r in delivered if r["coveringRule"]]
    rows.extend(delivered)
    counts = {"rules": len(rules), "enabledWithTargets": sum(
        1 for r in rules if r["state"] == "ENABLED" and r["targets"]),
        "criticalUncovered": len(missing["critical"]),
        "recommendedUncovered": len(missing["recommended"]),
        "deliveries": sum(int(r["deliveries"] or 0) for r in delivered),
        "deliveriesByCoveringRules": sum(int(r["deliveries"] or 0) for r in proven)}
    cmd = (f"aws events list-rules --endpoint-url {evidence.source.endpoint}; "
           + lookup_command(evidence, "EventName", "AlertDelivered")
           + " --event-category internal")
    if missing["critical"]:
        return CheckResult("OT-20", "FAIL", "No enabled event rule with a target alerts on: "
                           + ", ".join(missing["critical"]) + ".", counts, rows, cmd)
    if not proven:
        return CheckResult("OT-20", "FAIL", "Rules alert on every critical event, but no "
                           "delivery by one of them to its target is recorded in the period "
                           "(AlertDelivered): delivery is not proven. Trigger one (an event "
                           "its pattern matches) as an end-to-end test.", counts, rows, cmd)
    gaps = (f" No rule covers: {', '.join(missing['recommended'])}."
            if missing["recommended"] else "")
    proof = (f"{counts['deliveriesByCoveringRules']} alert(s) from these rules reached their "
             f"targets in the period (first: {proven[0]['rule']} at "
             f"{proven[0]['firstDeliveredAt']}).")
    if gaps:
        return CheckResult("OT-20", "WARN", f"Enabled rules with targets alert on every "
                           f"critical event; {proof}{gaps}", counts, rows, cmd)
    return CheckResult("OT-20", "PASS", "Enabled rules with targets alert on every critical "
                       f"and recommended event; {proof}", counts, rows, cmd)
