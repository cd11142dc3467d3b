"""The facts a report's checks share, gathered once from the server for one period.

`Evidence` holds the period, the profile, the trails with their selectors, the self-audit
records of the period (OpenTrail's own `cloudtrail.amazonaws.com` records, server-made),
the console sign-ins, the internal health records, the Insights events and the system
description. Checks only read it; what one check needs beyond it (the validator's run,
proofs) it fetches itself through `source`.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from opentrail.compliance._catalog import Profile
from opentrail.compliance._result import Period
from opentrail.compliance._source import ServerSource
from opentrail.events import INTERNAL_SOURCE, is_server_made

__all__ = ["LOOKBACK", "Evidence", "event_time", "gather", "principal_of", "row_of"]

LOOKBACK = timedelta(hours=2)  # internal records before the period: the state it began in


@lru_cache(maxsize=1 << 16)
def _parsed(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def event_time(record: dict[str, Any]) -> datetime:
    """A record's eventTime (parsed once per distinct value: the checks ask it of the
    same health records many times, ~40,000 parses for a 30-day report)."""
    return _parsed(str(record["eventTime"]))


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
    """Every shared fact, the independent calls in parallel."""
    source.cloudtrail()  # made once, before threads share it
    end = period.end - timedelta(seconds=1)  # LookupEvents' EndTime is inclusive
    early = Period(period.start - LOOKBACK, period.end)
    calls: dict[str, Callable[[], Any]] = {
        "trails": source.trails, "system": source.system,
        "audit": lambda: _in(early, source.events(early.start, end, attribute=(
            "EventSource", "cloudtrail.amazonaws.com"))),
        "signins": lambda: _in(period, source.events(period.start, end, attribute=(
            "EventName", "ConsoleLogin"))),
        "internal": lambda: _internal(source, early.start, end, period),
        "insights": lambda: _in(period, source.events(period.start, end,
                                                      category="insight"), False)}
    with ThreadPoolExecutor(len(calls)) as pool:
        futures = {name: pool.submit(call) for name, call in calls.items()}
        got = {name: future.result() for name, future in futures.items()}
        trails = got["trails"]
        arns = [t["TrailARN"] for t in trails]
        selectors = dict(zip(arns, pool.map(source.selectors, arns), strict=True))
        status = {arn: bool(s.get("IsLogging"))
                  for arn, s in zip(arns, pool.map(source.status, arns), strict=True)}
    audit_early = got["audit"]
    audit = [r for r in audit_early if period.holds(event_time(r))]
    return Evidence(source, profile, period, got["system"], trails, selectors, audit,
                    got["internal"], got["signins"], got["insights"],
                    {**options, "status": status}, audit_early)


def _internal(source: ServerSource, start: datetime, end: datetime,
              period: Period) -> list[dict[str, Any]]:
    found = (r for r in source.events(start, end, category="internal")
             if r.get("eventSource") == INTERNAL_SOURCE and is_server_made(r)
             and event_time(r) < period.end)
    return sorted(found, key=lambda r: (str(r.get("eventTime")), str(r.get("eventID"))))
