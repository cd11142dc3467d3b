"""Internal events: health facts the server records about itself (spec compliance.md §6).

Clock samples, trail status samples, delivery errors and recoveries, verifier runs,
detector runs, delivered alerts and generated reports cannot be rebuilt after the fact,
so the server writes them into the ledger as they happen, where checkpoints cover them.
Each is an `AwsServiceEvent` from `opentrail.internal` carrying
`opentrailOrigin: "server"`; only that pair makes a record internal, and no ingest path
accepts a record with the origin field (events/_origin.py), so a client cannot forge one.
Their details live in `serviceEventDetails`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

from opentrail.events._origin import ORIGIN_FIELD, SERVER_ORIGIN

__all__ = ["INTERNAL_EVENT_NAMES", "INTERNAL_SOURCE", "internal_record", "is_internal"]

INTERNAL_SOURCE = "opentrail.internal"
INTERNAL_EVENT_NAMES = frozenset({
    "ClockSample", "TrailStatusSample", "DeliveryError", "DeliveryRecovered",
    "VerifierRun", "ReportGenerated", "KeyRotated", "SettingChanged", "AlertDelivered",
    "DetectorRun",
})


def is_internal(record: Mapping[str, Any]) -> bool:
    """True for a record the server made about its own health."""
    return (record.get("eventSource") == INTERNAL_SOURCE
            and record.get(ORIGIN_FIELD) == SERVER_ORIGIN)


def internal_record(name: str, account: str, region: str, details: Mapping[str, Any],
                    *, now: float | None = None, event_id: str | None = None
                    ) -> dict[str, Any]:
    """The record of one health fact, `details` in serviceEventDetails; `event_id` for a
    fact several nodes may record (the ledger keeps one record per account and ID)."""
    if name not in INTERNAL_EVENT_NAMES:
        raise ValueError(f"{name!r} is not an internal event name")
    return {
        "eventVersion": "1.11",
        "userIdentity": {"type": "AWSService", "invokedBy": INTERNAL_SOURCE},
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                   time.gmtime(time.time() if now is None else now)),
        "eventSource": INTERNAL_SOURCE,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": INTERNAL_SOURCE,
        "userAgent": INTERNAL_SOURCE,
        "requestParameters": None,
        "responseElements": None,
        "eventID": event_id or str(uuid.uuid4()),
        "readOnly": True,
        "eventType": "AwsServiceEvent",
        "managementEvent": False,
        "recipientAccountId": account,
        "eventCategory": "Management",
        "serviceEventDetails": dict(details),
        ORIGIN_FIELD: SERVER_ORIGIN,
    }
