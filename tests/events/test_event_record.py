"""parse_record: every rejection rule names its field; defaults and derived fields."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from opentrail.errors import InvalidRecord
from opentrail.events import MAX_RECORD_BYTES, Category, Record, parse_record

MakeRecord = Callable[..., dict[str, Any]]


def minimal_record(**overrides: Any) -> dict[str, Any]:
    """The smallest record parse_record accepts, with fields replaced or (None) removed."""
    record: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "accountId": "111122223333"},
        "eventTime": "2023-07-10T11:42:36Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "ListBuckets",
        "awsRegion": "eu-west-1",
        "eventID": "293ba626-3be5-4a26-ab1b-0f4c54f49959",
    }
    for key, value in overrides.items():
        if value is None:
            record.pop(key, None)
        else:
            record[key] = value
    return record


@pytest.fixture
def make_record() -> MakeRecord:
    return minimal_record


def parse(obj: object) -> Record:
    return parse_record(obj, default_account="999999999999", default_region="us-east-1")


def rejection(obj: object) -> InvalidRecord:
    with pytest.raises(InvalidRecord) as caught:
        parse(obj)
    error = caught.value
    # A whole sentence that names the field (or, for the whole record, says so).
    assert error.message.endswith(".")
    if error.field == "record":
        assert error.message[0].isupper()
    else:
        assert error.field in error.message
    return error


def test_minimal_record(make_record: MakeRecord) -> None:
    record = parse(make_record())
    assert record == Record(
        event_id="293ba626-3be5-4a26-ab1b-0f4c54f49959", event_time=1688989356,
        account="111122223333", region="eu-west-1", category=Category.MANAGEMENT,
        body=orjson.dumps(make_record(), option=orjson.OPT_SORT_KEYS))


@pytest.mark.parametrize("value", [[], "x", 3, None, True])
def test_not_an_object(value: object) -> None:
    error = rejection(value)
    assert (error.field, error.code) == ("record", "InvalidData")
    assert "must be a JSON object" in error.message


@pytest.mark.parametrize("field", ["eventTime", "eventName", "eventSource"])
@pytest.mark.parametrize("value", [None, ""])
def test_required_fields(make_record: MakeRecord, field: str, value: str | None) -> None:
    obj = make_record()
    if value is None:
        del obj[field]
    else:
        obj[field] = value
    error = rejection(obj)
    assert (error.field, error.code) == (field, "FieldNotFound")
    assert error.message == f"{field} is required and must be a non-empty string."


@pytest.mark.parametrize("text", [
    "2023-07-10T11:42:36", "2023-07-10T11:42:36+01:00", "2023-07-10T11:42:36-00:00",
    "2023-07-10 11:42:36Z", "2023-07-10", "2023-02-30T11:42:36Z", "2023-07-10T24:00:00Z",
    "2023-07-10T11:42:60Z", "2023-07-10T11:42:36.Z", "20230710T114236Z", "yesterday",
    "2023-07-10T11:42:3٦Z", "2023-07-10t11:42:36z",
])
def test_event_time_not_iso_utc(make_record: MakeRecord, text: str) -> None:
    error = rejection(make_record(eventTime=text))
    assert (error.field, error.code) == ("eventTime", "InvalidData")
    assert "ISO 8601 UTC" in error.message


@pytest.mark.parametrize(("text", "epoch"), [
    ("2023-07-10T11:42:36Z", 1688989356),
    ("2023-07-10T11:42:36.999999Z", 1688989356),  # floor, not round
    ("2023-07-10T11:42:36+00:00", 1688989356),
    ("2023-07-10T11:42:36.5+00:00", 1688989356),
    ("1970-01-01T00:00:00Z", 0),
    ("1969-12-31T23:59:59.9Z", -1),
    ("2024-02-29T00:00:00Z", 1709164800),
])
def test_event_time_accepted(make_record: MakeRecord, text: str, epoch: int) -> None:
    assert parse(make_record(eventTime=text)).event_time == epoch


def test_event_time_is_kept_verbatim_in_the_body(make_record: MakeRecord) -> None:
    body = parse(make_record(eventTime="2023-07-10T11:42:36.123+00:00")).body
    assert orjson.loads(body)["eventTime"] == "2023-07-10T11:42:36.123+00:00"


@pytest.mark.parametrize(("field", "value", "kind"), [
    ("userIdentity", "root", "an object"),
    ("userIdentity", None, "an object"),
    ("readOnly", "true", "a boolean"),
    ("managementEvent", 1, "a boolean"),
    ("resources", {"ARN": "x"}, "an array of objects"),
    ("requestParameters", [], "an object or null"),
    ("responseElements", "ok", "an object or null"),
    ("eventID", 42, "a string"),
    ("recipientAccountId", 111122223333, "a string"),
    ("eventVersion", 1.08, "a string"),
    ("awsRegion", ["us-east-1"], "a string"),
    ("sourceIPAddress", None, "a string"),
    ("additionalEventData", "x", "an object"),
    ("tlsDetails", [], "an object"),
    ("eventCategory", 0, "a string"),
    ("eventName", 5, "a string"),
])
def test_wrong_json_type(make_record: MakeRecord, field: str, value: Any, kind: str) -> None:
    obj = make_record()
    obj[field] = value
    error = rejection(obj)
    assert (error.field, error.code) == (field, "InvalidData")
    assert error.message.startswith(f"{field} must be {kind}, not ")


@pytest.mark.parametrize(("identity", "field"), [
    ({"type": 3}, "userIdentity.type"),
    ({"accountId": None}, "userIdentity.accountId"),
    ({"sessionContext": "x"}, "userIdentity.sessionContext"),
])
def test_wrong_identity_member_type(make_record: MakeRecord, identity: dict[str, Any],
                                    field: str) -> None:
    error = rejection(make_record(userIdentity=identity))
    assert (error.field, error.code) == (field, "InvalidData")
    assert error.message.startswith(f"{field} must be ")


@pytest.mark.parametrize(("resources", "field"), [
    ([{"ARN": "a"}, "arn:aws:s3:::b"], "resources[1]"),
    ([{"ARN": 7}], "resources[0].ARN"),
])
def test_wrong_resource_items(make_record: MakeRecord, resources: list[Any], field: str) -> None:
    error = rejection(make_record(resources=resources))
    assert (error.field, error.code) == (field, "InvalidData")
    assert error.message.startswith(f"{field} must be ")


def test_null_request_and_response_are_fine(make_record: MakeRecord) -> None:
    parse(make_record(requestParameters={"a": 1}, responseElements=None))
    obj = make_record()
    obj["requestParameters"] = None
    parse(obj)


def test_service_event_without_identity_type_or_request_id(make_record: MakeRecord) -> None:
    obj = make_record(userIdentity={"accountId": "123837392027", "invokedBy": "AWS Internal"},
                      eventType="AwsServiceEvent", sourceIPAddress="secretsmanager.amazonaws.com")
    assert parse(obj).account == "123837392027"


@pytest.mark.parametrize("version", ["1.0", "1.01", "1.05", "1.09", "1.10", "1.11", "1.12",
                                     "1.099"])
def test_versions_accepted(make_record: MakeRecord, version: str) -> None:
    parse(make_record(eventVersion=version))


def test_version_absent_is_accepted(make_record: MakeRecord) -> None:
    parse(make_record(eventVersion=None))


@pytest.mark.parametrize("version", ["2.0", "0.01", "10.1"])
def test_other_major_versions_rejected(make_record: MakeRecord, version: str) -> None:
    error = rejection(make_record(eventVersion=version))
    assert (error.field, error.code) == ("eventVersion", "InvalidData")
    assert f"has major version {int(version.split('.', maxsplit=1)[0])}" in error.message
    assert "only major version 1" in error.message


@pytest.mark.parametrize("version", ["1", "1.", "v1.08", "1.0a", "", "1.08.1", "١.08"])
def test_malformed_versions_rejected(make_record: MakeRecord, version: str) -> None:
    error = rejection(make_record(eventVersion=version))
    assert (error.field, error.code) == ("eventVersion", "InvalidData")
    assert "major.minor" in error.message


def test_too_large(make_record: MakeRecord) -> None:
    base = len(parse(make_record(requestParameters={"blob": ""})).body)
    at_limit = make_record(requestParameters={"blob": "x" * (MAX_RECORD_BYTES - base)})
    assert len(parse(at_limit).body) == MAX_RECORD_BYTES
    over = make_record(requestParameters={"blob": "x" * (MAX_RECORD_BYTES - base + 1)})
    error = rejection(over)
    assert (error.field, error.code) == ("record", "FieldTooLong")
    assert f"{MAX_RECORD_BYTES + 1} bytes" in error.message
    assert str(MAX_RECORD_BYTES) in error.message


def test_size_counts_utf8_bytes(make_record: MakeRecord) -> None:
    # 3 bytes per character in UTF-8: 100,000 characters are over 256 KB.
    error = rejection(make_record(requestParameters={"text": "€" * 100_000}))
    assert error.code == "FieldTooLong"


def test_big_integer_is_a_record_rejection(make_record: MakeRecord) -> None:
    error = rejection(make_record(requestParameters={"items": [1, 2**64]}))
    assert (error.field, error.code) == ("requestParameters.items[1]", "InvalidData")
    assert "64-bit" in error.message


def test_lone_surrogate_is_a_record_rejection(make_record: MakeRecord) -> None:
    error = rejection(make_record(userAgent="bad \ud800"))
    assert (error.field, error.code) == ("userAgent", "InvalidData")


def test_event_id_assigned_when_absent(make_record: MakeRecord) -> None:
    obj = make_record(eventID=None)
    record = parse(obj)
    assert uuid.UUID(record.event_id).version == 4
    assert orjson.loads(record.body)["eventID"] == record.event_id
    assert "eventID" not in obj  # the caller's dict is not changed
    assert parse(make_record(eventID="")).event_id != ""


def test_region_defaults_and_is_written(make_record: MakeRecord) -> None:
    record = parse(make_record(awsRegion=None))
    assert record.region == "us-east-1"
    assert orjson.loads(record.body)["awsRegion"] == "us-east-1"


def test_account_precedence(make_record: MakeRecord) -> None:
    assert parse(make_record(recipientAccountId="444455556666")).account == "444455556666"
    assert parse(make_record()).account == "111122223333"
    assert parse(make_record(userIdentity={"type": "AWSService"})).account == "999999999999"
    assert parse(make_record(userIdentity=None)).account == "999999999999"
    assert parse(make_record(recipientAccountId="")).account == "111122223333"


@pytest.mark.parametrize(("event_category", "category"), [
    (None, Category.MANAGEMENT), ("Management", Category.MANAGEMENT),
    ("Data", Category.DATA), ("NetworkActivity", Category.DATA),
    ("ConfigurationItem", Category.MANAGEMENT),
])
def test_category(make_record: MakeRecord, event_category: str | None,
                  category: Category) -> None:
    assert parse(make_record(eventCategory=event_category)).category is category


def insight(**details: Any) -> dict[str, Any]:
    return {
        "eventVersion": "1.07", "eventTime": "2019-11-14T00:51:00Z", "awsRegion": "us-east-1",
        "eventID": "a9edc959-9488-4790-be0f-05d60e56b547", "eventType": "AwsCloudTrailInsight",
        "recipientAccountId": "123456789012",
        "sharedEventID": "12edc982-3348-4794-83d3-a3db26525049",
        "insightDetails": {"state": "Start", "eventSource": "ssm.amazonaws.com",
                           "eventName": "UpdateInstanceInformation",
                           "insightType": "ApiCallRateInsight", **details},
        "eventCategory": "Insight",
    }


def test_insight_record_names_its_event_in_insight_details() -> None:
    record = parse(insight())
    assert (record.category, record.account) == (Category.INSIGHT, "123456789012")


def test_insight_record_needs_insight_details() -> None:
    obj = insight()
    del obj["insightDetails"]
    error = rejection(obj)
    assert (error.field, error.code) == ("insightDetails", "FieldNotFound")
    error = rejection(insight(eventName=""))
    assert (error.field, error.code) == ("insightDetails.eventName", "FieldNotFound")


def test_unknown_fields_kept_verbatim(make_record: MakeRecord) -> None:
    obj = make_record(futureField={"nested": [1, 2.5, None, "ü"]}, zzz=True)
    assert orjson.loads(parse(obj).body) == obj


def test_body_is_canonical(make_record: MakeRecord) -> None:
    body = parse(make_record(userAgent="café", b={"z": 1, "a": 2})).body
    assert b'"userAgent":"caf\xc3\xa9"' in body  # UTF-8, not \u escapes
    assert b" " not in body and b"\n" not in body
    assert b'"b":{"a":2,"z":1}' in body
