"""sources/_siem.py on single entries: what is restored, and what is left alone."""

from __future__ import annotations

import pytest

from opentrail.sources import csv_records, export_entries, looks_like_csv, restore

RECORD = {"eventVersion": "1.08", "eventTime": "2023-07-10T11:42:05Z",
          "eventSource": "iam.amazonaws.com", "eventName": "ListUsers",
          "eventID": "e1", "awsRegion": "us-east-1", "recipientAccountId": "123456789012",
          "requestParameters": None, "responseElements": None}


def test_a_plain_record_is_returned_as_it_is() -> None:
    odd = {**RECORD, "someFutureField": 1}  # unknown to us, but no export around it
    assert restore(odd) is odd


@pytest.mark.parametrize(("value", "expected"), [
    ("2023-07-10T11:42:05.123Z", "2023-07-10T11:42:05Z"),
    ("2023-07-10T13:42:05+02:00", "2023-07-10T11:42:05Z"),
    ("1688989325.000", "2023-07-10T11:42:05Z"),   # Splunk's _time as epoch text
    (1688989325, "2023-07-10T11:42:05Z"),
    (1688989325123, "2023-07-10T11:42:05Z"),      # Elastic epoch_millis
])
def test_export_times_become_cloudtrail_times(value: object, expected: str) -> None:
    doc = {k: v for k, v in RECORD.items() if k != "eventTime"} | {"@timestamp": value}
    restored = restore(doc)
    assert isinstance(restored, dict)
    assert restored["eventTime"] == expected
    assert "additionalEventData" not in restored  # @timestamp became eventTime


def test_a_naive_time_is_not_guessed() -> None:
    doc = {k: v for k, v in RECORD.items() if k != "eventTime"} | {"@timestamp":
                                                                    "2023-07-10 11:42:05"}
    restored = restore(doc)
    assert isinstance(restored, dict) and "eventTime" not in restored


def test_the_records_own_additional_event_data_wins_a_clash() -> None:
    doc = {**RECORD, "additionalEventData": {"host": "mine"}, "host": "logstash",
           "@version": "1"}
    restored = restore(doc)
    assert isinstance(restored, dict)
    assert restored["additionalEventData"] == {"host": "mine", "@version": "1"}


def test_a_splunk_raw_that_is_not_json_is_left_for_the_server_to_refuse() -> None:
    entry = {"_raw": "Jul 10 11:42:05 host sshd[1]: hello", "_time": "1688989325"}
    assert restore(entry) is entry


def test_containers_and_csv_detection() -> None:
    assert export_entries({"hits": {"hits": [1, 2]}}) == [1, 2]
    assert export_entries({"results": [3]}) == [3]
    assert export_entries({"digestStartTime": "x"}) is None
    assert looks_like_csv(b'"EventTime","EventName"\r\n')
    assert not looks_like_csv(b"name,time\n")
    rows = list(csv_records(b"eventtime,eventname,readonly,useridentity,extra\n"
                            b'2023-07-10 11:42:05+00:00,ListUsers,true,"{""type"":""Root""}",x\n'))
    assert rows == [{"eventTime": "2023-07-10T11:42:05Z", "eventName": "ListUsers",
                     "readOnly": True, "userIdentity": {"type": "Root"},
                     "additionalEventData": {"extra": "x"}}]
