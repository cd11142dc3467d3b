"""Building blocks of the CloudTrail record a converter makes from another system's event.

Every converter fills the same skeleton (`skeleton`): eventVersion 1.11, a stable
eventID, the region and account the import was given, and the source's own record kept
whole under `additionalEventData.original` so nothing is lost in the mapping.
See docs/sources.md for the field-by-field mapping of each format.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

__all__ = [
    "DEFAULT_REGION", "EVENT_VERSION", "ConversionError", "Converted", "Options", "Unmappable",
    "content_id", "event_id", "field", "skeleton", "text", "utc_time",
]

EVENT_VERSION = "1.11"
DEFAULT_REGION = "on-premises"  # for sources that have no region of their own
# eventIDs are uuid5(namespace, "<format>:<source id>"): the same source event always
# gets the same eventID, so the server stores a re-import as duplicates.
_NAMESPACE = uuid.UUID("6f1c1a52-3d0e-5b8a-9d64-0f9e8a7b2c11")
_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?\s*(Z|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Options:
    """What an import adds to every converted record."""

    region: str = DEFAULT_REGION  # awsRegion when the source has no location of its own
    account: str | None = None  # recipientAccountId; None lets the server use the key's


@dataclass(frozen=True, slots=True)
class Converted:
    """One CloudTrail record made from the source entry at `index`."""

    index: int  # entry number in the input (auditd: line number of the event's first record)
    record: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ConversionError:
    """A source entry that could not be mapped, and why: reported, never dropped silently."""

    index: int
    reason: str


class Unmappable(Exception):
    """Raised by a converter for an entry it cannot map; the message is the reason."""


def event_id(source: str, source_id: str) -> str:
    """The stable eventID of the source event `source_id` of format `source`."""
    return str(uuid.uuid5(_NAMESPACE, f"{source}:{source_id}"))


def content_id(entry: object) -> str:
    """An id for a source event that has none of its own: the hash of its sorted JSON,
    so the same entry imported twice still gets the same eventID."""
    return hashlib.sha256(orjson.dumps(entry, option=orjson.OPT_SORT_KEYS)).hexdigest()


def text(value: object) -> str | None:
    """A non-empty string, or the `value` of Azure's `{"value": ..., "localizedValue": ...}`."""
    if isinstance(value, dict):
        value = value.get("value")
    return value if isinstance(value, str) and value else None


def utc_time(value: object, what: str) -> str:
    """`value` (ISO 8601 in any offset or precision, or epoch seconds) as CloudTrail's
    second-precision UTC form. A time without an offset is taken as UTC."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _format(datetime.fromtimestamp(value, UTC))
    match = _TIME.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise Unmappable(f"{what} is not a time: {str(value)[:40]!r}.")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as exc:
        raise Unmappable(f"{what} is not a real time: {value!r} ({exc}).") from exc
    return _format(moment - _offset(match[8]))


def _offset(text: str | None) -> timedelta:
    if not text or text.upper() == "Z":
        return timedelta(0)
    digits = text[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return delta if text[0] == "+" else -delta


def _format(moment: datetime) -> str:
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
            f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z")


def field(entry: Mapping[str, Any], name: str) -> Any:
    """`entry[name]`, else `entry[name.lower()]`: exports that lower-case every key
    (`insertid`, `calleripaddress`) are common. Two lookups, no scan: this is per field."""
    value = entry.get(name)
    return entry.get(name.lower()) if value is None else value


def skeleton(source: str, source_id: str, when: str, options: Options,
             original: object) -> dict[str, Any]:
    """The fields every converted record shares; the converter adds the rest."""
    record: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "eventTime": when,
        "eventID": event_id(source, source_id),
        "awsRegion": options.region,
        "additionalEventData": {"sourceFormat": source, "original": original},
    }
    if options.account:
        record["recipientAccountId"] = options.account
    return record
