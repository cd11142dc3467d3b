"""wrap_audit_event: the Lake integration schema (spec 4.4) and the wrapped record."""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any

import orjson
import pytest

from opentrail.errors import InvalidRecord
from opentrail.events import ACTIVITY_EVENT_VERSION, Category, parse_record, wrap_audit_event

OWNER = "123456789012"
CHANNEL = f"arn:aws:cloudtrail:us-east-1:{OWNER}:channel/01234567-89ab-cdef-0123-456789abcdef"
NOW = 1700000000.75


def event_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": "1.0",
        "userIdentity": {"type": "CustomUser", "principalId": "alice",
                         "details": {"team": "payments"}},
        "userAgent": "shop/2.1",
        "eventSource": "shop.example.com",
        "eventName": "RefundOrder",
        "eventTime": "2023-07-10T11:42:36Z",
        "UID": "order-7731-refund",
        "requestParameters": {"orderId": 7731},
        "responseElements": None,
        "sourceIPAddress": "203.0.113.9",
        "recipientAccountId": OWNER,
        "custom": [1, "kept verbatim"],
    }
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def checksum(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def wrap(text: str, *, check: str | None = None) -> dict[str, Any]:
    return wrap_audit_event(text, checksum=check, channel_arn=CHANNEL, account=OWNER,
                            region="eu-central-1", now=NOW)


def rejection(text: str, *, check: str | None = None) -> InvalidRecord:
    with pytest.raises(InvalidRecord) as caught:
        wrap(text, check=check)
    assert caught.value.field in caught.value.message
    assert caught.value.message.endswith(".")
    return caught.value


def dumps(data: object) -> str:
    return orjson.dumps(data).decode()


def test_wrapped_record() -> None:
    text = dumps(event_data())
    record = wrap(text, check=checksum(text))
    assert uuid.UUID(record.pop("eventID")).version == 4
    assert record == {
        "eventVersion": ACTIVITY_EVENT_VERSION,
        "eventCategory": "ActivityAuditLog",
        "eventType": "ActivityLog",
        "eventTime": "2023-07-10T11:42:36Z",
        "awsRegion": "eu-central-1",
        "recipientAccountId": OWNER,
        "metadata": {"ingestionTime": "2023-11-14T22:13:20Z", "channelARN": CHANNEL},
        "eventData": event_data(),
    }


def test_wrapped_record_passes_parse_record() -> None:
    record = wrap(dumps(event_data()))
    parsed = parse_record(record, default_account="999999999999", default_region="us-east-1")
    assert parsed.category is Category.MANAGEMENT  # visible in LookupEvents
    assert (parsed.account, parsed.region) == (OWNER, "eu-central-1")
    assert parsed.event_id == record["eventID"]
    assert parsed.event_time == 1688989356
    assert orjson.loads(parsed.body) == record


def test_parse_record_reads_name_and_source_from_event_data() -> None:
    record = wrap(dumps(event_data()))
    del record["eventData"]["eventName"]
    with pytest.raises(InvalidRecord) as caught:
        parse_record(record, default_account="1", default_region="r")
    assert (caught.value.field, caught.value.code) == ("eventData.eventName", "FieldNotFound")
    del record["eventData"]
    with pytest.raises(InvalidRecord) as caught:
        parse_record(record, default_account="1", default_region="r")
    assert (caught.value.field, caught.value.code) == ("eventData", "FieldNotFound")


@pytest.mark.parametrize(("text", "expected"), [
    ("2023-07-10T11:42:36", "2023-07-10T11:42:36Z"),  # the schema's own, zone-less form
    ("2023-07-10T11:42:36.987Z", "2023-07-10T11:42:36Z"),
    ("2023-07-10T11:42:36+00:00", "2023-07-10T11:42:36Z"),
])
def test_event_time_normalised(text: str, expected: str) -> None:
    assert wrap(dumps(event_data(eventTime=text)))["eventTime"] == expected


@pytest.mark.parametrize("text", ["2023-07-10T11:42:36+02:00", "10/07/2023", "2023-13-01T00:00:00"])
def test_event_time_invalid(text: str) -> None:
    error = rejection(dumps(event_data(eventTime=text)))
    assert (error.field, error.code) == ("eventData.eventTime", "InvalidData")


def test_checksum() -> None:
    text = dumps(event_data(userAgent="naïve/1.0"))  # hashed as UTF-8
    wrap(text, check=checksum(text))
    error = rejection(text, check=checksum(text + " "))
    assert (error.field, error.code) == ("eventDataChecksum", "InvalidChecksum")
    assert rejection(text, check="").code == "InvalidChecksum"


def test_event_data_missing_or_not_an_object() -> None:
    error = rejection("")
    assert (error.field, error.code) == ("eventData", "FieldNotFound")
    for text in ("[1]", '"x"', "{not json", "null"):
        error = rejection(text)
        assert (error.field, error.code) == ("eventData", "InvalidData")


@pytest.mark.parametrize("field", ["version", "eventSource", "eventName", "eventTime", "UID",
                                   "recipientAccountId", "userIdentity"])
def test_required_fields(field: str) -> None:
    error = rejection(dumps(event_data(**{field: None})))
    assert (error.field, error.code) == (f"eventData.{field}", "FieldNotFound")


@pytest.mark.parametrize("field", ["type", "principalId"])
def test_required_identity_fields(field: str) -> None:
    identity = event_data()["userIdentity"]
    del identity[field]
    error = rejection(dumps(event_data(userIdentity=identity)))
    assert (error.field, error.code) == (f"eventData.userIdentity.{field}", "FieldNotFound")


@pytest.mark.parametrize(("path", "limit"), [
    ("userIdentity.type", 128), ("userIdentity.principalId", 1024), ("userAgent", 1024),
    ("eventSource", 1024), ("eventName", 1024), ("UID", 1024), ("errorCode", 256),
    ("errorMessage", 256),
])
def test_string_limits(path: str, limit: int) -> None:
    for length, ok in ((limit, True), (limit + 1, False)):
        data = event_data()
        *parents, name = path.split(".")
        holder = data
        for parent in parents:
            holder = holder[parent]
        holder[name] = "é" * length  # characters, not bytes
        if ok:
            wrap(dumps(data))
            continue
        error = rejection(dumps(data))
        assert (error.field, error.code) == (f"eventData.{path}", "FieldTooLong")
        assert str(limit) in error.message


@pytest.mark.parametrize(("field", "limit"), [
    ("requestParameters", 100 * 1024), ("responseElements", 100 * 1024),
    ("additionalEventData", 28 * 1024),
])
def test_object_limits(field: str, limit: int) -> None:
    padding = limit - len(b'{"k":""}')
    wrap(dumps(event_data(**{field: {"k": "x" * padding}})))
    error = rejection(dumps(event_data(**{field: {"k": "x" * (padding + 1)}})))
    assert (error.field, error.code) == (f"eventData.{field}", "FieldTooLong")


@pytest.mark.parametrize(("field", "value"), [
    ("requestParameters", [1]), ("additionalEventData", "x"), ("userAgent", 5),
    ("UID", 12), ("version", 1.0), ("userIdentity", "alice"),
])
def test_wrong_types(field: str, value: Any) -> None:
    error = rejection(dumps(event_data(**{field: value})))
    assert (error.field, error.code) == (f"eventData.{field}", "InvalidData")


def test_identity_details_must_be_an_object() -> None:
    identity = {"type": "CustomUser", "principalId": "alice", "details": "x"}
    error = rejection(dumps(event_data(userIdentity=identity)))
    assert (error.field, error.code) == ("eventData.userIdentity.details", "InvalidData")


@pytest.mark.parametrize("address", ["10.0.0.1", "2001:db8::1", "::ffff:192.0.2.1",
                                     "fe80::1%eth0"])
def test_source_ip_accepted(address: str) -> None:
    wrap(dumps(event_data(sourceIPAddress=address)))


@pytest.mark.parametrize("address", ["AWS Internal", "256.1.1.1", "10.0.0", "", 167772161])
def test_source_ip_rejected(address: object) -> None:
    error = rejection(dumps(event_data(sourceIPAddress=address)))
    assert (error.field, error.code) == ("eventData.sourceIPAddress", "InvalidData")


def test_recipient_must_be_the_channel_owner() -> None:
    error = rejection(dumps(event_data(recipientAccountId="210987654321")))
    assert (error.field, error.code) == ("eventData.recipientAccountId", "InvalidRecipient")
    assert OWNER in error.message


def test_big_number_in_event_data() -> None:
    text = '{"version":"1.0","n":123456789012345678901234567890}'
    error = rejection(text)
    assert (error.field, error.code) == ("eventData.n", "InvalidData")


def test_oversize_record_is_left_to_parse_record() -> None:
    blob = {f"k{i}": "x" * 25_000 for i in range(4)}  # each field is within its limit
    identity = {"type": "CustomUser", "principalId": "alice", "details": blob}  # no own limit
    record = wrap(dumps(event_data(requestParameters=blob, responseElements=blob,
                                   userIdentity=identity)))
    with pytest.raises(InvalidRecord) as caught:
        parse_record(record, default_account="1", default_region="r")
    assert caught.value.code == "FieldTooLong"
