"""StoreCatalog's contract (the Lake catalog), the same test body on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from opentrail.clock import ManualClock
from opentrail.errors import (
    EventDataStoreAlreadyExists,
    EventDataStoreMaxLimitExceeded,
    EventDataStoreNotFound,
    InactiveEventDataStore,
)
from opentrail.lake import MAX_STORES_PER_REGION, PENDING_DAYS

A, B = "111111111111", "222222222222"
START = 1_800_000_000.0


def _make(catalog: Any, name: str, account: str = A, region: str = "us-east-1") -> Any:
    store, _ = catalog.create(account, region, name, {"TerminationProtectionEnabled": False},
                              start_seq=7, tags=[{"Key": "team", "Value": "sec"}])
    return store


def test_lifecycle_tags_and_purge(backend: Any) -> None:
    clock = ManualClock(START)
    catalog = backend.catalog(clock)
    store = _make(catalog, "audit")
    clock.advance(1)
    other = _make(catalog, "Other")
    _make(catalog, "audit", account=B)
    assert [s.name for s in catalog.list(A, "us-east-1")] == ["audit", "Other"]  # by age
    assert [s.name for s in catalog.list_all()] == ["Other", "audit", "audit"]
    assert catalog.get_any(store.id) == store
    assert catalog.resolve(store.arn, A).id == store.id
    with pytest.raises(EventDataStoreNotFound):
        catalog.resolve(store.id, B)
    with pytest.raises(EventDataStoreAlreadyExists):
        catalog.update(A, "us-east-1", other.id, {"Name": "audit"})
    assert catalog.update(A, "us-east-1", other.id, {"Name": "renamed"}).name == "renamed"
    assert catalog.tags(store) == [{"Key": "team", "Value": "sec"}]
    catalog.add_tags(store, [{"Key": "env", "Value": "prod"}])
    catalog.remove_tags(store, [{"Key": "team"}])
    assert catalog.tags(store) == [{"Key": "env", "Value": "prod"}]
    catalog.stop_ingestion(A, "us-east-1", store.id)
    deleted = catalog.delete(A, "us-east-1", store.id)
    assert deleted.status == "PENDING_DELETION"
    with pytest.raises(InactiveEventDataStore):
        catalog.resolve(store.id, A, active=True)
    assert catalog.restore(A, "us-east-1", store.id).status == "STOPPED_INGESTION"
    catalog.delete(A, "us-east-1", store.id)
    clock.advance(PENDING_DAYS * 86400)
    removed: list[str] = []
    assert [s.id for s in catalog.purge_due(delete_files=lambda s: removed.append(s.id))] == [
        store.id]
    assert removed == [store.id] and catalog.get_any(store.id) is None
    catalog.close()


def test_limit_and_names_across_two_nodes(backends: Any) -> None:
    one, two = backends.open().catalog(ManualClock(START)), backends.open().catalog(
        ManualClock(START))
    for i in range(MAX_STORES_PER_REGION):
        _make(one if i % 2 else two, f"store-{i}")
    with pytest.raises(EventDataStoreMaxLimitExceeded):
        _make(one, "late")
    _make(two, "store-0", region="eu-west-1")
    with pytest.raises(EventDataStoreAlreadyExists):
        _make(one, "store-0", region="eu-west-1")
    assert len(one.list(A, "us-east-1")) == MAX_STORES_PER_REGION
    assert [s.region for s in one.list(A, "eu-west-1")] == ["eu-west-1"]
    one.close()
    two.close()


def test_pages_insight_sources_and_a_purge_that_waits_for_files(backend: Any) -> None:
    clock = ManualClock(START)
    catalog = backend.catalog(clock)
    made = []
    for i in range(5):
        clock.advance(1)
        made.append(_make(catalog, f"store-{i}").id)
    seen: list[str] = []
    token = None
    while True:
        page, token = catalog.page(A, "us-east-1", 2, token)
        seen += [s.id for s in page]
        if token is None:
            break
    assert seen == made
    dest, _ = catalog.create(A, "us-east-1", "insights", {
        "TerminationProtectionEnabled": False, "AdvancedEventSelectors": [{
            "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Insight"]}]}]},
        start_seq=0)
    catalog.set_insights(A, "us-east-1", made[0], [{"InsightType": "ApiCallRateInsight"}],
                         dest.id)
    assert [s["id"] for s in catalog.resolve(dest.id, A).insight_sources] == [made[0]]
    catalog.delete(A, "us-east-1", made[1])
    clock.advance(PENDING_DAYS * 86400)

    def fail(store: Any) -> None:
        raise OSError("bucket unreachable")

    assert catalog.purge_due(delete_files=fail) == []
    assert catalog.get_any(made[1]) is not None  # kept until its files are gone
    assert [s.id for s in catalog.purge_due(delete_files=lambda s: None)] == [made[1]]
    catalog.close()
