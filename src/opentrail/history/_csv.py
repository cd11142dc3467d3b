"""LookupEvents events as CSV rows: one definition for `opentrail download` and the console.

The columns are those of the CloudTrail console's download. CSV injection: a cell
starting with = + - @, a tab or a carriage return gets a leading single quote so a
spreadsheet shows it as text instead of running it as a formula.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = ["CSV_COLUMNS", "csv_row", "escape_cell", "event_record", "time_text"]

Event = Mapping[str, Any]

CSV_COLUMNS = (
    "Event ID", "Event time", "User name", "Event name", "Resource type", "Resource name",
    "AWS access key", "Event source", "AWS region", "Error code", "Source IP address",
    "Read-only", "CloudTrail event",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def time_text(value: object) -> str:
    """Epoch seconds (the wire) or a datetime (boto3) as ISO 8601 UTC."""
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value, UTC)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value or "")


def event_record(event: Event) -> dict[str, Any]:
    """The full record inside a LookupEvents event ({} when it cannot be read)."""
    try:
        record = orjson.loads(event.get("CloudTrailEvent") or "{}")
    except orjson.JSONDecodeError:
        return {}
    return record if isinstance(record, dict) else {}


def _resources(event: Event, key: str) -> str:
    return ", ".join(str(r.get(key, "")) for r in event.get("Resources") or [])


def csv_row(event: Event) -> list[str]:
    """One LookupEvents event as a row of `CSV_COLUMNS`, every cell escaped."""
    record = event_record(event)
    row = [
        event.get("EventId"), time_text(event.get("EventTime")), event.get("Username"),
        event.get("EventName"), _resources(event, "ResourceType"),
        _resources(event, "ResourceName"), event.get("AccessKeyId"),
        event.get("EventSource"), record.get("awsRegion"), record.get("errorCode"),
        record.get("sourceIPAddress"), event.get("ReadOnly"), event.get("CloudTrailEvent"),
    ]
    return [escape_cell(str(cell) if cell is not None else "") for cell in row]
