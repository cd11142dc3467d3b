"""OT-17's evidence: the retention achieved, by validating samples of months 4-12.

PCI 10.5.1.b/c: the assessor samples old records and checks they are still there and
intact. For each trail with log file validation on, the server's delivery record (`GET
/trails/objects?kind=digest`, from its first object) gives the go-live (the first digest
delivered) and every digest since. Each calendar month 4 to 12 before the period's end
(month m is [end - m months, end - (m - 1) months)) that began after go-live gets
`SAMPLES` digests, evenly spread over it (the first, the middle, the last: the same rows
on every run); each is validated with its log files by `opentrail validate-logs` over
the digest's own window (signature, chain entry, every listed log file's hash). A month
wholly before go-live is N/A; a month since with no digest delivered fails, as does an
invalid sample. The 3-month retrieval is not timed here (a duration would differ between
reruns of the same report): the check prints the LookupEvents command that demonstrates
it.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from opentrail.compliance._accounts import digest_account
from opentrail.compliance._evidence import Evidence
from opentrail.compliance._result import iso
from opentrail.compliance._validation import TrailValidation, validate_trail

__all__ = ["FIRST_MONTH", "LAST_MONTH", "SAMPLES", "RetentionSample", "minus_months",
           "sample_retention"]

SAMPLES = 3
FIRST_MONTH, LAST_MONTH = 4, 12
Validate = Callable[[str, datetime, datetime, dict[str, Any], Any], TrailValidation]


@dataclass
class RetentionSample:
    rows: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    checked: int = 0  # months sampled
    digests: int = 0  # digests validated


def minus_months(when: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months earlier (the day clamped)."""
    year, month = divmod(when.year * 12 + when.month - 1 - months, 12)
    day = min(when.day, calendar.monthrange(year, month + 1)[1])
    return when.replace(year=year, month=month + 1, day=day)


def _digest_end(key: str) -> datetime:
    """A digest's window end from its key (validate-logs reads key[-24:-8] too)."""
    return datetime.strptime(key[-24:-8], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def _spread(items: list[Any]) -> list[Any]:
    picks = sorted({0, len(items) // 2, len(items) - 1})[:SAMPLES]
    return [items[i] for i in picks] if items else []


def _check(arn: str, digest: dict[str, Any], evidence: Evidence, options: dict[str, Any],
           validate: Validate) -> dict[str, Any]:
    end = _digest_end(str(digest["Key"]))
    start = end - timedelta(seconds=int(evidence.system.get("digestInterval") or 3600))
    # An organization trail's digest is of one account's chain (validate-logs --account-id).
    account = digest_account(str(digest["Key"]), evidence.system.get("organizationId"))
    run = validate(arn, start, end, {**options, "account_id": account} if account
                   else options, evidence.source.session)
    mine = [d for d in run.digests if d["key"] == digest["Key"]]
    invalid = [line for line in run.output.splitlines() if "INVALID" in line][:3]
    problem = run.error or (None if mine else "the digest was not found where it was "
                            "delivered") or (f"{run.invalid} digest or log file(s) INVALID: "
                                             + " | ".join(invalid) if run.invalid else None)
    return {"digest": digest["Key"], "deliveredAt": iso(datetime.fromtimestamp(
        float(digest["DeliveryTime"]), UTC)), "logFiles": len(run.logs),
            "command": run.command, "problem": problem}


def _trail(arn: str, evidence: Evidence, options: dict[str, Any], validate: Validate,
           found: RetentionSample) -> None:
    end = evidence.period.end
    digests = evidence.source.trail_objects(arn, None, end, kind="digest")["Objects"]
    live = min((float(d["DeliveryTime"]) for d in digests), default=None)
    for m in range(FIRST_MONTH, LAST_MONTH + 1):
        low, high = minus_months(end, m), minus_months(end, m - 1)
        row: dict[str, Any] = {"trailARN": arn, "month": m, "start": iso(low), "end": iso(high)}
        if live is None or high.timestamp() <= live:
            found.rows.append({**row, "state": "before go-live"})
            continue
        picked = _spread([d for d in digests
                          if low.timestamp() <= float(d["DeliveryTime"]) < high.timestamp()])
        checks = [_check(arn, d, evidence, options, validate) for d in picked]
        found.checked += 1
        found.digests += len(checks)
        bad = [c for c in checks if c["problem"]]
        if not checks:
            found.problems.append(f"{arn}: no digest delivered in month {m} ({iso(low)} to "
                                  f"{iso(high)})")
        found.problems += [f"{arn}: month {m}: {c['digest']}: {c['problem']}" for c in bad]
        found.rows.append({**row, "state": "sampled", "samples": checks})
    found.rows.append({"trailARN": arn, "goLive": None if live is None else iso(
        datetime.fromtimestamp(live, UTC)), "digestsRecorded": len(digests)})


def sample_retention(evidence: Evidence, options: dict[str, Any],
                     validate: Validate | None = None) -> RetentionSample:
    found = RetentionSample()
    for trail in evidence.trails:
        if trail.get("LogFileValidationEnabled"):
            _trail(str(trail["TrailARN"]), evidence, options, validate or validate_trail,
                   found)
    return found
