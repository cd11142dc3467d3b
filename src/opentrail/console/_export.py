"""Downloads: the events of a filter as CSV or JSON, written page by page.

Rows come from `opentrail.history.csv_row`, the same as `opentrail download`'s.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from opentrail.history import CSV_COLUMNS, csv_row, escape_cell

__all__ = ["CSV_COLUMNS", "csv_chunks", "csv_row", "escape_cell", "json_chunks"]

Event = Mapping[str, Any]


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
