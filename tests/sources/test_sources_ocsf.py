"""OCSF API Activity export of real CloudTrail and converted records."""

from __future__ import annotations

import json

from conftest import DATASETS
from opentrail.sources import Converted, convert, to_ocsf

INVICTUS = sorted((DATASETS / "invictus-aws" / "CloudTrail").glob("*.json"))


def invictus() -> list[dict[str, object]]:
    return [r for f in INVICTUS for r in json.loads(f.read_bytes())["Records"]]


def test_a_real_cloudtrail_record_maps_to_api_activity() -> None:
    record = next(r for r in invictus() if r.get("errorCode") and
                  r["userIdentity"].get("type") == "IAMUser")
    event = to_ocsf(record)
    assert (event["class_uid"], event["category_uid"]) == (6003, 6)
    assert event["type_uid"] == 600300 + event["activity_id"]
    assert event["status"] == "Failure" and event["status_id"] == 2
    assert event["status_code"] == record["errorCode"]
    assert event["api"]["operation"] == record["eventName"]
    assert event["api"]["service"]["name"] == record["eventSource"]
    assert event["actor"]["user"]["name"] == record["userIdentity"]["userName"]
    assert event["actor"]["user"]["uid_alt"] == record["userIdentity"]["arn"]
    assert event["cloud"] == {"provider": "AWS", "region": "us-east-1",
                              "account": {"uid": "123837392027"}}
    assert event["metadata"]["uid"] == record["eventID"]
    assert event["metadata"]["product"]["name"] == "OpenTrail"
    assert event["time"] % 1000 == 0 and event["time"] > 1_688_000_000_000


def test_activity_follows_read_only_and_the_verb() -> None:
    by_name = {r["eventName"]: to_ocsf(r) for r in invictus()}
    assert by_name["ListBuckets"]["activity_id"] == 2
    assert by_name["CreateVpc"]["activity_id"] == 1
    assert by_name["PutBucketPolicy"]["activity_id"] == 1
    assert by_name["DeleteTrail"]["activity_id"] == 4
    assert by_name["AttachRolePolicy"]["activity_id"] == 3
    assert by_name["UpdateInstanceInformation"]["activity_name"] == "Update"


def test_service_names_in_source_ip_become_domains_and_nothing_is_dropped() -> None:
    record = next(r for r in invictus() if r["sourceIPAddress"] == "AWS Internal")
    event = to_ocsf(record)
    assert event["src_endpoint"] == {"domain": "AWS Internal"}
    # Every field the mapping does not use is kept under `unmapped`, values whole.
    for name in ("requestParameters", "responseElements", "additionalEventData",
                 "managementEvent"):
        assert event["unmapped"][name] == record[name]


def test_converted_records_name_their_cloud() -> None:
    data = (DATASETS / "non-aws" / "GCP.AuditLog.json").read_bytes()
    record = next(r.record for r in convert("gcp", data) if isinstance(r, Converted))
    event = to_ocsf(record)
    assert event["cloud"]["provider"] == "GCP"
    assert event["cloud"]["region"] == record["awsRegion"]
    assert event["src_endpoint"] == {"ip": record["sourceIPAddress"]}
    assert event["unmapped"]["additionalEventData"]["sourceFormat"] == "gcp"
