"""A request body split into records: `{"Records":[...]}`, a JSON array, or NDJSON.

Each form may be gzip-compressed (recognised by its magic bytes, not a header, so S3
log files work as they are). The body is parsed once; records stay parsed values for
`parse_record`. Only an NDJSON line can fail on its own; any other unreadable body is
a request-level ValidationError.
"""

from __future__ import annotations

import re

from opentrail.errors import InvalidRecord, ValidationError
from opentrail.events._gzip import GZIP_MAGIC, gunzip, too_large
from opentrail.events._json import loads

__all__ = ["MAX_BATCH_BYTES", "split_batch"]

MAX_BATCH_BYTES = 64 * 1024 * 1024
_BOM = b"\xef\xbb\xbf"
_LEADING_SPACE = re.compile(rb"[ \t\r\n]*")
_FORMS = 'send {"Records":[...]}, a JSON array of records, or NDJSON (one record per line)'


def split_batch(data: bytes, *, max_bytes: int = MAX_BATCH_BYTES) -> list[object | InvalidRecord]:
    """One entry per input record: its parsed JSON value, or an InvalidRecord for a bad line."""
    if data.startswith(GZIP_MAGIC):
        data = gunzip(data, max_bytes)
    elif len(data) > max_bytes:
        raise too_large(max_bytes)
    if data.startswith(_BOM):  # some Windows tools write one; JSON forbids it, we forgive it
        data = data[len(_BOM):]
    start = _LEADING_SPACE.match(data)
    first = data[start.end():start.end() + 1] if start else b""
    if first == b"[":
        return _array(data)
    if first == b"{":
        return _object_or_lines(data)
    if not first:
        raise ValidationError(f"The request body is empty; {_FORMS}.")
    raise ValidationError(f"The request body is not JSON (it starts with {first!r}); {_FORMS}.")


def _array(data: bytes) -> list[object | InvalidRecord]:
    try:
        records = loads(data)
    except ValueError as exc:
        raise ValidationError(f"The body is a JSON array that is not valid JSON: {exc}.") from None
    if not isinstance(records, list):  # cannot happen for text starting with "["
        raise ValidationError(f"The request body is not a JSON array; {_FORMS}.")
    return records


def _object_or_lines(data: bytes) -> list[object | InvalidRecord]:
    try:
        value = loads(data)
    except ValueError as exc:
        return _lines(data, exc)
    if isinstance(value, dict) and "Records" in value:
        records = value["Records"]
        if not isinstance(records, list):
            raise ValidationError("Records must be a JSON array of event records.")
        return records
    return [value]  # a one-line NDJSON body: a single record


def _lines(data: bytes, whole_error: ValueError) -> list[object | InvalidRecord]:
    """NDJSON: a line that is not JSON is rejected alone; blank lines are skipped."""
    entries: list[object | InvalidRecord] = []
    for number, line in enumerate(data.splitlines(), 1):
        if not line or line.isspace():
            continue
        try:
            entries.append(loads(line))
        except ValueError as exc:
            message = f"Line {number} of the NDJSON body is not valid JSON: {exc}."
            entries.append(InvalidRecord("record", message, code="InvalidData"))
    # Without one JSON object on a line of its own this was never NDJSON, but a single
    # broken (maybe pretty-printed) document: one clear error beats one per line.
    if not any(isinstance(entry, dict) for entry in entries):
        raise ValidationError(f"The request body is not valid JSON: {whole_error}; {_FORMS}.")
    return entries
