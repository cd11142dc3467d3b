"""The facts a report's checks share, gathered once from the server for one period.

`Evidence` holds the period, the profile, the trails with their selectors, the self-audit
records of the period (OpenTrail's own `cloudtrail.amazonaws.com` records, server-made),
the console sign-ins, the internal health records, the Insights events and the system
description. Checks only read it; what one check needs beyond it (the validator's run,
proofs) it fetches itself through `source`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from opentrail.compliance._catalog import Profile
from opentrail.compliance._result import Period
from opentrail.compliance._source import ServerSource
from opentrail.events import INTERNAL_SOURCE, is_server_made

__all__ = ["LOOKBACK", "Evidence", "event_time", "gather", "principal_of", "row_of"]

LOOKBACK = timedelta(hours=2)  # internal records before the period: the state it began in


def event_time(record: dict[str, Any]) -> datetime:
    return datetime.strptime(str(record["eventTime"]), "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=UTC)


def principal_of(record: dict[str, Any]) -> str:
    who = record.get("userIdentity") or {}
    return str(who.get("arn") or who.get("userName") or who.get("invokedBy")
               or who.get("principalId") or "unknown")


def row_of(record: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The redacted excerpt of a record (spec §8.3): never requestParameters or
    responseElements, which may hold PHI."""
    resources = [r.get("ARN") or r.get("resourceName") for r in record.get("resources") or []
                 if isinstance(r, dict)]
    return {"eventID": record.get("eventID"), "eventTime": record.get("eventTime"),
            "eventSource": record.get("eventSource"), "eventName": record.get("eventName"),
            "principal": principal_of(record), "sourceIPAddress": record.get("sourceIPAddress"),
            "errorCode": record.get("errorCode"), "accountId": record.get("recipientAccountId"),
            "resources": [r for r in resources if r], **extra}


@dataclass
class Evidence:
    source: ServerSource
    profile: Profile
    period: Period
    system: dict[str, Any]
    trails: list[dict[str, Any]]
    selectors: dict[str, dict[str, Any]]
    audit: list[dict[str, Any]]        # self-audit records of the period
    internal: list[dict[str, Any]]     # health records from LOOKBACK before the period
    signins: list[dict[str, Any]]
    insights: list[dict[str, Any]]
    options: dict[str, Any] = field(default_factory=dict)
    audit_early: list[dict[str, Any]] = field(default_factory=list)  # from LOOKBACK before

    def internal_named(self, name: str, *, in_period: bool = True) -> list[dict[str, Any]]:
        return [r for r in self.internal if r.get("eventName") == name
                and (not in_period or self.period.holds(event_time(r)))]


def _in(period: Period, records: Any, server_made: bool = True) -> list[dict[str, Any]]:
    """The records of the period, oldest first (eventID breaks ties: deterministic)."""
    kept = [r for r in records if period.holds(event_time(r))
            and (not server_made or is_server_made(r))]
    return sorted(kept, key=lambda r: (str(r.get("eventTime")), str(r.get("eventID"))))


def gather(source: ServerSource, profile: Profile, period: Period,
           options: dict[str, Any]) -> Evidence:
    trails = source.trails()
    end = period.end - timedelta(seconds=1)  # LookupEvents' EndTime is inclusive
    early = Period(period.start - LOOKBACK, period.end)
    audit_early = _in(early, source.events(early.start, end, attribute=(
        "EventSource", "cloudtrail.amazonaws.com")))
    audit = [r for r in audit_early if period.holds(event_time(r))]
    signins = _in(period, source.events(period.start, end, attribute=(
        "EventName", "ConsoleLogin")))
    internal = sorted((r for r in source.events(period.start - LOOKBACK, end,
                                                category="internal")
                       if r.get("eventSource") == INTERNAL_SOURCE and is_server_made(r)
                       and event_time(r) < period.end),
                      key=lambda r: (str(r.get("eventTime")), str(r.get("eventID"))))
    insights = _in(period, source.events(period.start, end, category="insight"), False)
    status = {t["TrailARN"]: bool(source.status(t["TrailARN"]).get("IsLogging"))
              for t in trails}
    options = {**options, "status": status}
    return Evidence(source, profile, period, source.system(), trails,
                    {t["TrailARN"]: source.selectors(t["TrailARN"]) for t in trails},
                    audit, internal, signins, insights, options, audit_early)
