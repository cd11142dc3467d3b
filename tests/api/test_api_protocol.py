"""The JSON 1.1 edge: unknown operations, malformed bodies, request ids, self-audit."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest

from conftest import Server, signed_post, wait_until

pytestmark = pytest.mark.e2e

PREFIX = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."


def _call(server: Server, target: str, body: bytes, role: str = "admin") -> Any:
    return signed_post(server.endpoint, "/", body, server.key(role), service="cloudtrail",
                       headers={"X-Amz-Target": target,
                                "Content-Type": "application/x-amz-json-1.1"})


def test_unknown_and_unsupported_operations(live_server: Server) -> None:
    response = _call(live_server, PREFIX + "NoSuchThing", b"{}")
    assert response.status_code == 400
    assert response.json()["__type"] == "UnknownOperationException"
    assert response.headers["x-amzn-RequestId"]
    # StartQuery was the example until issue 11 implemented it; dashboards are not planned
    response = _call(live_server, PREFIX + "CreateDashboard", b"{}")
    assert response.json()["__type"] == "UnsupportedOperationException"


def test_malformed_json_body(live_server: Server) -> None:
    response = _call(live_server, PREFIX + "LookupEvents", b"{not json")
    assert response.status_code == 400
    assert response.json()["__type"] == "SerializationException"
    ok = _call(live_server, PREFIX + "LookupEvents", b"{}")
    assert ok.status_code == 200
    assert "Events" in ok.json()


def test_reader_cannot_change_configuration(live_server: Server) -> None:
    body = json.dumps({"Name": "nope", "Source": "Custom", "Destinations": [
        {"Type": "EVENT_DATA_STORE",
         "Location": "arn:aws:cloudtrail:us-east-1:123456789012:eventdatastore/x"}]}).encode()
    response = _call(live_server, PREFIX + "CreateChannel", body, role="reader")
    assert response.json()["__type"] == "AccessDeniedException"


def test_management_calls_are_audited(live_server: Server) -> None:
    admin: Any = live_server.client()
    # A channel's destination must be an existing ActivityAuditLog store (issue 11).
    store = admin.create_event_data_store(Name="apps", AdvancedEventSelectors=[
        {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["ActivityAuditLog"]}]}])
    admin.create_channel(Name="audit-me", Source="Custom", Destinations=[
        {"Type": "EVENT_DATA_STORE", "Location": store["EventDataStoreArn"]}])
    key = live_server.key("admin")

    def created() -> list[dict[str, Any]]:
        return list(admin.lookup_events(LookupAttributes=[
            {"AttributeKey": "EventName", "AttributeValue": "CreateChannel"}])["Events"])

    wait_until(created)
    record = json.loads(created()[0]["CloudTrailEvent"])
    assert record["eventSource"] == "cloudtrail.amazonaws.com"
    assert record["userIdentity"]["accessKeyId"] == key.access_key_id
    assert record["readOnly"] is False
    assert record["requestParameters"]["name"] == "audit-me"
    assert record["responseElements"]["channelArn"].startswith("arn:aws:cloudtrail:")
    assert record["sourceIPAddress"] == "127.0.0.1"
    assert key.secret not in json.dumps(record)
    # Failures are audited with their error code too.
    with contextlib.suppress(admin.exceptions.ClientError):
        admin.get_channel(Channel="missing")

    def failed() -> list[dict[str, Any]]:
        return list(admin.lookup_events(LookupAttributes=[
            {"AttributeKey": "ErrorCode", "AttributeValue": "ChannelNotFoundException"}])["Events"])

    wait_until(failed)
