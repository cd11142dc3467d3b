"""PutAuditEvents: a caller's `eventData` checked and wrapped as an ActivityAuditLog record.

The wrapper follows the Lake integration event schema (spec 4.4). Decisions:

* `eventVersion` is "1.11", the current CloudTrail version: the record is ours, and
  `parse_record` accepts major version 1 only.
* `eventTime` comes from `eventData.eventTime`, normalised to `YYYY-MM-DDTHH:MM:SSZ`.
  The schema declares that time UTC, so a naive `yyyy-MM-DDTHH:mm:ss` is read as UTC
  here (unlike a CloudTrail record's own `eventTime`, which must say so).
* "kB" limits are KiB (100 kB = 102,400 bytes of compact JSON), as AWS counts them;
  string limits count characters. Oversize values are rejected, never truncated.
* An optional member given as null counts as absent.
* The whole record's size is left to `parse_record` (256 KB, FieldTooLong), which every
  wrapped record goes through next; it finds eventName/eventSource inside `eventData`.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import math
import uuid
from typing import Any

import orjson

from opentrail.errors import InvalidRecord
from opentrail.events._canonical import canonical_bytes
from opentrail.events._json import loads
from opentrail.events._record import required_text
from opentrail.events._schema import json_kind
from opentrail.events._timestamp import epoch_seconds, format_utc

__all__ = ["ACTIVITY_EVENT_VERSION", "wrap_audit_event"]

ACTIVITY_EVENT_VERSION = "1.11"
_KIB = 1024
_Limits = tuple[tuple[str, int | None], ...]  # (member, max characters or bytes)
_REQUIRED_TEXT: _Limits = (("version", None), ("eventSource", 1024), ("eventName", 1024),
                           ("UID", 1024), ("recipientAccountId", None))
_IDENTITY_TEXT: _Limits = (("type", 128), ("principalId", 1024))
_OPTIONAL_TEXT: _Limits = (("userAgent", 1024), ("errorCode", 256), ("errorMessage", 256))
_OPTIONAL_OBJECT = (("requestParameters", 100 * _KIB), ("responseElements", 100 * _KIB),
                    ("additionalEventData", 28 * _KIB))
_PREFIX = "eventData."


def wrap_audit_event(event_data: str, *, checksum: str | None, channel_arn: str,
                     account: str, region: str, now: float) -> dict[str, Any]:
    """The ActivityAuditLog record for one audit event; InvalidRecord if it breaks the schema.

    `account` is the channel owner's account; `now` (epoch seconds) is the ingestion time.
    """
    raw = _encoded(event_data)
    if checksum is not None:
        _verify_checksum(raw, checksum)
    data = _parsed(raw)
    event_time = _check_event_data(data, account)
    return {
        "eventVersion": ACTIVITY_EVENT_VERSION,
        "eventCategory": "ActivityAuditLog",
        "eventType": "ActivityLog",
        "eventID": str(uuid.uuid4()),
        "eventTime": format_utc(event_time),
        "awsRegion": region,
        "recipientAccountId": account,
        "metadata": {"ingestionTime": format_utc(math.floor(now)), "channelARN": channel_arn},
        "eventData": data,
    }


def _encoded(event_data: str) -> bytes:
    if not event_data:
        raise InvalidRecord("eventData", "eventData is required and must be a JSON object "
                            "encoded as a string.", code="FieldNotFound")
    try:
        return event_data.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRecord("eventData", "eventData is not valid Unicode text.",
                            code="InvalidData") from None


def _verify_checksum(raw: bytes, checksum: str) -> None:
    # The API reference form: base64(SHA-256(eventData)) over the raw string (spec 7.10).
    expected = base64.b64encode(hashlib.sha256(raw).digest()).decode("ascii")
    if checksum != expected:
        raise InvalidRecord("eventDataChecksum", "eventDataChecksum does not match eventData; "
                            "it must be base64(SHA-256(eventData as UTF-8)).",
                            code="InvalidChecksum")


def _parsed(raw: bytes) -> dict[str, Any]:
    try:
        data = loads(raw)
    except ValueError as exc:
        raise InvalidRecord("eventData", f"eventData is not valid JSON: {exc}.",
                            code="InvalidData") from None
    if not isinstance(data, dict):
        raise InvalidRecord("eventData", f"eventData must be a JSON object, not "
                            f"{json_kind(data)}.", code="InvalidData")
    canonical_bytes({"eventData": data})  # big numbers etc. fail here, named by path
    return data


def _check_event_data(data: dict[str, Any], account: str) -> int:
    """Check eventData against the integration schema; return its eventTime (epoch s)."""
    identity = _object(data, "userIdentity", None, required=True)
    for name, limit in _IDENTITY_TEXT:
        _text(identity, name, limit, _PREFIX + "userIdentity.", required=True)
    _object(identity, "details", None, prefix=_PREFIX + "userIdentity.")
    for name, limit in _REQUIRED_TEXT:
        _text(data, name, limit, _PREFIX, required=True)
    for name, limit in _OPTIONAL_TEXT:
        _text(data, name, limit, _PREFIX)
    for name, limit in _OPTIONAL_OBJECT:
        _object(data, name, limit)
    _check_address(data.get("sourceIPAddress"))
    _check_recipient(data["recipientAccountId"], account)
    return _event_time(required_text(data, "eventTime", _PREFIX))


def _text(holder: dict[str, Any], name: str, limit: int | None, prefix: str,
          *, required: bool = False) -> None:
    value: object = required_text(holder, name, prefix) if required else holder.get(name)
    if value is None:
        return
    if not isinstance(value, str):
        raise InvalidRecord(prefix + name, f"{prefix}{name} must be a string, not "
                            f"{json_kind(value)}.", code="InvalidData")
    if limit is not None and len(value) > limit:
        raise InvalidRecord(prefix + name, f"{prefix}{name} is {len(value)} characters long, "
                            f"over the limit of {limit}.", code="FieldTooLong")


def _object(holder: dict[str, Any], name: str, limit: int | None, *, prefix: str = _PREFIX,
            required: bool = False) -> dict[str, Any]:
    field, value = prefix + name, holder.get(name)
    if value is None:
        if required:
            raise InvalidRecord(field, f"{field} is required and must be a JSON object.",
                                code="FieldNotFound")
        return {}
    if not isinstance(value, dict):
        raise InvalidRecord(field, f"{field} must be a JSON object, not {json_kind(value)}.",
                            code="InvalidData")
    if limit is not None and (size := len(orjson.dumps(value))) > limit:
        raise InvalidRecord(field, f"{field} is {size} bytes as JSON, over the limit of "
                            f"{limit} bytes ({limit // _KIB} KB).", code="FieldTooLong")
    return value


def _check_address(value: object) -> None:
    if value is None:
        return
    if isinstance(value, str):
        try:
            ipaddress.ip_address(value)
            return
        except ValueError:
            pass
    field = _PREFIX + "sourceIPAddress"
    raise InvalidRecord(field, f"{field} must be an IPv4 or IPv6 address; got "
                        f"{str(value)[:64]!r}.", code="InvalidData")


def _check_recipient(recipient: str, account: str) -> None:
    if recipient != account:
        field = _PREFIX + "recipientAccountId"
        raise InvalidRecord(field, f"{field} {recipient[:64]!r} is not the channel owner's "
                            f"account {account}.", code="InvalidRecipient")


def _event_time(text: str) -> int:
    # The schema's format has no zone designator but declares UTC: read a naive time as UTC.
    epoch = epoch_seconds(text)
    if epoch is None:
        epoch = epoch_seconds(text + "Z")
    if epoch is None:
        field = _PREFIX + "eventTime"
        raise InvalidRecord(field, f"{field} must be a UTC time such as 2023-07-10T11:42:36Z; "
                            f"got {text[:40]!r}.", code="InvalidData")
    return epoch
