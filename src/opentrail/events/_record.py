"""The stored form of one CloudTrail event, and how a parsed JSON value becomes one.

Which object names the event: most records carry `eventName`/`eventSource` at the top
level. Two kinds nest them, and are recognised by `eventCategory`:

* `Insight` records (spec 1.3) keep them in `insightDetails`;
* `ActivityAuditLog` records (PutAuditEvents, spec 4.4) keep them in `eventData`. Their
  top-level `eventTime`, `eventID`, `awsRegion` and `recipientAccountId` are written by
  `wrap_audit_event`. They are MANAGEMENT records, so LookupEvents can find them.

`eventTime` is always required at the top level. `eventVersion` is optional (records
made by converters may lack it) but, when present, must be `1.x`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from opentrail.errors import InvalidRecord
from opentrail.events._canonical import canonical_bytes
from opentrail.events._category import Category, category_of
from opentrail.events._internal import is_internal
from opentrail.events._schema import check_types, json_kind
from opentrail.events._timestamp import epoch_seconds
from opentrail.events._version import check_version

__all__ = ["MAX_RECORD_BYTES", "Record", "parse_record"]

MAX_RECORD_BYTES = 256 * 1024  # CloudTrail's event size limit since eventVersion 1.05
_NESTED_SUBJECT = {"Insight": "insightDetails", "ActivityAuditLog": "eventData"}


@dataclass(frozen=True, slots=True)
class Record:
    """One validated event, ready for the ledger."""

    event_id: str  # eventID (assigned UUID4 when the input had none)
    event_time: int  # eventTime as whole epoch seconds, UTC
    account: str  # recipientAccountId, else userIdentity.accountId, else default_account
    region: str  # awsRegion, else default_region (then also written into the body)
    category: Category
    body: bytes  # canonical bytes: what is stored and hashed


def parse_record(obj: object, *, default_account: str, default_region: str) -> Record:
    """Validate one parsed CloudTrail event; InvalidRecord names the first bad field."""
    if not isinstance(obj, dict):
        raise InvalidRecord("record", f"The record must be a JSON object, not {json_kind(obj)}.",
                            code="InvalidData")
    check_types(obj)
    version = obj.get("eventVersion")
    if version is not None:
        check_version(version)
    subject, prefix = _subject(obj)
    required_text(subject, "eventName", prefix)
    required_text(subject, "eventSource", prefix)
    event_time = _event_time(obj)
    obj, event_id, region = _with_defaults(obj, default_region)
    body = canonical_bytes(obj)
    if len(body) > MAX_RECORD_BYTES:
        raise InvalidRecord(
            "record", f"The record is {len(body)} bytes as canonical JSON, over the limit "
            f"of {MAX_RECORD_BYTES} bytes (256 KB).", code="FieldTooLong")
    category = (Category.INTERNAL if is_internal(obj)
                else category_of(obj.get("eventCategory")))
    return Record(event_id, event_time, _account(obj, default_account), region, category,
                  body)


def required_text(holder: dict[str, Any], name: str, prefix: str = "") -> str:
    """`holder[name]` as a non-empty string: FieldNotFound if absent, InvalidData if not text."""
    value = holder.get(name)
    if isinstance(value, str) and value:
        return value
    field = prefix + name
    if value is None or value == "":
        raise InvalidRecord(field, f"{field} is required and must be a non-empty string.",
                            code="FieldNotFound")
    raise InvalidRecord(field, f"{field} must be a string, not {json_kind(value)}.",
                        code="InvalidData")


def _subject(obj: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The object holding eventName/eventSource, and its path prefix for messages."""
    category = obj.get("eventCategory")
    nested = _NESTED_SUBJECT.get(category) if category else None
    if nested is None:
        return obj, ""
    subject = obj.get(nested)
    if subject is None:  # its type (object) was checked with the other known fields
        raise InvalidRecord(nested, f"{nested} is required in a record whose eventCategory "
                            f"is {category}.", code="FieldNotFound")
    return subject, nested + "."


def _event_time(obj: dict[str, Any]) -> int:
    text = required_text(obj, "eventTime")
    epoch = epoch_seconds(text)
    if epoch is None:
        raise InvalidRecord(
            "eventTime", "eventTime must be an ISO 8601 UTC time such as 2023-07-10T11:42:36Z "
            f"(fractional seconds and +00:00 are accepted); got {text[:40]!r}.",
            code="InvalidData")
    return epoch


def _with_defaults(obj: dict[str, Any], default_region: str) -> tuple[dict[str, Any], str, str]:
    """Fill a missing or empty eventID and awsRegion into the body.

    The caller's dict is never changed: it is copied (shallowly) only when a field is
    added, which real CloudTrail records never need.
    """
    event_id, region = obj.get("eventID"), obj.get("awsRegion")
    if event_id and region:
        return obj, event_id, region
    obj = dict(obj)
    if not event_id:
        obj["eventID"] = event_id = str(uuid.uuid4())
    if not region:
        obj["awsRegion"] = region = default_region
    return obj, event_id, region


def _account(obj: dict[str, Any], default_account: str) -> str:
    account = obj.get("recipientAccountId")
    if not account:
        identity = obj.get("userIdentity")
        account = identity.get("accountId") if identity else None
    return account or default_account
