"""The Insights record, in CloudTrail's exact shape (spec section 1.3).

IDs are derived, not random: uuid5 of the series and the start minute, so re-running the
detector over the same history yields the same records and the ledger's (account,
eventID) de-duplication keeps exactly one of each.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from opentrail.events import ORIGIN_FIELD, SERVER_ORIGIN
from opentrail.insights._detector import Episode
from opentrail.insights._store import ERROR_RATE, SeriesKey

__all__ = [
    "EVENT_VERSION", "NAMESPACE", "Attribution", "event_id", "insight_record", "minute_text",
    "shared_id",
]

EVENT_VERSION = "1.07"
NAMESPACE = uuid.UUID("6f1c3a52-8f7e-4d0e-9b4f-0a4f1d3c2b10")
TOP = 5

# attribute -> (insight period {value: calls}, baseline period {value: calls})
Attribution = dict[str, tuple[dict[str, int], dict[str, int]]]


def minute_text(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_id(key: SeriesKey, start: int, state: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{shared_id(key, start)}|{state}"))


def shared_id(key: SeriesKey, start: int) -> str:
    name = "|".join((key.account, key.region, key.source, key.name, key.type, key.error,
                     str(start)))
    return str(uuid.uuid5(NAMESPACE, name))


def _ranked(counts: dict[str, int], minutes: int) -> list[dict[str, Any]]:
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
    return [{"value": value, "average": round(n / max(minutes, 1), 4)} for value, n in top]


def _attributions(found: Attribution, episode: Episode) -> list[dict[str, Any]]:
    return [{"attribute": attr, "insight": _ranked(insight, episode.duration),
             "baseline": _ranked(baseline, episode.baseline_minutes)}
            for attr, (insight, baseline) in found.items()]


def baseline_duration(minutes: int) -> int:
    """Whole days, as CloudTrail reports it; a history under a day is reported as is."""
    return minutes - minutes % 1440 if minutes >= 1440 else minutes


def insight_record(key: SeriesKey, state: str, episode: Episode,
                   attributions: Attribution) -> dict[str, Any]:
    shared = shared_id(key, episode.start)
    minute = episode.start if state == "Start" else (episode.end or episode.start)
    average = episode.first_rate if state == "Start" else episode.average
    details: dict[str, Any] = {
        "state": state, "eventSource": key.source, "eventName": key.name,
        "insightType": key.type,
        "insightContext": {
            "statistics": {
                "baseline": {"average": round(episode.baseline_average, 4)},
                "insight": {"average": round(average, 4)},
                "insightDuration": episode.duration,
                "baselineDuration": baseline_duration(episode.baseline_minutes),
            },
            "attributions": _attributions(attributions, episode),
        },
    }
    if key.type == ERROR_RATE:
        details["errorCode"] = key.error
    return {
        "eventVersion": EVENT_VERSION, "eventTime": minute_text(minute),
        "awsRegion": key.region, "eventID": event_id(key, episode.start, state),
        "eventType": "AwsCloudTrailInsight", "recipientAccountId": key.account,
        "sharedEventID": shared, "insightDetails": details, "eventCategory": "Insight",
        ORIGIN_FIELD: SERVER_ORIGIN,  # what the Insights page and `opentrail insights` show
    }
