"""GCP Cloud Audit Logs: hand-checked mappings of real sample entries."""

from __future__ import annotations

import json
from typing import Any

from conftest import DATASETS
from opentrail.sources import ConversionError, Converted, Options, convert
from opentrail.sources._record import event_id

SAMPLES = json.loads((DATASETS / "non-aws" / "GCP.AuditLog.json").read_bytes())


def converted(index: int, options: Options | None = None) -> dict[str, Any]:
    body = json.dumps([SAMPLES[index]]).encode()
    [result] = convert("gcp", body, options)
    assert isinstance(result, Converted), result
    return result.record


def test_an_admin_activity_entry_maps_field_by_field() -> None:
    entry = SAMPLES[5]["log"]
    record = converted(5)
    assert record["eventSource"] == "compute.googleapis.com"
    assert record["eventName"] == "v1.compute.subnetworks.patch"
    assert record["eventTime"] == "2023-03-08T18:52:52Z"  # "2023-03-08 18:52:52.114" (UTC)
    assert record["userIdentity"] == {"type": "GCPUser", "principalId": "user1@company.io",
                                      "userName": "user1@company.io"}
    assert record["sourceIPAddress"] == "1.2.3.4"
    assert record["userAgent"].startswith("Mozilla/5.0 (Macintosh")
    assert record["awsRegion"] == "us-central1"
    assert record["readOnly"] is False
    assert (record["eventType"], record["eventCategory"]) == ("AwsApiCall", "Management")
    assert record["resources"] == [{
        "ARN": "projects/test-project/regions/us-central1/subnetworks/default",
        "type": "compute.subnetworks"}]
    assert record["requestID"] == "operation-abcdefg-1234567"
    assert record["requestParameters"]["logConfig"] == {"enable": True}
    assert record["additionalEventData"] == {"sourceFormat": "gcp", "original": entry}
    assert record["eventID"] == event_id(
        "gcp", f"{entry['logName']}|{entry['timestamp']}|{entry['insertId']}")
    assert "errorCode" not in record


def test_a_data_access_entry_is_a_data_event() -> None:
    record = converted(100)
    assert record["eventName"] == "storage.objects.create"
    assert (record["eventCategory"], record["managementEvent"]) == ("Data", False)
    assert record["awsRegion"] == "us"  # resource.labels.location
    assert record["resources"][0]["ARN"] == (
        "projects/_/buckets/data-bucket/objects/quarterly_report_2025.pdf")


def test_a_read_method_is_read_only_and_lower_case_keys_are_read() -> None:
    record = converted(40)  # "insertid", "receivetimestamp": keys lower-cased by an export
    assert record["eventName"] == "dns.managedZones.get"
    assert record["readOnly"] is True
    assert record["eventTime"] == "2023-05-23T19:08:11Z"
    assert record["awsRegion"] == "global"


def test_a_failed_call_carries_the_rpc_status_as_error() -> None:
    index = next(i for i, s in enumerate(SAMPLES)
                 if (s["log"].get("protoPayload") or {}).get("status", {}).get("code") == 7)
    record = converted(index)
    assert record["errorCode"] == "PERMISSION_DENIED"
    assert record["errorMessage"] == SAMPLES[index]["log"]["protoPayload"]["status"]["message"]


def test_a_system_event_is_a_service_event_and_time_offsets_are_normalised() -> None:
    entry = {"logName": "projects/p/logs/cloudaudit.googleapis.com%2Fsystem_event",
             "insertId": "x1", "timestamp": "2024-02-13T04:45:06.07-08:00",
             "resource": {"type": "gce_instance", "labels": {"zone": "europe-west1-b"}},
             "protoPayload": {"serviceName": "compute.googleapis.com",
                              "methodName": "compute.instances.migrateOnHostMaintenance"}}
    [result] = convert("gcp", json.dumps(entry).encode(), Options(region="dc-1"))
    assert isinstance(result, Converted)
    record = result.record
    assert record["eventType"] == "AwsServiceEvent"
    assert record["userIdentity"] == {"type": "GCPService",
                                      "invokedBy": "compute.googleapis.com"}
    assert record["sourceIPAddress"] == "compute.googleapis.com"
    assert record["eventTime"] == "2024-02-13T12:45:06Z"
    assert record["awsRegion"] == "europe-west1"  # the zone's region


def test_a_policy_denied_entry_without_status_is_still_an_error() -> None:
    entry = {"logName": "projects/p/logs/cloudaudit.googleapis.com%2Fpolicy",
             "timestamp": "2024-01-01T00:00:00Z",
             "protoPayload": {"serviceName": "storage.googleapis.com",
                              "methodName": "storage.objects.get",
                              "authenticationInfo": {
                                  "principalEmail": "ci@p.iam.gserviceaccount.com"}}}
    [result] = convert("gcp", json.dumps(entry).encode())
    assert isinstance(result, Converted)
    assert result.record["errorCode"] == "PERMISSION_DENIED"
    assert result.record["userIdentity"]["type"] == "GCPServiceAccount"


def test_entries_that_are_not_audit_logs_are_reported() -> None:
    results = list(convert("gcp", (DATASETS / "non-aws" / "GCP.AuditLog.json").read_bytes()))
    reasons = {r.reason for r in results if isinstance(r, ConversionError)}
    assert "protoPayload is missing: not a Cloud Audit Log entry." in reasons
    assert "protoPayload.methodName is missing: the operation is unknown." in reasons
