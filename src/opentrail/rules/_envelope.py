"""The EventBridge envelope of a CloudTrail record (spec detection.md §4.1).

Invariant: `detail` is the record itself, unchanged; the other members are derived from it
alone (plus the ledger's account and region when the record lacks them), so the same
record always gets the same envelope apart from the fresh `id`.

    {"version": "0", "id": <uuid>, "detail-type": <by eventType>, "source": "aws.<service>",
     "account": ..., "time": ..., "region": ..., "resources": [], "detail": <record>}

Sigma findings (ledgered by detect/ as records with eventSource SIGMA_EVENT_SOURCE and
eventName SIGMA_EVENT_NAME) get detail-type "Sigma Rule Match" and source
"opentrail.detect", so a rule can select them like any AWS event.
"""

from __future__ import annotations

import uuid
from typing import Any

__all__ = ["SIGMA_DETAIL_TYPE", "SIGMA_EVENT_NAME", "SIGMA_EVENT_SOURCE", "SIGMA_SOURCE",
           "detail_type", "envelope", "source_of"]

SIGMA_EVENT_SOURCE = "detect.opentrail.local"
SIGMA_EVENT_NAME = "SigmaRuleMatch"
SIGMA_DETAIL_TYPE = "Sigma Rule Match"
SIGMA_SOURCE = "opentrail.detect"
INSIGHT_TYPE = "AwsCloudTrailInsight"

DETAIL_TYPES = {
    "AwsApiCall": "AWS API Call via CloudTrail",
    "AwsConsoleSignIn": "AWS Console Sign In via CloudTrail",
    "AwsConsoleAction": "AWS Console Action via CloudTrail",
    "AwsServiceEvent": "AWS Service Event via CloudTrail",
    INSIGHT_TYPE: "AWS Insight via CloudTrail",
}
DEFAULT_DETAIL_TYPE = DETAIL_TYPES["AwsApiCall"]

# eventSource prefixes whose EventBridge source is not "aws." + the prefix.
SOURCE_EXCEPTIONS = {
    "monitoring": "aws.cloudwatch",
    "email": "aws.ses",
    "elasticfilesystem": "aws.elasticfilesystem",
}
AWS_SUFFIX = ".amazonaws.com"


def source_of(event_source: str) -> str:
    """`iam.amazonaws.com` -> `aws.iam`; a non-AWS eventSource is kept as it is."""
    if not event_source.endswith(AWS_SUFFIX):
        return event_source
    service = event_source[: -len(AWS_SUFFIX)]
    return SOURCE_EXCEPTIONS.get(service, "aws." + service)


def _is_sigma(record: dict[str, Any]) -> bool:
    return (record.get("eventSource") == SIGMA_EVENT_SOURCE
            and record.get("eventName") == SIGMA_EVENT_NAME)


def detail_type(record: dict[str, Any]) -> str:
    if _is_sigma(record):
        return SIGMA_DETAIL_TYPE
    event_type = record.get("eventType")
    return DETAIL_TYPES.get(event_type, DEFAULT_DETAIL_TYPE) if isinstance(
        event_type, str) else DEFAULT_DETAIL_TYPE


def _source(record: dict[str, Any]) -> str:
    if _is_sigma(record):
        return SIGMA_SOURCE
    if record.get("eventType") == INSIGHT_TYPE:
        return "aws.cloudtrail"
    event_source = record.get("eventSource")
    return source_of(event_source) if isinstance(event_source, str) else "aws.cloudtrail"


def _text(record: dict[str, Any], key: str, default: str) -> str:
    value = record.get(key)
    return value if isinstance(value, str) and value else default


def envelope(record: dict[str, Any], *, account: str = "", region: str = "",
             event_id: str | None = None) -> dict[str, Any]:
    """The envelope EventBridge puts around `record`; `account`/`region` fill in for a
    record without recipientAccountId/awsRegion (the ledger's own columns)."""
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": detail_type(record),
        "source": _source(record),
        "account": _text(record, "recipientAccountId", account),
        "time": _text(record, "eventTime", ""),
        "region": _text(record, "awsRegion", region),
        "resources": [],
        "detail": record,
    }
