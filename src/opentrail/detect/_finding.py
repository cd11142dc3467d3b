"""A finding: one rule matching one event, as the CloudTrail-shaped record the ledger keeps.

    {"eventSource": "detect.opentrail.local", "eventName": "SigmaRuleMatch",
     "eventType": "AwsServiceEvent", "serviceEventDetails": {<the finding>}, ...}

The finding names the rule as its licence asks (id, title, level, author, link) and the
event it matched. Its eventID is derived, not random: uuid5 of (rule id, account, matched
eventID), so evaluating the same event twice (a crash before the cursor moved) yields the
same record, which the ledger's (account, eventID) de-duplication keeps once. Findings
are marked server-made (`opentrailOrigin`), and `is_finding` keeps them from ever being
evaluated by Sigma again.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opentrail.detect._rules import Rule
from opentrail.detect._source import source_of
from opentrail.events import ORIGIN_FIELD, SERVER_ORIGIN, is_server_made

__all__ = ["DETECT_SOURCE", "FINDING_EVENT", "FINDING_VERSION", "Finding", "finding_of",
           "is_finding"]

DETECT_SOURCE = "detect.opentrail.local"
FINDING_EVENT = "SigmaRuleMatch"
FINDING_VERSION = "1.11"
NAMESPACE = uuid.UUID("4f6a0c1e-2d7b-5e39-8c41-7a9d0b3e6f21")


@dataclass(frozen=True, slots=True)
class Finding:
    id: str  # the finding record's eventID
    account: str
    region: str
    created: float  # epoch seconds: when the rule matched
    detail: dict[str, Any]  # serviceEventDetails: the rule and the matched event

    def record(self) -> dict[str, Any]:
        """The CloudTrail-shaped record appended to the ledger."""
        return {
            "eventVersion": FINDING_VERSION,
            "userIdentity": {"type": "AWSService", "invokedBy": DETECT_SOURCE},
            "eventTime": _time_text(self.created), "eventSource": DETECT_SOURCE,
            "eventName": FINDING_EVENT, "awsRegion": self.region,
            "sourceIPAddress": DETECT_SOURCE, "userAgent": DETECT_SOURCE,
            "requestParameters": None, "responseElements": None, "eventID": self.id,
            "readOnly": False, "eventType": "AwsServiceEvent", "managementEvent": True,
            "recipientAccountId": self.account, "serviceEventDetails": self.detail,
            "eventCategory": "Management", ORIGIN_FIELD: SERVER_ORIGIN,
        }


def finding_of(rule: Rule, record: Mapping[str, Any], account: str, region: str,
               now: float) -> Finding:
    """The finding of `rule` matching the stored `record` (of `account`, `region`)."""
    event_id = str(record.get("eventID", ""))
    source = source_of(record)
    detail = {
        **rule.describe(),
        "eventId": event_id, "eventName": record.get("eventName"),
        "eventTime": record.get("eventTime"), "eventSource": record.get("eventSource"),
        "eventAccount": account, "eventRegion": region,
        "source": f"{source.product}/{source.service}",
    }
    finding_id = str(uuid.uuid5(NAMESPACE, f"{rule.id}|{account}|{event_id}"))
    return Finding(finding_id, account, region, now, detail)


def is_finding(record: Mapping[str, Any]) -> bool:
    """A finding this server made (never evaluated again: no loops)."""
    return record.get("eventSource") == DETECT_SOURCE and is_server_made(record)


def _time_text(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
