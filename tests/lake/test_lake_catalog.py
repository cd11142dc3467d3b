"""StoreCatalog and store selection, unit-level with an injected clock.

The 7-day PENDING_DELETION purge (and its file hook), what the writer and query runner
call (`list_all`, `get_any`, `resolve`), `receives` and the public face of `opentrail.lake`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import opentrail.lake
from opentrail.clock import ManualClock
from opentrail.config import Settings
from opentrail.errors import (
    EventDataStoreARNInvalid,
    EventDataStoreNotFound,
    InactiveEventDataStore,
    InvalidEventSelectors,
    InvalidTagParameter,
)
from opentrail.events import Category
from opentrail.lake import EventDataStore, StoreCatalog, check_store_selectors, receives
from opentrail.service import Service

A, B = "111111111111", "222222222222"
DAY = 86400.0
START = 1_800_000_000.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def catalog(tmp_path: Path, clock: ManualClock) -> Iterator[StoreCatalog]:
    catalog = StoreCatalog(tmp_path, clock)
    yield catalog
    catalog.close()


def make(catalog: StoreCatalog, name: str = "audit", account: str = A,
         **settings: Any) -> EventDataStore:
    store, _ = catalog.create(account, "us-east-1", name,
                              {"TerminationProtectionEnabled": False, **settings}, start_seq=42)
    return store


def test_public_face() -> None:
    assert set(opentrail.lake.__all__) >= {
        "EventDataStore", "StoreCatalog", "check_store_selectors", "receives",
        "parse_store_ref", "STORE_SETTINGS"}
    for name in opentrail.lake.__all__:
        assert hasattr(opentrail.lake, name)


def test_model_fields(catalog: StoreCatalog) -> None:
    store = make(catalog)
    assert store.arn == f"arn:aws:cloudtrail:us-east-1:{A}:eventdatastore/{store.id}"
    assert (store.kind, store.category, store.receiving) == ("cloudtrail", "Management", True)
    assert store.start_seq == 42 and store.created == START
    insight = make(catalog, "ins", AdvancedEventSelectors=[
        {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Insight"]}]}])
    assert insight.kind == "insight"
    activity = make(catalog, "act", AdvancedEventSelectors=[
        {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["ActivityAuditLog"]}]}])
    assert activity.kind == "activity"


def test_what_the_writer_and_runner_read(catalog: StoreCatalog) -> None:
    mine, theirs = make(catalog), make(catalog, account=B)
    assert {s.id for s in catalog.list_all()} == {mine.id, theirs.id}
    assert catalog.get_any(theirs.id) == theirs
    assert catalog.get_any("nope") is None
    assert catalog.resolve(mine.id, A) == mine
    assert catalog.resolve(mine.arn, A) == mine
    with pytest.raises(EventDataStoreNotFound):
        catalog.resolve(theirs.id, A)
    with pytest.raises(EventDataStoreNotFound):
        catalog.resolve(mine.id, A, "eu-west-1")
    with pytest.raises(EventDataStoreARNInvalid):
        catalog.resolve("arn:aws:cloudtrail:us-east-1:1:eventdatastore/x", A)
    catalog.delete(A, "us-east-1", mine.id)
    assert catalog.resolve(mine.id, A).status == "PENDING_DELETION"
    with pytest.raises(InactiveEventDataStore):
        catalog.resolve(mine.id, A, active=True)


def test_purge_after_seven_days(catalog: StoreCatalog, clock: ManualClock) -> None:
    store, kept = make(catalog), make(catalog, "kept")
    clock.advance(DAY)
    catalog.delete(A, "us-east-1", store.arn)
    deleted_files: list[str] = []

    def delete_files(gone: EventDataStore) -> None:
        deleted_files.append(gone.id)

    clock.advance(7 * DAY - 1)
    assert catalog.purge_due(delete_files=delete_files) == []
    clock.advance(1)
    [purged] = catalog.purge_due(delete_files=delete_files)
    assert purged.id == store.id and deleted_files == [store.id]
    assert catalog.get_any(store.id) is None
    assert catalog.get_any(kept.id) is not None
    again, _ = catalog.create(A, "us-east-1", "audit", {}, start_seq=0)  # the name is free
    assert again.id != store.id


def test_purge_by_explicit_now(catalog: StoreCatalog) -> None:
    store = make(catalog)
    catalog.delete(A, "us-east-1", store.arn)
    assert catalog.purge_due(START + 6 * DAY) == []
    assert [s.id for s in catalog.purge_due(START + 7 * DAY)] == [store.id]


def test_purge_waits_for_the_files(catalog: StoreCatalog, clock: ManualClock) -> None:
    store = make(catalog)
    catalog.delete(A, "us-east-1", store.arn)
    clock.advance(8 * DAY)

    def broken(_: EventDataStore) -> None:
        raise OSError("bucket gone")

    assert catalog.purge_due(delete_files=broken) == []
    assert catalog.get_any(store.id) is not None  # tried again next time
    assert [s.id for s in catalog.purge_due()] == [store.id]


def test_restored_store_is_not_purged(catalog: StoreCatalog, clock: ManualClock) -> None:
    store = make(catalog)
    catalog.delete(A, "us-east-1", store.arn)
    clock.advance(3 * DAY)
    assert catalog.restore(A, "us-east-1", store.arn).status == "ENABLED"
    clock.advance(30 * DAY)
    assert catalog.purge_due() == []


def test_service_maintenance_purges_with_the_hook(tmp_path: Path) -> None:
    clock = ManualClock(START)
    service = Service.open(Settings(data_dir=tmp_path / "data"), clock, indexer="thread")
    try:
        assert service.lake is not None
        store = make(service.lake)
        service.lake.delete(A, "us-east-1", store.arn)
        gone: list[str] = []
        service.lake_delete_files = lambda s: gone.append(s.id)
        clock.advance(7 * DAY)
        service._purge_lake(service.lake)
        assert gone == [store.id] and service.lake.get_any(store.id) is None
    finally:
        service.close()


# -- selectors and receives ------------------------------------------------------------------

def _selectors(category: str, *fields: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"FieldSelectors": [{"Field": "eventCategory", "Equals": [category]}, *fields]}]


def event(**extra: Any) -> dict[str, Any]:
    return {"eventSource": "ec2.amazonaws.com", "eventName": "RunInstances",
            "readOnly": False, "eventCategory": "Management", **extra}


def test_check_store_selectors_messages() -> None:
    with pytest.raises(InvalidEventSelectors, match="at most 5"):
        check_store_selectors(_selectors("Management") * 6)
    with pytest.raises(InvalidEventSelectors, match="only field"):
        check_store_selectors(_selectors("Insight", {"Field": "eventName", "Equals": ["x"]}))
    with pytest.raises(InvalidEventSelectors, match="wildcard"):
        check_store_selectors(_selectors("Management", {"Field": "eventName",
                                                        "StartsWith": ["Get*"]}))
    with pytest.raises(InvalidEventSelectors, match="one category"):
        check_store_selectors(_selectors("Management") + _selectors("Insight"))
    with pytest.raises(InvalidEventSelectors, match="an event data store may have at most 500"):
        check_store_selectors(_selectors("Management", {
            "Field": "eventName", "Equals": [str(i) for i in range(501)]}))


def store_with(catalog: StoreCatalog, **settings: Any) -> EventDataStore:
    return make(catalog, "s" + str(len(catalog.list_all())) + "xx", **settings)


def test_receives_account_region_status(catalog: StoreCatalog) -> None:
    store = store_with(catalog, MultiRegionEnabled=False)
    assert receives(store, A, "us-east-1", event(), Category.MANAGEMENT)
    assert not receives(store, B, "us-east-1", event(), Category.MANAGEMENT)
    assert not receives(store, A, "eu-west-1", event(), Category.MANAGEMENT)
    multi = store_with(catalog)
    assert receives(multi, A, "eu-west-1", event(), Category.MANAGEMENT)
    stopped = catalog.stop_ingestion(A, "us-east-1", multi.arn)
    assert not receives(stopped, A, "us-east-1", event(), Category.MANAGEMENT)
    org = store_with(catalog, OrganizationEnabled=True)
    assert receives(org, B, "eu-west-1", event(), Category.MANAGEMENT)


def test_receives_by_selectors_and_category(catalog: StoreCatalog) -> None:
    writes = store_with(catalog, AdvancedEventSelectors=_selectors(
        "Management", {"Field": "readOnly", "Equals": ["false"]},
        {"Field": "eventSource", "NotEquals": ["kms.amazonaws.com"]}))
    assert receives(writes, A, "us-east-1", event(), Category.MANAGEMENT)
    assert not receives(writes, A, "us-east-1", event(readOnly=True), Category.MANAGEMENT)
    assert not receives(writes, A, "us-east-1", event(eventSource="kms.amazonaws.com"),
                        Category.MANAGEMENT)
    data = event(eventCategory="Data", managementEvent=False,
                 resources=[{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::b/k"}])
    assert not receives(writes, A, "us-east-1", data, Category.DATA)
    s3 = store_with(catalog, AdvancedEventSelectors=_selectors(
        "Data", {"Field": "resources.type", "Equals": ["AWS::S3::Object"]}))
    assert receives(s3, A, "us-east-1", data, Category.DATA)
    assert not receives(s3, A, "us-east-1", event(), Category.MANAGEMENT)
    activity = {"eventCategory": "ActivityAuditLog", "eventType": "ActivityLog",
                "metadata": {"channelARN": "arn:aws:cloudtrail:us-east-1:1:channel/c"}}
    assert not receives(writes, A, "us-east-1", activity, Category.MANAGEMENT)
    apps = store_with(catalog, AdvancedEventSelectors=_selectors("ActivityAuditLog"))
    assert receives(apps, A, "us-east-1", activity, Category.MANAGEMENT)
    assert receives(apps, A, "us-east-1", activity, Category.MANAGEMENT,
                    channel_stores={apps.arn})
    assert not receives(apps, A, "us-east-1", activity, Category.MANAGEMENT,
                        channel_stores={writes.arn})
    assert not receives(apps, A, "us-east-1", event(), Category.MANAGEMENT)


def _insight(kind: str = "ApiCallRateInsight") -> dict[str, Any]:
    return {"eventCategory": "Insight", "eventType": "AwsCloudTrailInsight",
            "insightDetails": {"state": "Start", "insightType": kind}}


def test_insight_store_receives_once_a_source_sends(catalog: StoreCatalog) -> None:
    """An Insight store receives the Insights events a source store sends it: of the
    source's account and regions and of the insight types it selected. (Before, any
    Insights event of the destination's own account reached a destination once some
    source had named it, whatever the type, the region or the source's settings.)"""
    dest = store_with(catalog, AdvancedEventSelectors=_selectors("Insight"))
    assert not receives(dest, A, "us-east-1", _insight(), Category.INSIGHT)
    source = store_with(catalog, MultiRegionEnabled=False)
    catalog.set_insights(A, "us-east-1", source.arn, [{"InsightType": "ApiCallRateInsight"}],
                         dest.id)
    dest = catalog.resolve(dest.id, A)
    assert [s["arn"] for s in dest.insight_sources] == [source.arn]
    assert receives(dest, A, "us-east-1", _insight(), Category.INSIGHT)
    assert not receives(dest, A, "us-east-1", _insight("ApiErrorRateInsight"),
                        Category.INSIGHT)
    assert not receives(dest, A, "eu-west-1", _insight(), Category.INSIGHT)  # source's region
    assert not receives(dest, B, "us-east-1", _insight(), Category.INSIGHT)
    assert not receives(source, A, "us-east-1", _insight(), Category.INSIGHT)
    assert opentrail.lake.insight_source(dest, A, "us-east-1", _insight()) == source.arn


def test_insight_store_of_an_organization_source(tmp_path: Path) -> None:
    """An organization source sends every account's Insights events of its types to its
    destination, and the writer lets another account's event through to it."""
    import uuid

    from lakewriting import drain, ingest, make_writer

    catalog = StoreCatalog(tmp_path / "cat", ManualClock(START))
    try:
        dest = make(catalog, "org-insights", AdvancedEventSelectors=_selectors("Insight"))
        org = make(catalog, "org-trail", OrganizationEnabled=True)
        catalog.set_insights(A, "us-east-1", org.arn, [{"InsightType": "ApiCallRateInsight"}],
                             dest.id)
        dest = catalog.resolve(dest.id, A)
        assert opentrail.lake.insight_source(dest, B, "eu-west-1", _insight()) == org.arn
        assert not receives(dest, B, "eu-west-1", _insight("ApiErrorRateInsight"),
                            Category.INSIGHT)
        data = tmp_path / "data"
        records = [{"eventVersion": "1.07", "eventTime": "2026-01-02T03:04:00Z",
                    "eventType": "AwsCloudTrailInsight", "eventCategory": "Insight",
                    "awsRegion": "eu-west-1", "recipientAccountId": B,
                    "eventID": str(uuid.uuid4()), "sharedEventID": str(uuid.uuid4()),
                    "insightDetails": {
                        "state": "Start", "eventSource": "ec2.amazonaws.com",
                        "eventName": "RunInstances", "insightType": kind,
                        "insightContext": {"statistics": {
                            "baseline": {"average": 1.0}, "insight": {"average": 9.0},
                            "insightDuration": 1, "baselineDuration": 1440}}}}
                   for kind in ("ApiCallRateInsight", "ApiErrorRateInsight")]
        size = ingest(data, records)
        writer = make_writer(data, [dataclasses.replace(dest, start_seq=0)])
        drain(writer, size)
        assert sum(f.rows for f in writer.files(dest.id)) == 1
        assert all(f.key.startswith(f"account={B}/region=eu-west-1/")
                   for f in writer.files(dest.id))
        writer.close()
    finally:
        catalog.close()


def test_insight_store_of_several_sources(catalog: StoreCatalog) -> None:
    """Two sources may share one destination; turning one off leaves the other's route,
    and a source pending deletion sends nothing."""
    dest = store_with(catalog, AdvancedEventSelectors=_selectors("Insight"))
    east = make(catalog, "east", MultiRegionEnabled=False)
    errors = make(catalog, "errors")
    catalog.set_insights(A, "us-east-1", east.arn, [{"InsightType": "ApiCallRateInsight"}],
                         dest.id)
    catalog.set_insights(A, "us-east-1", errors.arn,
                         [{"InsightType": "ApiErrorRateInsight"}], dest.id)
    dest = catalog.resolve(dest.id, A)
    assert receives(dest, A, "eu-west-1", _insight("ApiErrorRateInsight"), Category.INSIGHT)
    assert not receives(dest, A, "eu-west-1", _insight(), Category.INSIGHT)
    assert receives(dest, A, "us-east-1", _insight(), Category.INSIGHT)
    catalog.set_insights(A, "us-east-1", east.arn, [], None)
    dest = catalog.resolve(dest.id, A)
    assert not receives(dest, A, "us-east-1", _insight(), Category.INSIGHT)
    assert receives(dest, A, "us-east-1", _insight("ApiErrorRateInsight"), Category.INSIGHT)
    catalog.update(A, "us-east-1", errors.arn, {"TerminationProtectionEnabled": False})
    catalog.delete(A, "us-east-1", errors.arn)
    dest = catalog.resolve(dest.id, A)
    assert dest.insight_sources == ()
    assert not receives(dest, A, "us-east-1", _insight("ApiErrorRateInsight"),
                        Category.INSIGHT)
    # the derived routing is never stored: the purge's compare-and-delete still matches
    catalog.set_insights(A, "us-east-1", east.arn, [{"InsightType": "ApiCallRateInsight"}],
                         dest.id)
    catalog.delete(A, "us-east-1", dest.arn)
    purged = catalog.purge_due(now=START + 8 * 86400)
    assert {s.id for s in purged} == {errors.id, dest.id}
    assert catalog.get_any(dest.id) is None


def test_insights_on_a_store_turn_the_engine_on(tmp_path: Path) -> None:
    service = Service.open(Settings(data_dir=tmp_path / "data"), ManualClock(START),
                           indexer="thread")
    try:
        assert service.lake is not None
        assert not service.insights_wanted()
        source = make(service.lake, MultiRegionEnabled=False)
        dest = make(service.lake, "insights", AdvancedEventSelectors=_selectors("Insight"))
        service.lake.set_insights(A, "us-east-1", source.arn,
                                  [{"InsightType": "ApiCallRateInsight"}], dest.id)
        assert service.insights_wanted()
        assert service.insights_enabled(A, "us-east-1", "ApiCallRateInsight")
        assert not service.insights_enabled(A, "us-east-1", "ApiErrorRateInsight")
        assert not service.insights_enabled(A, "eu-west-1", "ApiCallRateInsight")
        assert not service.insights_enabled(B, "us-east-1", "ApiCallRateInsight")
    finally:
        service.close()


def test_too_many_tags_at_create(catalog: StoreCatalog) -> None:
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    with pytest.raises(InvalidTagParameter, match="at most 50"):
        catalog.create(A, "us-east-1", "tagged", {}, start_seq=0, tags=tags)


@pytest.mark.parametrize("size", [1, 2, 3, 9, 10, 1000])
def test_pages_list_every_store_once(catalog: StoreCatalog, clock: ManualClock,
                                     size: int) -> None:
    made = []
    for i in range(9):
        clock.advance(1)
        made.append(make(catalog, f"store-{i}").id)
    seen: list[str] = []
    token: str | None = None
    while True:
        page, token = catalog.page(A, "us-east-1", size, token)
        seen += [s.id for s in page]
        if token is None:
            break
    assert seen == made
