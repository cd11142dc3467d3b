"""TrailStore's contract, the same test body on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from opentrail.errors import (
    InsufficientS3BucketPolicy,
    MaximumNumberOfTrailsExceeded,
    TrailAlreadyExists,
    TrailNotFound,
)
from opentrail.trails import MAX_TRAILS_PER_REGION, Trail

A, B = "111111111111", "222222222222"


def _trail(name: str, region: str = "us-east-1", *, multi: bool = False, account: str = A,
           bucket: str = "bucket-a") -> Trail:
    return Trail(name=name, account=account, home_region=region, s3_bucket_name=bucket,
                 is_multi_region_trail=multi)


def test_round_trip_visible_and_order(backend: Any) -> None:
    store = backend.trails(own_buckets=False)
    store.create(_trail("zeta", "eu-west-1"))
    store.create(_trail("Alpha", multi=True))
    store.create(_trail("beta"))
    store.create(_trail("other", account=B))
    assert [t.name for t in store.list(A)] == ["Alpha", "beta", "zeta"]  # binary order
    assert [t.name for t in store.list(None)] == ["Alpha", "beta", "other", "zeta"]
    assert [t.name for t in store.visible(A, "us-east-1")] == ["Alpha", "beta"]
    assert [t.name for t in store.visible(A, "eu-west-1")] == ["Alpha", "zeta"]
    zeta = store.get(A, "us-east-1", "arn:aws:cloudtrail:eu-west-1:111111111111:trail/zeta")
    assert zeta.home_region == "eu-west-1"
    assert store.find(B, "eu-west-1", zeta.arn) is None
    with pytest.raises(TrailNotFound):
        store.get(A, "us-east-1", "zeta")
    store.close()


def test_names_and_the_limit_per_region(backend: Any) -> None:
    store = backend.trails(own_buckets=False)
    store.create(_trail("t0"))
    with pytest.raises(TrailAlreadyExists):
        store.create(_trail("t0"))
    store.create(_trail("t0", "eu-west-1"))  # another region, not multi-region: allowed
    with pytest.raises(TrailAlreadyExists):
        store.create(_trail("t0", "ap-south-1", multi=True))
    for i in range(1, MAX_TRAILS_PER_REGION):
        store.create(_trail(f"t{i}"))
    with pytest.raises(MaximumNumberOfTrailsExceeded):
        store.create(_trail("late"))
    with pytest.raises(MaximumNumberOfTrailsExceeded):  # would count in us-east-1 too
        store.create(_trail("everywhere", "eu-west-1", multi=True))
    store.close()


def test_update_modify_status_and_delete(backend: Any) -> None:
    store = backend.trails(own_buckets=False)
    trail = store.create(_trail("main"))
    store.set_status(trail.arn, is_logging=True, latest_delivery_time=5.0)
    stale = store.get(A, "us-east-1", "main")
    stale.s3_key_prefix = "logs"
    updated = store.update(stale)
    assert updated.status.is_logging and updated.status.latest_delivery_time == 5.0

    def add_tag(t: Trail) -> None:
        t.tags = [{"Key": "k", "Value": "v"}]

    store.modify(A, "us-east-1", "main", add_tag)
    got = store.get(A, "us-east-1", "main")
    assert got.s3_key_prefix == "logs" and got.tags == [{"Key": "k", "Value": "v"}]

    def refuse(t: Trail) -> None:
        t.s3_key_prefix = "never"
        raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        store.modify(A, "us-east-1", "main", refuse)
    assert store.get(A, "us-east-1", "main").s3_key_prefix == "logs"  # rolled back
    store.delete(A, "us-east-1", "main")
    assert store.list(A) == []
    with pytest.raises(TrailNotFound):
        store.set_status(trail.arn, is_logging=False)
    store.close()


def test_bucket_owners(backend: Any) -> None:
    store = backend.trails(own_buckets=True)
    store.create(_trail("mine", bucket="shared"))
    with pytest.raises(InsufficientS3BucketPolicy):
        store.create(_trail("theirs", account=B, bucket="shared"))
    store.delete(A, "us-east-1", "mine")
    with pytest.raises(InsufficientS3BucketPolicy):  # the owner stays after its trails
        store.create(_trail("theirs", account=B, bucket="shared"))
    store.create(_trail("theirs", account=B, bucket="own-b"))
    store.close()


def test_a_trail_made_on_one_node_is_seen_by_another(backends: Any) -> None:
    one, two = backends.open().trails(own_buckets=False), backends.open().trails(
        own_buckets=False)
    one.create(_trail("main"))
    assert two.get(A, "us-east-1", "main").name == "main"
    two.set_status(two.get(A, "us-east-1", "main").arn, is_logging=True)
    assert one.get(A, "us-east-1", "main").status.is_logging
    one.close()
    two.close()


def test_concurrent_creates_on_two_nodes_keep_the_limit(backends: Any) -> None:
    stores = [backends.open().trails(own_buckets=False) for _ in range(2)]
    outcomes: list[str] = []

    def create(i: int) -> None:
        try:
            stores[i % 2].create(_trail(f"t{i}"))
            outcomes.append("ok")
        except MaximumNumberOfTrailsExceeded:
            outcomes.append("limit")

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("ok") == MAX_TRAILS_PER_REGION
    assert len(stores[0].list(A)) == MAX_TRAILS_PER_REGION
    for store in stores:
        store.close()


def test_concurrent_modifications_on_two_nodes_are_all_kept(backends: Any) -> None:
    stores = [backends.open().trails(own_buckets=False) for _ in range(2)]
    trail = stores[0].create(_trail("shared"))

    def tag(i: int) -> None:
        def change(t: Trail) -> None:
            t.tags = [*t.tags, {"Key": f"k{i}", "Value": "v"}]

        stores[i % 2].modify(A, "us-east-1", trail.arn, change)

    threads = [threading.Thread(target=tag, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tags = stores[1].get(A, "us-east-1", "shared").tags
    assert sorted(t["Key"] for t in tags) == sorted(f"k{i}" for i in range(10))
    for store in stores:
        store.close()
