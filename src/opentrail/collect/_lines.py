"""Turning the lines read from a file into CloudTrail records, per format.

The converters do the mapping (`opentrail.sources.convert`); this module only decides
what a chunk of lines is: auditd lines go whole to the auditd converter, JSON lines to
the format's converter, and "cloudtrail" lines are records already.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator

import orjson

from opentrail.sources import ConversionError, Converted, Options, convert

__all__ = ["auditd_cut", "records_of"]

_AUDIT_KEY = re.compile(rb"msg=audit\(([0-9.:]+)\)")
_OPEN_WINDOW = 8  # newest unterminated events kept back; bounded like the converter's
_NAMESPACE = uuid.UUID("0d6f3c1e-8f7a-5b42-9c1d-4e2a7b9f0c35")


def auditd_cut(data: bytes) -> int:
    """How much of `data` to convert now.

    The kernel's records of one event can interleave with its neighbours' (several
    CPUs), and only some streams end events with EOE. So the lines from the first line
    of the newest `_OPEN_WINDOW` events not closed by an EOE are kept for the next
    read, when more of their records may have arrived; the file going quiet for a poll
    releases them (see FileFollower)."""
    first: dict[bytes, int] = {}  # event key -> offset of its first line, in order
    closed: set[bytes] = set()
    offset = 0
    for line in data.splitlines(keepends=True):
        found = _AUDIT_KEY.search(line)
        if found is not None:
            first.setdefault(found[1], offset)
            if b"type=EOE " in line:
                closed.add(found[1])
        offset += len(line)
    recent = [key for key in first if key not in closed][-_OPEN_WINDOW:]
    return min((first[key] for key in recent), default=len(data))


def records_of(fmt: str, data: bytes, options: Options) -> Iterator[Converted | ConversionError]:
    """Every record of a chunk of whole lines in format `fmt`."""
    if fmt != "cloudtrail":
        yield from convert(fmt, data, options)
        return
    for index, line in enumerate(data.splitlines()):
        if line.strip():
            yield _cloudtrail(index, line, options)


def _cloudtrail(index: int, line: bytes, options: Options) -> Converted | ConversionError:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return ConversionError(index, f"The line is not valid JSON ({exc}).")
    if not isinstance(record, dict):
        return ConversionError(index, "The line is not a JSON object.")
    if not record.get("eventID"):  # stable, so that a line sent again is stored once
        digest = hashlib.sha256(line.strip()).hexdigest()
        record["eventID"] = str(uuid.uuid5(_NAMESPACE, digest))
    record.setdefault("awsRegion", options.region)
    if options.account:
        record.setdefault("recipientAccountId", options.account)
    return Converted(index, record)
