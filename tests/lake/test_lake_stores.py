"""Event data stores through boto3's cloudtrail client against a real `opentrail serve`.

Every operation, default, validation rule and error of spec lake.md §3 for stores, per
account isolation and organization stores. Each test uses its own account on one shared
server (stores are per account and region, so tests stay independent).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from lake_tenants import Tenant, code, error, only

from conftest import Server, free_port

pytestmark = pytest.mark.e2e

ORG_ACCOUNT = "000000000000"  # settings.organization_account's default
MANAGEMENT = [{"Name": "Default management events",
               "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("lake-stores") / "data", free_port())
    server.start()
    yield server
    server.kill(signal.SIGTERM)


@pytest.fixture
def tenant(shared_server: Server) -> Tenant:
    return Tenant(shared_server)


@pytest.fixture
def ct(tenant: Tenant) -> Any:
    return tenant.client()


@pytest.fixture
def raw(tenant: Tenant) -> Any:
    return tenant.client(validate=False)


def unprotected(ct: Any, name: str, **kwargs: Any) -> str:
    arn: str = ct.create_event_data_store(Name=name, TerminationProtectionEnabled=False,
                                          **kwargs)["EventDataStoreArn"]
    return arn


# -- Create / Get / List ---------------------------------------------------------------------

CREATE_MEMBERS = {"EventDataStoreArn", "Name", "Status", "AdvancedEventSelectors",
                  "MultiRegionEnabled", "OrganizationEnabled", "RetentionPeriod",
                  "TerminationProtectionEnabled", "TagsList", "CreatedTimestamp",
                  "UpdatedTimestamp", "BillingMode"}


def test_create_defaults_and_shapes(tenant: Tenant, ct: Any) -> None:
    made = ct.create_event_data_store(Name="audit-1")
    assert set(made) - {"ResponseMetadata"} == CREATE_MEMBERS
    assert made["Status"] == "CREATED"
    assert made["MultiRegionEnabled"] is True and made["OrganizationEnabled"] is False
    assert made["TerminationProtectionEnabled"] is True
    assert made["RetentionPeriod"] == 366
    assert made["BillingMode"] == "EXTENDABLE_RETENTION_PRICING"
    assert made["AdvancedEventSelectors"] == MANAGEMENT
    assert made["TagsList"] == []
    assert isinstance(made["CreatedTimestamp"], datetime)  # epoch numbers on the wire
    arn = made["EventDataStoreArn"]
    prefix = f"arn:aws:cloudtrail:us-east-1:{tenant.account}:eventdatastore/"
    assert arn.startswith(prefix)
    store_id = arn[len(prefix):]
    got = ct.get_event_data_store(EventDataStore=store_id)  # bare id
    assert got["Status"] == "ENABLED" and got["FederationStatus"] == "DISABLED"
    assert got["EventDataStoreArn"] == arn
    assert set(got) - {"ResponseMetadata"} == (CREATE_MEMBERS - {"TagsList"}) | {
        "FederationStatus"}
    assert ct.get_event_data_store(EventDataStore=arn)["Name"] == "audit-1"
    listed = ct.list_event_data_stores()["EventDataStores"]
    assert listed == [{"EventDataStoreArn": arn, "Name": "audit-1"}]


def test_create_with_settings_and_stopped(ct: Any) -> None:
    made = ct.create_event_data_store(
        Name="fixed", BillingMode="FIXED_RETENTION_PRICING", MultiRegionEnabled=False,
        StartIngestion=False, TagsList=[{"Key": "team", "Value": "sec"}])
    assert made["RetentionPeriod"] == 2557 and made["MultiRegionEnabled"] is False
    assert made["TagsList"] == [{"Key": "team", "Value": "sec"}]
    got = ct.get_event_data_store(EventDataStore=made["EventDataStoreArn"])
    assert got["Status"] == "STOPPED_INGESTION"


def test_list_pages(ct: Any, raw: Any) -> None:
    arns = [ct.create_event_data_store(Name=f"store-{i}")["EventDataStoreArn"] for i in range(3)]
    first = ct.list_event_data_stores(MaxResults=2)
    assert [s["EventDataStoreArn"] for s in first["EventDataStores"]] == arns[:2]
    rest = ct.list_event_data_stores(MaxResults=2, NextToken=first["NextToken"])
    assert [s["EventDataStoreArn"] for s in rest["EventDataStores"]] == arns[2:]
    assert "NextToken" not in rest
    assert code(ct.list_event_data_stores, NextToken="not-a-token") == (
        "InvalidNextTokenException")
    assert code(raw.list_event_data_stores, MaxResults=0) == "InvalidMaxResultsException"
    assert code(raw.list_event_data_stores, MaxResults=1001) == "InvalidMaxResultsException"


def test_stores_are_regional(tenant: Tenant, ct: Any) -> None:
    arn = ct.create_event_data_store(Name="east")["EventDataStoreArn"]
    west = tenant.client("us-west-2")
    assert west.list_event_data_stores()["EventDataStores"] == []
    assert code(west.get_event_data_store, EventDataStore=arn) == (
        "EventDataStoreNotFoundException")
    west.create_event_data_store(Name="east")  # names are unique per account and Region


# -- validation ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["has space", "a*b", "x" * 129, "ab"])
def test_bad_names(raw: Any, name: str) -> None:
    found, message = error(raw.create_event_data_store, Name=name)
    assert found == "InvalidParameterException" and "Name" in message


def test_name_unique(ct: Any) -> None:
    ct.create_event_data_store(Name="one")
    other = ct.create_event_data_store(Name="two")["EventDataStoreArn"]
    assert code(ct.create_event_data_store, Name="one") == (
        "EventDataStoreAlreadyExistsException")
    assert code(ct.update_event_data_store, EventDataStore=other, Name="one") == (
        "EventDataStoreAlreadyExistsException")
    renamed = ct.update_event_data_store(EventDataStore=other, Name="three")
    assert renamed["Name"] == "three"


@pytest.mark.parametrize(("mode", "days", "ok"), [
    ("EXTENDABLE_RETENTION_PRICING", 6, False), ("EXTENDABLE_RETENTION_PRICING", 7, True),
    ("EXTENDABLE_RETENTION_PRICING", 3653, True), ("EXTENDABLE_RETENTION_PRICING", 3654, False),
    ("FIXED_RETENTION_PRICING", 2557, True), ("FIXED_RETENTION_PRICING", 2558, False)])
def test_retention_bounds(raw: Any, mode: str, days: int, ok: bool) -> None:
    if ok:
        made = raw.create_event_data_store(Name="r-store", BillingMode=mode, RetentionPeriod=days)
        assert made["RetentionPeriod"] == days
    else:
        found, message = error(raw.create_event_data_store, Name="r-store", BillingMode=mode,
                               RetentionPeriod=days)
        assert found == "InvalidParameterException" and "RetentionPeriod" in message


def test_billing_mode_one_way(ct: Any, raw: Any) -> None:
    arn = ct.create_event_data_store(Name="b-store")["EventDataStoreArn"]
    assert code(ct.update_event_data_store, EventDataStore=arn,
                BillingMode="FIXED_RETENTION_PRICING") == "InvalidParameterException"
    fixed = ct.create_event_data_store(Name="f-store", BillingMode="FIXED_RETENTION_PRICING")
    changed = ct.update_event_data_store(EventDataStore=fixed["EventDataStoreArn"],
                                         BillingMode="EXTENDABLE_RETENTION_PRICING",
                                         RetentionPeriod=3000)
    assert changed["BillingMode"] == "EXTENDABLE_RETENTION_PRICING"
    assert changed["RetentionPeriod"] == 3000
    assert code(raw.create_event_data_store, Name="x-store", BillingMode="CHEAP") == (
        "InvalidParameterException")


def test_update_needs_a_member_and_no_kms(ct: Any) -> None:
    arn = ct.create_event_data_store(Name="u-store")["EventDataStoreArn"]
    found, message = error(ct.update_event_data_store, EventDataStore=arn)
    assert found == "InvalidParameterException" and "at least one" in message
    assert code(ct.update_event_data_store, EventDataStore=arn, KmsKeyId="alias/k") == (
        "UnsupportedOperationException")
    assert code(ct.create_event_data_store, Name="k-store", KmsKeyId="alias/k") == (
        "UnsupportedOperationException")
    updated = ct.update_event_data_store(EventDataStore=arn, MultiRegionEnabled=False,
                                         RetentionPeriod=90)
    assert updated["MultiRegionEnabled"] is False and updated["RetentionPeriod"] == 90
    assert updated["FederationStatus"] == "DISABLED"
    assert updated["UpdatedTimestamp"] >= updated["CreatedTimestamp"]


@pytest.mark.parametrize("ref", [
    "arn:aws:cloudtrail:us-east-1:123456789012:trail/x", "a/b", "has space",
    "arn:aws:cloudtrail:us-east-1:12:eventdatastore/x"])
def test_malformed_refs(ct: Any, ref: str) -> None:
    assert code(ct.get_event_data_store, EventDataStore=ref) == (
        "EventDataStoreARNInvalidException")


def test_unknown_refs(tenant: Tenant, ct: Any) -> None:
    missing = "0b6b9a3e-1111-4222-8333-944444444444"
    for ref in (missing, f"arn:aws:cloudtrail:us-east-1:{tenant.account}:eventdatastore/"
                         f"{missing}"):
        for call in (ct.get_event_data_store, ct.delete_event_data_store,
                     ct.restore_event_data_store, ct.start_event_data_store_ingestion,
                     ct.stop_event_data_store_ingestion):
            assert code(call, EventDataStore=ref) == "EventDataStoreNotFoundException"
        assert code(ct.update_event_data_store, EventDataStore=ref, Name="n-store") == (
            "EventDataStoreNotFoundException")


def test_ten_stores_per_region_pending_included(ct: Any) -> None:
    arns = [unprotected(ct, f"store-{i}") for i in range(10)]
    found, message = error(ct.create_event_data_store, Name="eleven")
    assert found == "EventDataStoreMaxLimitExceededException" and "10" in message
    ct.delete_event_data_store(EventDataStore=arns[0])  # PENDING_DELETION still counts
    assert code(ct.create_event_data_store, Name="eleven") == (
        "EventDataStoreMaxLimitExceededException")


# -- selectors -------------------------------------------------------------------------------

def _fs(category: str, *more: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"Field": "eventCategory", "Equals": [category]}, *more]


BAD_SELECTORS: dict[str, list[dict[str, Any]]] = {
    "six selectors": [{"FieldSelectors": _fs("Management")}] * 6,
    "two categories": [{"FieldSelectors": _fs("Management")},
                       {"FieldSelectors": _fs("Data", {"Field": "resources.type",
                                                       "Equals": ["AWS::S3::Object"]})}],
    "two values": [{"FieldSelectors": [{"Field": "eventCategory",
                                        "Equals": ["Management", "Data"]}]}],
    "insight with a field": [{"FieldSelectors": _fs("Insight", {"Field": "eventName",
                                                                "Equals": ["x"]})}],
    "activity with a field": [{"FieldSelectors": _fs("ActivityAuditLog", {
        "Field": "eventSource", "Equals": ["x"]})}],
    "wildcard": [{"FieldSelectors": _fs("Management", {"Field": "eventName",
                                                       "Equals": ["Get*"]})}],
    "unknown field": [{"FieldSelectors": _fs("Management", {"Field": "colour",
                                                            "Equals": ["red"]})}],
    "unknown category": [{"FieldSelectors": _fs("Everything")}],
    "data without resources.type": [{"FieldSelectors": _fs("Data")}],
    "resources on management": [{"FieldSelectors": _fs("Management", {
        "Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::b/"]})}],
    "errorCode other than VpceAccessDenied": [{"FieldSelectors": _fs(
        "NetworkActivity", {"Field": "eventSource", "Equals": ["s3.amazonaws.com"]},
        {"Field": "errorCode", "Equals": ["AccessDenied"]})}],
    "readOnly not Equals": [{"FieldSelectors": _fs("Management", {
        "Field": "readOnly", "NotEquals": ["true"]})}],
    "501 values": [{"FieldSelectors": _fs("Management", {
        "Field": "eventName", "Equals": [f"e{i}" for i in range(500)]})}],
    "no eventCategory": [{"FieldSelectors": [{"Field": "eventName", "Equals": ["x"]}]}],
}


@pytest.mark.parametrize("case", sorted(BAD_SELECTORS))
def test_bad_selectors(raw: Any, case: str) -> None:
    found, message = error(raw.create_event_data_store, Name="sel",
                           AdvancedEventSelectors=BAD_SELECTORS[case])
    assert found == "InvalidEventSelectorsException", message
    assert message.endswith(".")


GOOD_SELECTORS: dict[str, list[dict[str, Any]]] = {
    "writes only": [{"FieldSelectors": _fs("Management", {"Field": "readOnly",
                                                          "Equals": ["false"]})}],
    "no kms": [{"FieldSelectors": _fs("Management", {
        "Field": "eventSource", "NotEquals": ["kms.amazonaws.com"]}, {
        "Field": "userIdentity.arn", "StartsWith": ["arn:aws:iam::"]})}],
    "s3 data": [{"Name": "s3", "FieldSelectors": _fs("Data", {
        "Field": "resources.type", "Equals": ["AWS::S3::Object"]}, {
        "Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::bucket/"]})}],
    "network": [{"FieldSelectors": _fs("NetworkActivity", {
        "Field": "eventSource", "Equals": ["s3.amazonaws.com"]}, {
        "Field": "errorCode", "Equals": ["VpceAccessDenied"]})}],
    **{c: only(c) for c in ("Insight", "ActivityAuditLog", "ConfigurationItem", "Evidence")},
}


@pytest.mark.parametrize("case", sorted(GOOD_SELECTORS))
def test_good_selectors(ct: Any, case: str) -> None:
    made = ct.create_event_data_store(Name="sel", AdvancedEventSelectors=GOOD_SELECTORS[case])
    got = ct.get_event_data_store(EventDataStore=made["EventDataStoreArn"])
    assert got["AdvancedEventSelectors"] == GOOD_SELECTORS[case]


def test_update_keeps_the_category(ct: Any) -> None:
    arn = ct.create_event_data_store(Name="m-store")["EventDataStoreArn"]
    assert code(ct.update_event_data_store, EventDataStore=arn,
                AdvancedEventSelectors=only("ActivityAuditLog")) == (
        "InvalidEventSelectorsException")
    writes = GOOD_SELECTORS["writes only"]
    assert ct.update_event_data_store(EventDataStore=arn, AdvancedEventSelectors=writes)[
        "AdvancedEventSelectors"] == writes


# -- ingestion, delete, restore --------------------------------------------------------------

def test_start_stop_ingestion(ct: Any) -> None:
    arn = ct.create_event_data_store(Name="i-store")["EventDataStoreArn"]
    assert code(ct.start_event_data_store_ingestion, EventDataStore=arn) == (
        "InvalidEventDataStoreStatusException")
    ct.stop_event_data_store_ingestion(EventDataStore=arn)
    assert ct.get_event_data_store(EventDataStore=arn)["Status"] == "STOPPED_INGESTION"
    assert code(ct.stop_event_data_store_ingestion, EventDataStore=arn) == (
        "InvalidEventDataStoreStatusException")
    ct.start_event_data_store_ingestion(EventDataStore=arn)
    assert ct.get_event_data_store(EventDataStore=arn)["Status"] == "ENABLED"


@pytest.mark.parametrize("category", ["Insight", "ActivityAuditLog", "Evidence"])
def test_ingestion_category(ct: Any, category: str) -> None:
    arn = ct.create_event_data_store(Name="c-store", AdvancedEventSelectors=only(category))[
        "EventDataStoreArn"]
    for call in (ct.stop_event_data_store_ingestion, ct.start_event_data_store_ingestion):
        assert code(call, EventDataStore=arn) == "InvalidEventDataStoreCategoryException"


def test_delete_and_restore(ct: Any) -> None:
    arn = ct.create_event_data_store(Name="d-store", StartIngestion=False)["EventDataStoreArn"]
    found, message = error(ct.delete_event_data_store, EventDataStore=arn)
    assert found == "EventDataStoreTerminationProtectedException"
    assert "TerminationProtectionEnabled" in message
    ct.update_event_data_store(EventDataStore=arn, TerminationProtectionEnabled=False)
    assert ct.delete_event_data_store(EventDataStore=arn)["ResponseMetadata"][
        "HTTPStatusCode"] == 200
    assert ct.get_event_data_store(EventDataStore=arn)["Status"] == "PENDING_DELETION"
    assert arn in [s["EventDataStoreArn"] for s in ct.list_event_data_stores()[
        "EventDataStores"]]
    assert code(ct.delete_event_data_store, EventDataStore=arn) == (
        "InactiveEventDataStoreException")
    assert code(ct.update_event_data_store, EventDataStore=arn, RetentionPeriod=30) == (
        "InactiveEventDataStoreException")
    assert code(ct.start_event_data_store_ingestion, EventDataStore=arn) == (
        "InvalidEventDataStoreStatusException")
    assert code(ct.create_event_data_store, Name="d-store") == (
        "EventDataStoreAlreadyExistsException")  # the name stays taken while pending
    restored = ct.restore_event_data_store(EventDataStore=arn)
    assert restored["Status"] == "STOPPED_INGESTION"  # as before the delete
    assert "FederationStatus" not in restored and "TagsList" not in restored
    assert code(ct.restore_event_data_store, EventDataStore=arn) == (
        "InvalidEventDataStoreStatusException")


# -- accounts and organizations --------------------------------------------------------------

def test_accounts_are_isolated(shared_server: Server, ct: Any) -> None:
    arn = unprotected(ct, "mine")
    other = Tenant(shared_server).client()
    assert other.list_event_data_stores()["EventDataStores"] == []
    for call in (other.get_event_data_store, other.delete_event_data_store,
                 other.restore_event_data_store, other.stop_event_data_store_ingestion):
        assert code(call, EventDataStore=arn) == "EventDataStoreNotFoundException"
        assert code(call, EventDataStore=arn.rsplit("/", 1)[1]) == (
            "EventDataStoreNotFoundException")
    assert code(other.update_event_data_store, EventDataStore=arn, Name="theirs") == (
        "EventDataStoreNotFoundException")
    assert code(other.add_tags, ResourceId=arn, TagsList=[{"Key": "k", "Value": "v"}]) == (
        "ResourceNotFoundException")
    assert code(other.list_tags, ResourceIdList=[arn]) == "ResourceNotFoundException"
    other.create_event_data_store(Name="mine")  # names are per account
    assert ct.get_event_data_store(EventDataStore=arn)["Status"] == "ENABLED"


def test_organization_stores(shared_server: Server, ct: Any) -> None:
    found, message = error(ct.create_event_data_store, Name="org", OrganizationEnabled=True)
    assert found == "NotOrganizationMasterAccountException" and "organization key" in message
    plain = ct.create_event_data_store(Name="plain")["EventDataStoreArn"]
    assert code(ct.update_event_data_store, EventDataStore=plain,
                OrganizationEnabled=True) == "NotOrganizationMasterAccountException"
    org = Tenant(shared_server, account=None).client()
    made = org.create_event_data_store(Name="org-wide", OrganizationEnabled=True)
    arn = made["EventDataStoreArn"]
    assert made["OrganizationEnabled"] is True
    assert f":{ORG_ACCOUNT}:eventdatastore/" in arn  # owned by the organization account
    assert arn in [s["EventDataStoreArn"] for s in org.list_event_data_stores()[
        "EventDataStores"]]
    # A member account neither sees nor changes it: it holds every account's events.
    assert arn not in [s["EventDataStoreArn"] for s in ct.list_event_data_stores()[
        "EventDataStores"]]
    assert code(ct.get_event_data_store, EventDataStore=arn) == (
        "EventDataStoreNotFoundException")
    # The organization key reaches a member's store by ARN.
    assert org.get_event_data_store(EventDataStore=plain)["Name"] == "plain"


# -- tags ------------------------------------------------------------------------------------

def test_tags_on_stores(ct: Any) -> None:
    arn = ct.create_event_data_store(Name="t-store", TagsList=[{"Key": "a", "Value": "1"}])[
        "EventDataStoreArn"]
    ct.add_tags(ResourceId=arn, TagsList=[{"Key": "b", "Value": "2"}, {"Key": "a",
                                                                        "Value": "3"}])
    [item] = ct.list_tags(ResourceIdList=[arn])["ResourceTagList"]
    assert item == {"ResourceId": arn, "TagsList": [{"Key": "a", "Value": "3"},
                                                    {"Key": "b", "Value": "2"}]}
    ct.remove_tags(ResourceId=arn, TagsList=[{"Key": "a"}])
    assert ct.list_tags(ResourceIdList=[arn])["ResourceTagList"][0]["TagsList"] == [
        {"Key": "b", "Value": "2"}]
    assert code(ct.add_tags, ResourceId=arn, TagsList=[{"Key": "aws:x", "Value": "1"}]) == (
        "InvalidTagParameterException")
    assert code(ct.create_event_data_store, Name="t2-store",
                TagsList=[{"Key": "bad\u0000", "Value": "1"}]) == "InvalidTagParameterException"
    trail_arn_missing = arn.replace(":eventdatastore/", ":trail/").rsplit("/", 1)[0] + "/none"
    assert code(ct.list_tags, ResourceIdList=[arn, trail_arn_missing]) == (
        "ResourceNotFoundException")


def test_tags_on_trails_still_work(ct: Any) -> None:
    ct.create_trail(Name="t-store", S3BucketName="any-bucket")
    trail = ct.get_trail(Name="t-store")["Trail"]["TrailARN"]
    store = ct.create_event_data_store(Name="s-store")["EventDataStoreArn"]
    ct.add_tags(ResourceId=trail, TagsList=[{"Key": "k", "Value": "v"}])
    tags = ct.list_tags(ResourceIdList=[trail, store])["ResourceTagList"]
    assert tags == [{"ResourceId": trail, "TagsList": [{"Key": "k", "Value": "v"}]},
                    {"ResourceId": store, "TagsList": []}]


# -- what botocore would never send ----------------------------------------------------------

HOSTILE: list[tuple[str, dict[str, Any], str]] = [
    ("CreateEventDataStore", {"Name": 5}, "InvalidParameterException"),
    ("CreateEventDataStore", {"Name": "hostile", "RetentionPeriod": "abc"},
     "InvalidParameterException"),
    ("CreateEventDataStore", {"Name": "hostile", "RetentionPeriod": True},
     "InvalidParameterException"),
    ("CreateEventDataStore", {"Name": "hostile", "MultiRegionEnabled": "yes"},
     "InvalidParameterException"),
    ("CreateEventDataStore", {"Name": "hostile", "StartIngestion": "no"},
     "InvalidParameterException"),
    ("CreateEventDataStore", {"Name": "hostile", "BillingMode": ["x"]},
     "InvalidParameterException"),
    ("CreateEventDataStore", {"Name": "hostile", "AdvancedEventSelectors": "x"},
     "InvalidEventSelectorsException"),
    ("CreateEventDataStore", {"Name": "hostile", "AdvancedEventSelectors": [1]},
     "InvalidEventSelectorsException"),
    ("CreateEventDataStore", {"Name": "hostile", "AdvancedEventSelectors": [
        {"FieldSelectors": [{"Field": "eventCategory", "Equals": [5]}]}]},
     "InvalidEventSelectorsException"),
    ("CreateEventDataStore", {"Name": "hostile", "TagsList": [{"Key": 1}]},
     "InvalidTagParameterException"),
    ("GetEventDataStore", {"EventDataStore": ["x"]}, "EventDataStoreARNInvalidException"),
    ("GetEventDataStore", {}, "InvalidParameterException"),
    ("ListEventDataStores", {"MaxResults": "5"}, "InvalidMaxResultsException"),
    ("ListEventDataStores", {"NextToken": "\u00e9" * 10}, "InvalidNextTokenException"),
    ("DeleteEventDataStore", {"EventDataStore": {"a": 1}}, "EventDataStoreARNInvalidException"),
    ("GetInsightSelectors", {"EventDataStore": 5}, "EventDataStoreARNInvalidException"),
    ("ListTags", {"ResourceIdList": "x"}, "InvalidParameterException"),
]


@pytest.mark.parametrize(("operation", "body", "expected"), HOSTILE)
def test_hostile_bodies(tenant: Tenant, operation: str, body: dict[str, Any],
                        expected: str) -> None:
    response = tenant.call(operation, body)
    assert response.status_code == 400
    assert response.json()["__type"] == expected
    assert response.json()["message"].endswith(".")
