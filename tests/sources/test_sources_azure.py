"""Azure Activity Log and Entra ID: hand-checked mappings of real sample entries."""

from __future__ import annotations

import json
from typing import Any

from conftest import DATASETS
from opentrail.sources import Converted, convert

ACTIVITY = json.loads((DATASETS / "non-aws" / "Azure.MonitorActivity.json").read_bytes())
ENTRA = json.loads((DATASETS / "non-aws" / "Azure.Audit.json").read_bytes())


def converted(fmt: str, entry: dict[str, Any]) -> dict[str, Any]:
    [result] = convert(fmt, json.dumps(entry).encode())
    assert isinstance(result, Converted), result
    return result.record


def test_an_activity_log_write_maps_field_by_field() -> None:
    record = converted("azure", ACTIVITY[0])
    assert record["eventSource"] == "microsoft.storage"
    assert record["eventName"] == "Microsoft.Storage/storageAccounts/write"
    assert record["eventTime"] == "2024-12-17T10:30:00Z"  # 7-digit fraction dropped
    assert record["awsRegion"] == "eastus"
    assert record["userIdentity"] == {"type": "AzureUser", "principalId": "denethor@lotr.com",
                                      "userName": "denethor@lotr.com"}
    assert record["sourceIPAddress"] == "1.1.1.1"
    assert record["readOnly"] is False
    assert record["requestID"] == "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
    assert record["resources"] == [{
        "ARN": ACTIVITY[0]["log"]["resourceId"], "type": "Microsoft.Storage/storageAccounts"}]
    assert record["additionalEventData"]["original"] == ACTIVITY[0]["log"]
    assert "errorCode" not in record


def test_a_failed_operation_carries_its_result_signature() -> None:
    entry = ACTIVITY[19]["log"]
    assert entry["resultType"] == "Failed"
    record = converted("azure", ACTIVITY[19])
    assert record["errorCode"] == entry["resultSignature"] == "409"


def test_storage_reads_are_read_only_data_events() -> None:
    record = converted("azure", ACTIVITY[21])
    assert ACTIVITY[21]["log"]["category"] == "StorageRead"
    assert (record["eventCategory"], record["readOnly"]) == ("Data", True)
    assert record["userIdentity"] == {"type": "AzureSAS"}  # a shared access signature


def test_the_rest_api_shape_is_read_too() -> None:
    entry = {"eventTimestamp": "2024-05-01T10:00:00.1234567Z", "eventDataId": "e-1",
             "operationName": {"value": "Microsoft.Compute/virtualMachines/read",
                               "localizedValue": "Get Virtual Machine"},
             "status": {"value": "Failed"}, "caller": "ops@contoso.com",
             "resourceId": "/subscriptions/s/resourceGroups/rg"}
    record = converted("azure", entry)
    assert record["eventName"] == "Microsoft.Compute/virtualMachines/read"
    assert record["readOnly"] is True
    assert record["errorCode"] == "Failed"
    assert record["userIdentity"]["userName"] == "ops@contoso.com"
    assert record["awsRegion"] == "on-premises"


def test_an_entra_audit_entry_maps_field_by_field() -> None:
    record = converted("entra", ENTRA[10])
    assert record["eventSource"] == "entra.microsoft.com"
    assert record["eventName"] == "Invite external user"
    assert record["eventTime"] == "2024-09-23T14:33:09Z"  # activityDateTime, not the export's
    assert record["userIdentity"] == {"type": "EntraUser", "principalId": "123456789",
                                      "userName": "denethor@lotr.com"}
    assert record["sourceIPAddress"] == "1.2.3.4"
    assert record["resources"] == [{"ARN": "123456789", "type": "Entra.User"}]
    assert (record["eventType"], record["readOnly"]) == ("AwsApiCall", False)
    assert record["awsRegion"] == "on-premises"  # a tenant has no region


def test_an_entra_sign_in_is_a_console_sign_in_and_failures_keep_their_code() -> None:
    ok = converted("entra", ENTRA[20])
    assert (ok["eventSource"], ok["eventType"]) == ("signin.entra.microsoft.com",
                                                    "AwsConsoleSignIn")
    assert ok["userIdentity"]["userName"] == "cross@lotr.com"
    assert "errorCode" not in ok
    failed = converted("entra", ENTRA[17])
    assert failed["errorCode"] == "50126"
    assert failed["errorMessage"] == "Invalid username or password"


def test_a_service_principal_sign_in_names_the_principal() -> None:
    record = converted("entra", ENTRA[30])
    assert record["userIdentity"] == {
        "type": "EntraServicePrincipal", "principalId": "b1c34143-e405-4058-8e29-84596ad737b8",
        "userName": "some-service-principal"}
