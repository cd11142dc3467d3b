"""Downloads: the events of a filter as CSV or JSON, written page by page.

The CSV has the columns of `opentrail download` (and of the CloudTrail console's
download). The CLI's module pulls in click, rich and boto3, and the console must not
import upward into cli/, so the row logic is kept here too; a test pins both to the
same output.

CSV injection: a cell starting with = + - @, a tab or a carriage return gets a leading
single quote so a spreadsheet shows it as text instead of running it as a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = ["CSV_COLUMNS", "csv_chunks", "csv_row", "escape_cell", "json_chunks"]

Event = Mapping[str, Any]

CSV_COLUMNS = (
    "Event ID", "Event time", "User name", "Event name", "Resource type", "Resource name",
    "AWS access key", "Event source", "AWS region", "Error code", "Source IP address",
    "Read-only", "CloudTrail event",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _time_text(value: object) -> str:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value or "")


def _record(event: Event) -> dict[str, Any]:
    try:
        record = orjson.loads(event.get("CloudTrailEvent") or "{}")
    except orjson.JSONDecodeError:
        return {}
    return record if isinstance(record, dict) else {}


def _resources(event: Event, key: str) -> str:
    return ", ".join(str(r.get(key, "")) for r in event.get("Resources") or [])


def csv_row(event: Event) -> list[str]:
    """One LookupEvents event as a row of `CSV_COLUMNS`, every cell escaped."""
    record = _record(event)
    row = [
        event.get("EventId"), _time_text(event.get("EventTime")), event.get("Username"),
        event.get("EventName"), _resources(event, "ResourceType"),
        _resources(event, "ResourceName"), event.get("AccessKeyId"),
        event.get("EventSource"), record.get("awsRegion"), record.get("errorCode"),
        record.get("sourceIPAddress"), event.get("ReadOnly"), event.get("CloudTrailEvent"),
    ]
    return [escape_cell(str(cell) if cell is not None else "") for cell in row]


def csv_chunks(pages: Iterable[list[dict[str, Any]]]) -> Iterator[str]:
    """The CSV text, one chunk per page of events (header first)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for page in pages:
        writer.writerows(csv_row(event) for event in page)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def json_chunks(pages: Iterable[list[dict[str, Any]]]) -> Iterator[str]:
    """`{"Records": [...]}` with the full records, as in a trail's log file."""
    yield '{"Records":['
    first = True
    for page in pages:
        parts = []
        for event in page:
            parts.append(("\n" if first else ",\n") + str(event.get("CloudTrailEvent") or "{}"))
            first = False
        yield "".join(parts)
    yield "\n]}\n"
