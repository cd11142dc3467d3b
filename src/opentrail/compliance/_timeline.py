"""Each trail's logging state over the period, from the self-audit and the health log.

A trail is on from a successful StartLogging to the next StopLogging or DeleteTrail
(CreateTrail leaves it off, as in CloudTrail). The state when the period began is the
last TrailStatusSample before it; without one, what the first change in the period
implies (a StartLogging means it was off); without any change, the state GetTrailStatus
reports now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opentrail.compliance._evidence import Evidence, event_time

__all__ = ["CHANGES", "OffInterval", "TrailTimeline", "timelines", "trail_key"]

CHANGES = {"StartLogging": True, "StopLogging": False, "DeleteTrail": False,
           "CreateTrail": False}


def trail_key(account: str, name_or_arn: str) -> tuple[str, str]:
    """(account, trail name) for an ARN or a bare name."""
    if name_or_arn.startswith("arn:"):
        parts = name_or_arn.split(":")
        return parts[4], name_or_arn.rsplit("/", maxsplit=1)[-1]
    return account, name_or_arn


@dataclass
class OffInterval:
    start: datetime
    end: datetime | None             # None: still off at the period's end
    initiator: dict[str, Any] | None  # the StopLogging/DeleteTrail record, if in the period
    restart: dict[str, Any] | None = None


@dataclass
class TrailTimeline:
    key: tuple[str, str]
    arn: str
    on_at_start: bool
    changes: list[tuple[datetime, bool, dict[str, Any]]] = field(default_factory=list)

    def off_intervals(self, period_start: datetime, period_end: datetime
                      ) -> list[OffInterval]:
        out: list[OffInterval] = []
        current = None if self.on_at_start else OffInterval(period_start, None, None)
        for when, on, record in self.changes:
            if on and current is not None:
                current.end, current.restart = when, record
                out.append(current)
                current = None
            elif not on and current is None:
                current = OffInterval(when, None, record)
        if current is not None:
            out.append(current)
        return [i for i in out if (i.end or period_end) > i.start]

    def on_seconds(self, period_start: datetime, period_end: datetime) -> float:
        total = (period_end - period_start).total_seconds()
        return total - sum(((i.end or period_end) - i.start).total_seconds()
                           for i in self.off_intervals(period_start, period_end))


def _changes(evidence: Evidence) -> dict[tuple[str, str], list[tuple[datetime, bool, Any]]]:
    found: dict[tuple[str, str], list[tuple[datetime, bool, Any]]] = {}
    for record in evidence.audit:
        name = record.get("eventName")
        params = record.get("requestParameters") or {}
        if name not in CHANGES or record.get("errorCode") or not params.get("name"):
            continue
        key = trail_key(str(record.get("recipientAccountId")), str(params["name"]))
        found.setdefault(key, []).append((event_time(record), CHANGES[name], record))
    return found


def _sampled(evidence: Evidence) -> dict[tuple[str, str], tuple[str, bool]]:
    """(arn, isLogging) of each trail's last status sample before the period."""
    out: dict[tuple[str, str], tuple[str, bool]] = {}
    for record in evidence.internal:
        details = record.get("serviceEventDetails") or {}
        if (record.get("eventName") == "TrailStatusSample"
                and event_time(record) < evidence.period.start):
            arn = str(details.get("trailARN"))
            out[trail_key("", arn)] = (arn, bool(details.get("isLogging")))
    return out


def timelines(evidence: Evidence) -> list[TrailTimeline]:
    """A timeline per trail that exists now or changed during the period."""
    changes, sampled = _changes(evidence), _sampled(evidence)
    arns = {trail_key("", t["TrailARN"]): t["TrailARN"] for t in evidence.trails}
    logging_now = {trail_key("", t["TrailARN"]): evidence.options.get("status", {}).get(
        t["TrailARN"], True) for t in evidence.trails}
    out = []
    for key in sorted(set(arns) | set(changes)):
        events = sorted(changes.get(key, []), key=lambda c: (c[0], str(c[2].get("eventID"))))
        if key in sampled:
            on = sampled[key][1]
        elif events:
            on = not events[0][1] if events[0][2].get("eventName") != "CreateTrail" else False
        else:
            on = bool(logging_now.get(key, False))
        region = evidence.source.region
        arn = arns.get(key) or sampled.get(key, ("",))[0] or (
            f"arn:aws:cloudtrail:{region}:{key[0]}:trail/{key[1]}")
        out.append(TrailTimeline(key, arn, on, events))
    return out
