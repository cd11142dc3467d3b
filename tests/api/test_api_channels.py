"""Channels and cloudtrail-data PutAuditEvents with the real boto3 clients."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, Server, wait_until

pytestmark = pytest.mark.e2e

ACTIVITY = [{"Name": "apps", "FieldSelectors": [
    {"Field": "eventCategory", "Equals": ["ActivityAuditLog"]}]}]


def _store(server: Server) -> str:
    """The ActivityAuditLog store the channels deliver to. Since issue 11 a channel's
    EVENT_DATA_STORE destination must be an existing store of the caller (it used to take
    any well-formed ARN, before stores existed)."""
    ct: Any = server.client()
    for store in ct.list_event_data_stores()["EventDataStores"]:
        if store["Name"] == "demo-store":
            return str(store["EventDataStoreArn"])
    created = ct.create_event_data_store(Name="demo-store", AdvancedEventSelectors=ACTIVITY)
    return str(created["EventDataStoreArn"])


def _channel(server: Server, name: str = "apps") -> str:
    ct: Any = server.client()
    created = ct.create_channel(Name=name, Source="Custom", Destinations=[
        {"Type": "EVENT_DATA_STORE", "Location": _store(server)}])
    return str(created["ChannelArn"])


def _event_data(uid: str, **extra: Any) -> str:
    data = {"version": "1.0", "userIdentity": {"type": "CustomUser", "principalId": "jdoe"},
            "eventSource": "payroll.example.com", "eventName": "ApprovePayment",
            "eventTime": "2026-11-20T10:00:00Z", "UID": uid, "recipientAccountId": ACCOUNT,
            "sourceIPAddress": "198.51.100.4"}
    data.update(extra)
    return json.dumps(data)


def test_channel_lifecycle(live_server: Server) -> None:
    ct: Any = live_server.client()
    arn = _channel(live_server)
    assert ct.get_channel(Channel=arn)["Name"] == "apps"
    assert [c["Name"] for c in ct.list_channels()["Channels"]] == ["apps"]
    with pytest.raises(ClientError) as info:
        _channel(live_server)
    assert info.value.response["Error"]["Code"] == "ChannelAlreadyExistsException"
    ct.delete_channel(Channel=arn)
    with pytest.raises(ClientError) as info:
        ct.get_channel(Channel=arn)
    assert info.value.response["Error"]["Code"] == "ChannelNotFoundException"


def test_put_audit_events_partial_success(live_server: Server) -> None:
    arn = _channel(live_server)
    data: Any = live_server.client("cloudtrail-data", role="writer")
    good = _event_data("u-1")
    checksum = base64.b64encode(hashlib.sha256(good.encode()).digest()).decode()
    result = data.put_audit_events(channelArn=arn, auditEvents=[
        {"id": "one", "eventData": good, "eventDataChecksum": checksum},
        {"id": "two", "eventData": _event_data("u-2"), "eventDataChecksum": "AAAA"},
        {"id": "three", "eventData": json.dumps({"version": "1.0"})},
    ])
    assert [s["id"] for s in result["successful"]] == ["one"]
    codes = {f["id"]: f["errorCode"] for f in result["failed"]}
    assert codes == {"two": "InvalidChecksum", "three": "FieldNotFound"}
    ct: Any = live_server.client(role="reader")

    def found() -> list[dict[str, Any]]:
        return list(ct.lookup_events(StartTime=1795160000, EndTime=1795200000, LookupAttributes=[
            {"AttributeKey": "EventName", "AttributeValue": "ApprovePayment"}])["Events"])

    wait_until(found)
    [event] = found()
    assert event["Username"] == "jdoe"
    assert event["EventSource"] == "payroll.example.com"
    record = json.loads(event["CloudTrailEvent"])
    assert record["eventCategory"] == "ActivityAuditLog"
    assert record["eventID"] == result["successful"][0]["eventID"]
    assert record["metadata"]["channelARN"] == arn


def test_put_audit_events_request_errors(live_server: Server) -> None:
    arn = _channel(live_server)
    data: Any = live_server.client("cloudtrail-data", role="writer")
    with pytest.raises(ClientError) as info:
        data.put_audit_events(channelArn=arn, auditEvents=[
            {"id": "same", "eventData": _event_data("a")},
            {"id": "same", "eventData": _event_data("b")}])
    assert info.value.response["Error"]["Code"] == "DuplicatedAuditEventId"
    missing = arn.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    with pytest.raises(ClientError) as info:
        data.put_audit_events(channelArn=missing,
                              auditEvents=[{"id": "x", "eventData": _event_data("c")}])
    assert info.value.response["Error"]["Code"] == "ChannelNotFound"
    with pytest.raises(ClientError) as info:
        data.put_audit_events(channelArn="arn:nope",
                              auditEvents=[{"id": "x", "eventData": _event_data("c")}])
    assert info.value.response["Error"]["Code"] == "InvalidChannelARN"
    other: Any = live_server.client("cloudtrail-data", role="writer", account="210987654321")
    with pytest.raises(ClientError) as info:
        other.put_audit_events(channelArn=arn,
                               auditEvents=[{"id": "x", "eventData": _event_data("c")}])
    assert info.value.response["Error"]["Code"] == "ChannelInsufficientPermission"
