"""Checks that logging was on, complete and unchanged: OT-01, OT-02, OT-06, OT-07."""

from __future__ import annotations

import shlex
from datetime import timedelta
from typing import Any

from opentrail.compliance._alerting import alerting_rules
from opentrail.compliance._evidence import Evidence, principal_of, row_of
from opentrail.compliance._result import CheckResult, iso
from opentrail.compliance._timeline import OffInterval, timelines, trail_key
from opentrail.events import is_internal

__all__ = ["CONFIG_CHANGES", "ot01", "ot02", "ot06", "ot07"]

CONFIG_CHANGES = frozenset({
    "CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging",
    "PutEventSelectors", "PutInsightSelectors", "AddTags", "RemoveTags",
    "CreateEventDataStore", "UpdateEventDataStore", "DeleteEventDataStore",
    "RestoreEventDataStore", "StartEventDataStoreIngestion", "StopEventDataStoreIngestion",
    "CreateChannel", "UpdateChannel", "DeleteChannel", "PutResourcePolicy",
    "DeleteResourcePolicy", "RegisterOrganizationDelegatedAdmin"})


def lookup_command(evidence: Evidence, key: str, value: str) -> str:
    p = evidence.period
    return shlex.join(["aws", "cloudtrail", "lookup-events", "--endpoint-url",
                       evidence.source.endpoint, "--start-time", iso(p.start), "--end-time",
                       iso(p.end - timedelta(seconds=1)), "--lookup-attributes",
                       f"AttributeKey={key},AttributeValue={value}"])


def _all_management(selectors: dict[str, Any]) -> tuple[bool, list[str]]:
    """Whether the trail's selectors take read and write management events, and the
    exclusions it has."""
    basic, advanced = selectors.get("EventSelectors"), selectors.get("AdvancedEventSelectors")
    if advanced:
        for sel in advanced:
            fields = {f["Field"]: f for f in sel.get("FieldSelectors", [])}
            if fields.get("eventCategory", {}).get("Equals") == ["Management"]:
                extra = sorted(set(fields) - {"eventCategory"})
                return not extra, [f"advanced selector filters {', '.join(extra)}"] if extra else []
        return False, ["no advanced selector for management events"]
    for sel in basic or [{"ReadWriteType": "All", "IncludeManagementEvents": True}]:
        if sel.get("IncludeManagementEvents", True) and sel.get("ReadWriteType", "All") == "All":
            excluded = sel.get("ExcludeManagementEventSources") or []
            return not excluded, [f"excludes {s}" for s in excluded]
    return False, ["no selector for read and write management events"]


def ot01(evidence: Evidence) -> CheckResult:
    p, rows, covered = evidence.period, [], []
    lines = {t.arn: t for t in timelines(evidence)}
    for trail in evidence.trails:
        arn = trail["TrailARN"]
        complete, exclusions = _all_management(evidence.selectors.get(arn, {}))
        line = lines.get(arn)
        offs = line.off_intervals(p.start, p.end) if line else []
        ok = bool(trail.get("IsMultiRegionTrail")) and complete
        rows.append({"trailARN": arn, "multiRegion": bool(trail.get("IsMultiRegionTrail")),
                     "readWriteManagement": complete, "exclusions": exclusions,
                     "loggingSeconds": int(line.on_seconds(p.start, p.end)) if line else 0,
                     "offIntervals": [[iso(i.start), iso(i.end or p.end)] for i in offs]})
        if ok:
            covered.append(offs)
    hours = _hours_uncovered(evidence, covered)
    counts = {"trails": len(rows), "qualifyingTrails": len(covered),
              "hours": p.hours, "hoursWithoutLogging": len(hours)}
    if not covered:
        return CheckResult("OT-01", "FAIL", "No multi-region trail logs all read and write "
                           "management events.", counts, rows, _trails_cmd(evidence))
    if hours:
        return CheckResult("OT-01", "FAIL", f"{len(hours)} hour(s) of the period had no "
                           f"qualifying trail logging, from {hours[0]}.", counts, rows,
                           _trails_cmd(evidence))
    return CheckResult("OT-01", "PASS", "A multi-region trail logged all read and write "
                       "management events in every hour of the period.", counts, rows,
                       _trails_cmd(evidence))


def _trails_cmd(evidence: Evidence) -> str:
    return (f"aws cloudtrail describe-trails --endpoint-url {evidence.source.endpoint}; "
            + lookup_command(evidence, "EventSource", "cloudtrail.amazonaws.com"))


def _hours_uncovered(evidence: Evidence, covered: list[list[OffInterval]]) -> list[str]:
    p, out = evidence.period, []
    hour = p.start
    while hour < p.end:
        nxt = min(hour + timedelta(hours=1), p.end)
        if not any(not any(i.start < nxt and (i.end or p.end) > hour for i in offs)
                   for offs in covered):
            out.append(iso(hour))
        hour = nxt
    return out


def ot02(evidence: Evidence) -> CheckResult:
    rows, failing = [], []
    for trail in evidence.trails:
        arn = trail["TrailARN"]
        key = trail_key("", arn)
        offs = [r for r in evidence.audit if r.get("eventName") == "UpdateTrail"
                and not r.get("errorCode")
                and (r.get("requestParameters") or {}).get("enableLogFileValidation") is False
                and trail_key(str(r.get("recipientAccountId")),
                              str((r.get("requestParameters") or {}).get("name"))) == key]
        samples = [r for r in evidence.internal_named("TrailStatusSample")
                   if (r.get("serviceEventDetails") or {}).get("trailARN") == arn
                   and (r.get("serviceEventDetails") or {}).get("logFileValidationEnabled")
                   is False]
        enabled = bool(trail.get("LogFileValidationEnabled"))
        rows.append({"trailARN": arn, "enabledNow": enabled,
                     "turnedOff": [row_of(r) for r in offs],
                     "samplesWithValidationOff": len(samples)})
        if not enabled or offs or samples:
            failing.append(arn)
    counts = {"trails": len(rows), "failing": len(failing)}
    cmd = (f"aws cloudtrail describe-trails --endpoint-url {evidence.source.endpoint}; "
           + lookup_command(evidence, "EventName", "UpdateTrail"))
    if not rows:
        return CheckResult("OT-02", "FAIL", "No trail exists.", counts, rows, cmd)
    if failing:
        return CheckResult("OT-02", "FAIL", "Log file validation was off during the period "
                           f"for {', '.join(failing)}.", counts, rows, cmd)
    return CheckResult("OT-02", "PASS", "Log file validation was on for every trail all "
                       "period.", counts, rows, cmd)


def ot06(evidence: Evidence) -> CheckResult:
    changes = [r for r in evidence.audit if r.get("eventName") in CONFIG_CHANGES
               and not r.get("errorCode")]
    changes += evidence.internal_named("SettingChanged") + evidence.internal_named("KeyRotated")
    approved = set(evidence.options.get("approved_admins") or ())
    # The server's own records (a setting changed at a restart, a key rotated) name no
    # person: listed for review, never counted as unapproved, and no event rule sees them.
    rows = [row_of(r, approved=principal_of(r) in approved
                   if approved and not is_internal(r) else None,
                   alertedBy=None if is_internal(r) else alerting_rules(evidence, r))
            for r in sorted(changes, key=lambda r: (r["eventTime"], r["eventID"]))]
    others = sorted({str(r["principal"]) for r in rows if r["approved"] is False})
    silent = [r for r in rows if r["alertedBy"] == []]
    counts = {"changes": len(rows), "principals": len({r["principal"] for r in rows}),
              "unapproved": len(others), "unalerted": len(silent)}
    cmd = lookup_command(evidence, "EventSource", "cloudtrail.amazonaws.com")
    if others:
        return CheckResult("OT-06", "FAIL", f"Logging configuration changed by principals not "
                           f"approved: {', '.join(others)}.", counts, rows, cmd)
    if silent:
        return CheckResult("OT-06", "WARN", f"{len(silent)} logging-configuration change(s) "
                           "matched no enabled event rule with a target, so nobody was "
                           f"alerted (first: {silent[0]['eventName']} at "
                           f"{silent[0]['eventTime']}).", counts, rows, cmd)
    if rows and not approved:
        return CheckResult("OT-06", "WARN", f"{len(rows)} logging-configuration change(s) "
                           "listed for review; no approved principals were given "
                           "(--approved-admin).", counts, rows, cmd)
    return CheckResult("OT-06", "PASS", "Every logging-configuration change was made by an "
                       "approved principal and matched an alerting event rule." if rows
                       else "No logging-configuration change in the period.", counts, rows,
                       cmd)


def ot07(evidence: Evidence) -> CheckResult:
    p, rows = evidence.period, list[dict[str, Any]]()
    tolerance = evidence.profile.stop_tolerance_seconds
    for line in timelines(evidence):
        for i in line.off_intervals(p.start, p.end):
            end = i.end or p.end
            rows.append({"trailARN": line.arn, "start": iso(i.start),
                         "end": iso(i.end) if i.end else None,
                         "durationSeconds": int((end - i.start).total_seconds()),
                         "initiator": row_of(i.initiator) if i.initiator else None,
                         "restartedBy": row_of(i.restart) if i.restart else None})
    long = [r for r in rows if r["end"] is None or r["durationSeconds"] > tolerance]
    counts = {"intervals": len(rows), "overTolerance": len(long),
              "offSeconds": sum(r["durationSeconds"] for r in rows)}
    cmd = lookup_command(evidence, "EventName", "StopLogging")
    if long:
        first = long[0]
        return CheckResult("OT-07", "FAIL", f"Logging was off longer than {tolerance} s: "
                           f"{first['trailARN']} from {first['start']} to "
                           f"{first['end'] or 'the end of the period (never restarted)'}.",
                           counts, rows, cmd, {"toleranceSeconds": tolerance})
    if rows:
        return CheckResult("OT-07", "WARN", f"{len(rows)} logging-off interval(s), each "
                           f"within {tolerance} s; annotate their cause.", counts, rows, cmd,
                           {"toleranceSeconds": tolerance})
    return CheckResult("OT-07", "PASS", "Logging was never off during the period.", counts,
                       rows, cmd, {"toleranceSeconds": tolerance})


