"""lookup-events / download without a server: attributes, times, CSV rows and escaping."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from opentrail.cli.lookup import (
    CSV_COLUMNS,
    csv_row,
    escape_cell,
    lookup_events,
    parse_lookup_attributes,
    parse_time,
)


def attr(key: str, value: str) -> dict[str, str]:
    return {"AttributeKey": key, "AttributeValue": value}


# --- lookup attributes ---

@pytest.mark.parametrize("text", [
    "AttributeKey=EventName,AttributeValue=ConsoleLogin",
    "AttributeValue=ConsoleLogin,AttributeKey=EventName",
    "EventName=ConsoleLogin",
    ' AttributeKey=EventName,AttributeValue="ConsoleLogin" ',
    '[{"AttributeKey": "EventName", "AttributeValue": "ConsoleLogin"}]',
    '{"AttributeKey": "EventName", "AttributeValue": "ConsoleLogin"}',
])
def test_every_accepted_form_gives_the_same_attribute(text: str) -> None:
    assert parse_lookup_attributes([text]) == [attr("EventName", "ConsoleLogin")]


def test_values_may_hold_commas_and_equals_signs() -> None:
    assert parse_lookup_attributes(["AttributeKey=ResourceName,AttributeValue=a=b,c"]) == [
        attr("ResourceName", "a=b,c")]
    assert parse_lookup_attributes(["UserIdentityArn=arn:aws:iam::1:user/a,b"]) == [
        attr("UserIdentityArn", "arn:aws:iam::1:user/a,b")]


def test_several_attributes_keep_their_order_and_extra_keys_pass_through() -> None:
    values = ["EventName=DeleteBucket",
              '[{"AttributeKey": "ErrorCode", "AttributeValue": "AccessDenied"},'
              ' {"AttributeKey": "SourceIPAddress", "AttributeValue": "203.0.113.7"}]']
    assert parse_lookup_attributes(values) == [
        attr("EventName", "DeleteBucket"), attr("ErrorCode", "AccessDenied"),
        attr("SourceIPAddress", "203.0.113.7")]


def test_json_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "attrs.json"
    path.write_text(json.dumps([attr("Username", "alice")]))
    assert parse_lookup_attributes([f"file://{path}"]) == [attr("Username", "alice")]


@pytest.mark.parametrize(("text", "message"), [
    ("EventName", "cannot read"),
    ("AttributeKey=EventName", "cannot read"),
    ("AttributeKey=EventName,AttributeValue=", "non-empty value"),
    ("EventName=", "non-empty value"),
    ('[{"AttributeKey": "EventName"}]', "exactly AttributeKey and AttributeValue"),
    ('[{"AttributeKey": "EventName", "AttributeValue": 3}]', "non-empty value"),
    ("[nope", "not valid JSON"),
])
def test_malformed_attributes_are_refused_with_the_accepted_forms(text: str,
                                                                    message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_lookup_attributes([text])


def test_a_bad_attribute_is_a_usage_error_not_a_traceback() -> None:
    result = CliRunner().invoke(lookup_events, ["--lookup-attributes", "nonsense"])
    assert result.exit_code == 2
    assert "cannot read 'nonsense'" in result.output
    assert "Traceback" not in result.output


# --- times ---

@pytest.mark.parametrize(("text", "expected"), [
    ("2024-05-01T12:30:00Z", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
    ("2024-05-01T14:30:00+02:00", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
    ("2024-05-01 12:30", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
    ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
    ("1714566600", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
    ("1714566600.5", datetime(2024, 5, 1, 12, 30, 0, 500000, tzinfo=UTC)),
])
def test_times_are_iso_8601_or_epoch_seconds(text: str, expected: datetime) -> None:
    assert parse_time(text) == expected


def test_an_explicit_offset_is_kept() -> None:
    assert parse_time("2024-05-01T12:00:00-05:00").utcoffset() == timedelta(hours=-5)
    assert parse_time("2024-05-01T12:00:00-05:00").tzinfo == timezone(timedelta(hours=-5))


def test_a_bad_time_is_refused() -> None:
    with pytest.raises(ValueError, match="neither ISO 8601"):
        parse_time("yesterday")
    result = CliRunner().invoke(lookup_events, ["--start-time", "yesterday"])
    assert result.exit_code == 2 and "neither ISO 8601" in result.output


# --- CSV ---

@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx",
                                   '=HYPERLINK("http://evil","x")'])
def test_cells_that_a_spreadsheet_would_run_get_a_leading_quote(value: str) -> None:
    assert escape_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["", "alice", "1+1", "a=b", "{\"x\":1}", " =1", "'"])
def test_other_cells_are_left_alone(value: str) -> None:
    assert escape_cell(value) == value


def lookup_event(**record_overrides: object) -> dict[str, object]:
    record = {"eventID": "e1", "awsRegion": "eu-west-1", "sourceIPAddress": "203.0.113.7",
              "errorCode": "AccessDenied", **record_overrides}
    return {"EventId": "e1", "EventName": "DeleteBucket", "ReadOnly": "false",
            "AccessKeyId": "AKIAEXAMPLE", "EventTime": 1714566600,
            "EventSource": "s3.amazonaws.com", "Username": "=cmd|' /C calc'!A0",
            "Resources": [{"ResourceType": "AWS::S3::Bucket", "ResourceName": "logs"},
                          {"ResourceType": "AWS::S3::Bucket", "ResourceName": "-other"}],
            "CloudTrailEvent": json.dumps(record)}


def test_csv_row_matches_the_console_columns_and_is_escaped() -> None:
    row = dict(zip(CSV_COLUMNS, csv_row(lookup_event()), strict=True))
    assert row["Event ID"] == "e1"
    assert row["Event time"] == "2024-05-01T12:30:00Z"
    assert row["User name"] == "'=cmd|' /C calc'!A0"
    assert row["Resource type"] == "AWS::S3::Bucket, AWS::S3::Bucket"
    assert row["Resource name"] == "logs, -other"
    assert (row["AWS region"], row["Error code"], row["Source IP address"]) == (
        "eu-west-1", "AccessDenied", "203.0.113.7")
    assert row["Read-only"] == "false"
    assert json.loads(row["CloudTrail event"])["eventID"] == "e1"


def test_csv_row_escapes_values_taken_from_the_record_too() -> None:
    row = dict(zip(CSV_COLUMNS, csv_row(lookup_event(sourceIPAddress="@evil")), strict=True))
    assert row["Source IP address"] == "'@evil"


def test_csv_rows_survive_a_csv_round_trip() -> None:
    out = io.StringIO()
    csv.writer(out).writerow(csv_row(lookup_event(errorMessage='quote " and\nnewline')))
    (back,) = list(csv.reader(io.StringIO(out.getvalue())))
    assert json.loads(back[-1])["errorMessage"] == 'quote " and\nnewline'
