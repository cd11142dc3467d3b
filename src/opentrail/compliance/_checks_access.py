"""Checks on what was captured and who read it: OT-10 (fields of 10.2.2), OT-11 (a
capture path for each event kind of 10.2.1.x), OT-12 (readers of the audit trail)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from itertools import islice
from typing import Any

from opentrail.compliance._checks_logging import lookup_command
from opentrail.compliance._evidence import Evidence, principal_of, row_of
from opentrail.compliance._result import CheckResult

__all__ = ["READS", "ot10", "ot11", "ot12"]

READS = frozenset({"LookupEvents", "StartQuery", "GetQueryResults", "DescribeQuery",
                   "ListInsightsMetricData", "ConsoleLogin"})
FIELD_SAMPLE = 500
COUNT_CAP = 200
KINDS: dict[str, tuple[str, ...]] = {
    "10.2.1.2 admin actions": ("ConsoleLogin", "AssumeRole", "CreateUser", "AttachUserPolicy"),
    "10.2.1.3 access to audit logs": ("LookupEvents", "StartQuery", "GetQueryResults"),
    "10.2.1.5 credential changes": ("CreateAccessKey", "UpdateLoginProfile",
                                    "CreateLoginProfile", "ChangePassword"),
    "10.2.1.6 logging start/stop/changes": ("StartLogging", "StopLogging", "UpdateTrail",
                                            "PutEventSelectors"),
    "10.2.1.7 create/delete system objects": ("RunInstances", "TerminateInstances",
                                              "CreateBucket", "DeleteBucket"),
}


def _filled(value: Any) -> bool:
    return value not in (None, "", [], {})


def ot10(evidence: Evidence) -> CheckResult:
    p = evidence.period
    sample = list(islice(evidence.source.events(p.start, p.end - timedelta(seconds=1)),
                         FIELD_SAMPLE))
    fields: dict[str, Callable[[dict[str, Any]], bool]] = {
              "user": lambda r: _filled(r.get("userIdentity")),
              "type": lambda r: _filled(r.get("eventSource")) and _filled(r.get("eventName")),
              "time": lambda r: _filled(r.get("eventTime")),
              "outcome": lambda r: True,  # errorCode absent means success (10.2.2)
              "origin": lambda r: _filled(r.get("sourceIPAddress")),
              "resource": lambda r: _filled(r.get("resources")) or _filled(
                  r.get("requestParameters"))}
    rates: dict[str, float | None] = {
        name: (sum(1 for r in sample if test(r)) / len(sample)) if sample else None
        for name, test in fields.items()}
    rows = [{"field": name, "fillRate": rate} for name, rate in rates.items()]
    counts = {"sampled": len(sample), **{f"{k}Rate": v for k, v in rates.items()}}
    cmd = lookup_command(evidence, "ReadOnly", "false").rsplit(" --lookup-attributes", 1)[0]
    short = [k for k in ("user", "type", "time", "outcome")
             if (rate := rates[k]) is not None and rate < 1]
    if not sample:
        return CheckResult("OT-10", "N/A", "No management event in the period to sample.",
                           counts, rows, cmd)
    if short:
        return CheckResult("OT-10", "FAIL", f"Required fields missing in the sample: "
                           f"{', '.join(short)}.", counts, rows, cmd, {"sample": FIELD_SAMPLE})
    return CheckResult("OT-10", "PASS", f"User, type, time and outcome filled in all "
                       f"{len(sample)} sampled events (the newest of the period).", counts,
                       rows, cmd, {"sample": FIELD_SAMPLE})


def ot11(evidence: Evidence) -> CheckResult:
    p = evidence.period

    def count(name: str) -> int:
        return len(list(islice(evidence.source.events(
            p.start, p.end - timedelta(seconds=1), attribute=("EventName", name)), COUNT_CAP)))

    names = [n for kind_names in KINDS.values() for n in kind_names]
    with ThreadPoolExecutor(8) as pool:
        counted = dict(zip(names, pool.map(count, names), strict=True))
    rows: list[dict[str, Any]] = []
    for kind, kind_names in KINDS.items():
        total = sum(counted[n] for n in kind_names)
        rows.append({"requirement": kind, "eventNames": list(kind_names), "count": total,
                     "capped": total >= COUNT_CAP})
    data = any(s.get("AdvancedEventSelectors") or any(
        e.get("DataResources") for e in s.get("EventSelectors") or [])
        for s in evidence.selectors.values())
    rows.insert(0, {"requirement": "10.2.1.1 access to cardholder data",
                    "eventNames": ["data events"], "count": None, "dataSelectors": data})
    rows.append({"requirement": "10.2.1.4 invalid access attempts",
                 "eventNames": ["any with errorCode"], "count": sum(
                     1 for r in evidence.audit if r.get("errorCode"))})
    empty = [str(r["requirement"]) for r in rows if r.get("count") == 0]
    counts = {"requirements": len(rows), "withoutEvents": len(empty), "dataSelectors": data}
    cmd = lookup_command(evidence, "EventName", "StopLogging")
    if not data:
        return CheckResult("OT-11", "WARN", "No trail selects data events, so access to "
                           "cardholder-data stores (10.2.1.1) has no capture path.", counts,
                           rows, cmd)
    if empty:
        return CheckResult("OT-11", "WARN", f"No events in the period for: "
                           f"{'; '.join(empty)}.", counts, rows, cmd)
    return CheckResult("OT-11", "PASS", "Every event kind of 10.2.1.1-.7 was captured.",
                       counts, rows, cmd)


def ot12(evidence: Evidence) -> CheckResult:
    reads = [r for r in [*evidence.audit, *evidence.signins] if r.get("eventName") in READS]
    reads.sort(key=lambda r: (r["eventTime"], r["eventID"]))
    approved = set(evidence.options.get("approved_readers") or ())
    rows = [row_of(r, approved=principal_of(r) in approved if approved else None)
            for r in reads]
    readers = sorted({str(r["principal"]) for r in rows})
    others = sorted({str(r["principal"]) for r in rows if r["approved"] is False})
    folder = evidence.system.get("trailStorage") == "folder"
    counts = {"reads": len(rows), "readers": len(readers), "unapproved": len(others)}
    cmd = lookup_command(evidence, "EventName", "LookupEvents")
    params = {"approvedReaders": sorted(approved), "bucketReadsLogged": not folder and None}
    if others:
        return CheckResult("OT-12", "FAIL", f"Audit data read by principals not approved: "
                           f"{', '.join(others)}.", counts, rows, cmd, params)
    gaps = []
    if not approved:
        gaps.append("no approved readers were given (--approved-reader), so the readers "
                    f"({', '.join(readers) or 'none'}) are listed for review")
    gaps.append("direct reads of the trail files (local folder or bucket) are not logged"
                if folder else "bucket reads (S3 data events or access logs) are not checked")
    return CheckResult("OT-12", "WARN", "; ".join(gaps).capitalize() + ".", counts, rows, cmd,
                       params)
