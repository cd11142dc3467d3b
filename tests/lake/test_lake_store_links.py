"""What ties other resources to event data stores, through boto3 against a real server:
channels with an EVENT_DATA_STORE destination, tags on channel ARNs, and Insights
selectors on stores (`EventDataStore` + `InsightsDestination`)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import pytest
from lake_tenants import Tenant, code, error, only

from conftest import Server, free_port

pytestmark = pytest.mark.e2e

CALL_RATE = [{"InsightType": "ApiCallRateInsight"}]


@pytest.fixture(scope="module")
def links_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("lake-links") / "data", free_port())
    server.start()
    yield server
    server.kill(signal.SIGTERM)


@pytest.fixture
def tenant(links_server: Server) -> Tenant:
    return Tenant(links_server)


@pytest.fixture
def ct(tenant: Tenant) -> Any:
    return tenant.client()


def store(ct: Any, name: str, category: str = "Management", **kwargs: Any) -> str:
    arn: str = ct.create_event_data_store(
        Name=name, AdvancedEventSelectors=only(category), TerminationProtectionEnabled=False,
        **kwargs)["EventDataStoreArn"]
    return arn


def dest(arn: str) -> list[dict[str, str]]:
    return [{"Type": "EVENT_DATA_STORE", "Location": arn}]


# -- channels --------------------------------------------------------------------------------

def test_channel_needs_an_activity_store_of_the_caller(links_server: Server, tenant: Tenant,
                                                       ct: Any) -> None:
    missing = (f"arn:aws:cloudtrail:us-east-1:{tenant.account}:eventdatastore/"
               "0b6b9a3e-1111-4222-8333-944444444444")
    assert code(ct.create_channel, Name="apps", Source="Custom", Destinations=dest(
        missing)) == "EventDataStoreNotFoundException"
    management = store(ct, "mgmt")
    found, message = error(ct.create_channel, Name="apps", Source="Custom",
                           Destinations=dest(management))
    assert found == "InvalidEventDataStoreCategoryException" and "ActivityAuditLog" in message
    other = Tenant(links_server).client()
    theirs = store(other, "theirs", "ActivityAuditLog")
    assert code(ct.create_channel, Name="apps", Source="Custom", Destinations=dest(
        theirs)) == "EventDataStoreNotFoundException"
    assert code(ct.create_channel, Name="apps", Source="Custom", Destinations=dest(
        "arn:aws:cloudtrail:us-east-1:1:eventdatastore/x")) == (
        "EventDataStoreARNInvalidException")
    pending = store(ct, "pending", "ActivityAuditLog")
    ct.delete_event_data_store(EventDataStore=pending)
    assert code(ct.create_channel, Name="apps", Source="Custom", Destinations=dest(
        pending)) == "InactiveEventDataStoreException"
    apps = store(ct, "apps", "ActivityAuditLog")
    channel = ct.create_channel(Name="apps", Source="Custom", Destinations=dest(apps))
    assert channel["Destinations"] == dest(apps)
    assert ct.list_channels()["Channels"][0]["Name"] == "apps"


def test_update_channel_checks_the_store(ct: Any) -> None:
    apps = store(ct, "apps", "ActivityAuditLog")
    channel = ct.create_channel(Name="apps", Source="Custom", Destinations=dest(apps))[
        "ChannelArn"]
    management = store(ct, "mgmt")
    assert code(ct.update_channel, Channel=channel, Destinations=dest(management)) == (
        "InvalidEventDataStoreCategoryException")
    more = store(ct, "more", "ActivityAuditLog")
    assert ct.update_channel(Channel=channel, Destinations=dest(more))["Destinations"] == (
        dest(more))


def test_store_with_a_channel_cannot_be_deleted(ct: Any) -> None:
    apps = store(ct, "apps", "ActivityAuditLog")
    channel = ct.create_channel(Name="apps", Source="Custom", Destinations=dest(apps))[
        "ChannelArn"]
    found, message = error(ct.delete_event_data_store, EventDataStore=apps)
    assert found == "ChannelExistsForEDSException" and channel in message
    ct.delete_channel(Channel=channel)
    ct.delete_event_data_store(EventDataStore=apps)
    assert ct.get_event_data_store(EventDataStore=apps)["Status"] == "PENDING_DELETION"


def test_tags_on_channels(links_server: Server, ct: Any) -> None:
    apps = store(ct, "apps", "ActivityAuditLog")
    channel = ct.create_channel(Name="apps", Source="Custom", Destinations=dest(apps),
                                Tags=[{"Key": "a", "Value": "1"}])["ChannelArn"]
    ct.add_tags(ResourceId=channel, TagsList=[{"Key": "b", "Value": "2"}])
    ct.remove_tags(ResourceId=channel, TagsList=[{"Key": "a"}])
    assert ct.list_tags(ResourceIdList=[channel])["ResourceTagList"] == [
        {"ResourceId": channel, "TagsList": [{"Key": "b", "Value": "2"}]}]
    other = Tenant(links_server).client()
    assert code(other.list_tags, ResourceIdList=[channel]) == "ResourceNotFoundException"
    assert code(other.add_tags, ResourceId=channel, TagsList=[{"Key": "x", "Value": "y"}]) == (
        "ResourceNotFoundException")


# -- Insights on stores ----------------------------------------------------------------------

def test_insights_on_a_store(ct: Any) -> None:
    source, target = store(ct, "source"), store(ct, "insights", "Insight")
    assert code(ct.get_insight_selectors, EventDataStore=source) == (
        "InsightNotEnabledException")
    put = ct.put_insight_selectors(EventDataStore=source, InsightsDestination=target,
                                   InsightSelectors=CALL_RATE)
    assert put["EventDataStoreArn"] == source and put["InsightsDestination"] == target
    assert put["InsightSelectors"] == CALL_RATE and "TrailARN" not in put
    got = ct.get_insight_selectors(EventDataStore=source.rsplit("/", 1)[1])
    assert got["InsightsDestination"] == target
    assert got["InsightSelectors"] == CALL_RATE
    # Selectors that drop write management events would starve ApiCallRateInsight.
    assert code(ct.update_event_data_store, EventDataStore=source, AdvancedEventSelectors=[
        {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]},
                            {"Field": "readOnly", "Equals": ["true"]}]}]) == (
        "InvalidInsightSelectorsException")
    off = ct.put_insight_selectors(EventDataStore=source, InsightSelectors=[])
    assert off["InsightSelectors"] == [] and "InsightsDestination" not in off
    assert code(ct.get_insight_selectors, EventDataStore=source) == (
        "InsightNotEnabledException")


def test_insights_validation(tenant: Tenant, ct: Any) -> None:
    source, target = store(ct, "source"), store(ct, "insights", "Insight")
    ct.create_trail(Name="trail", S3BucketName="any-bucket")
    assert code(ct.put_insight_selectors, TrailName="trail", EventDataStore=source,
                InsightsDestination=target, InsightSelectors=CALL_RATE) == (
        "InvalidParameterCombinationException")
    assert code(ct.get_insight_selectors, TrailName="trail", EventDataStore=source) == (
        "InvalidParameterCombinationException")
    found, message = error(ct.put_insight_selectors, EventDataStore=source,
                           InsightSelectors=CALL_RATE)
    assert found == "InvalidParameterCombinationException" and "InsightsDestination" in message
    assert code(ct.put_insight_selectors, EventDataStore=source, InsightsDestination=source,
                InsightSelectors=CALL_RATE) == "InvalidEventDataStoreCategoryException"
    assert code(ct.put_insight_selectors, EventDataStore=source, InsightsDestination=target,
                InsightSelectors=[{"InsightType": "ApiCallRateInsight",
                                   "EventCategories": ["Data"]}]) == (
        "InvalidInsightSelectorsException")
    reads = ct.create_event_data_store(Name="reads", AdvancedEventSelectors=[
        {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]},
                            {"Field": "readOnly", "Equals": ["true"]}]}])["EventDataStoreArn"]
    assert code(ct.put_insight_selectors, EventDataStore=reads, InsightsDestination=target,
                InsightSelectors=CALL_RATE) == "InvalidInsightSelectorsException"
    errors = ct.put_insight_selectors(EventDataStore=reads, InsightsDestination=target,
                                      InsightSelectors=[{"InsightType": "ApiErrorRateInsight"}])
    assert errors["InsightsDestination"] == target
    apps = store(ct, "apps", "ActivityAuditLog")
    assert code(ct.put_insight_selectors, EventDataStore=apps, InsightsDestination=target,
                InsightSelectors=CALL_RATE) == "InvalidInsightSelectorsException"
    missing = target.rsplit("/", 1)[0] + "/0b6b9a3e-1111-4222-8333-944444444444"
    assert code(ct.put_insight_selectors, EventDataStore=source, InsightsDestination=missing,
                InsightSelectors=CALL_RATE) == "EventDataStoreNotFoundException"
    # Trails keep their own Insights path.
    trail = ct.put_insight_selectors(TrailName="trail", InsightSelectors=CALL_RATE)
    assert trail["TrailARN"].endswith(":trail/trail")


def test_channel_errors_come_in_order(ct: Any) -> None:
    apps = store(ct, "apps", "ActivityAuditLog")
    missing = "arn:aws:cloudtrail:us-east-1:123456789012:channel/" + "0" * 8
    assert code(ct.update_channel, Channel="nosuchchannel", Destinations=dest(apps)) == (
        "ChannelNotFoundException")
    assert code(ct.update_channel, Channel=missing, Destinations=dest(apps)) == (
        "ChannelNotFoundException")


def test_malformed_destination_is_a_400(tenant: Tenant) -> None:
    for destinations in (["x"], [{"Type": "NOPE"}], "x"):
        response = tenant.call("CreateChannel", {"Name": "apps", "Source": "Custom",
                                                 "Destinations": destinations})
        assert response.status_code == 400
        assert response.json()["__type"] == "InvalidParameterException"
