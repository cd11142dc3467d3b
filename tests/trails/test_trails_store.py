"""TrailStore: persistence, name resolution by region, limits, and status beside config."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from opentrail.errors import NotFound, ValidationError
from opentrail.trails import MAX_TRAILS_PER_REGION, Trail, TrailStore, parse_trail_ref

ACCOUNT = "123456789012"


def _trail(name: str, region: str = "us-east-1", *, multi: bool = False,
           account: str = ACCOUNT) -> Trail:
    return Trail(name=name, account=account, home_region=region, s3_bucket_name="bucket",
                 is_multi_region_trail=multi)


def _code(call: object, *args: object) -> str:
    assert callable(call)
    with pytest.raises((ValidationError, NotFound)) as info:
        call(*args)
    return str(info.value.code)


def test_round_trip_and_reopen(tmp_path: Path) -> None:
    store = TrailStore(tmp_path)
    trail = _trail("main")
    trail.event_selectors = [{"ReadWriteType": "ReadOnly"}]
    trail.tags = [{"Key": "k", "Value": "v"}]
    store.create(trail)
    store.set_status(trail.arn, is_logging=True, start_logging_time=100.0)
    store.close()
    again = TrailStore(tmp_path)
    got = again.get(ACCOUNT, "us-east-1", "main")
    assert got.event_selectors == [{"ReadWriteType": "ReadOnly"}]
    assert got.tags == [{"Key": "k", "Value": "v"}]
    assert got.status.is_logging and got.status.start_logging_time == 100.0
    assert again.get(ACCOUNT, "eu-west-1", trail.arn).name == "main"
    assert _code(again.get, ACCOUNT, "eu-west-1", "main") == "TrailNotFoundException"
    assert _code(again.get, "999999999999", "us-east-1", trail.arn) == "TrailNotFoundException"
    again.close()


def test_update_keeps_status_and_set_status_keeps_config(tmp_path: Path) -> None:
    store = TrailStore(tmp_path)
    trail = store.create(_trail("main"))
    stale = store.get(ACCOUNT, "us-east-1", "main")
    store.set_status(trail.arn, latest_delivery_error="bucket gone")
    stale.s3_key_prefix = "logs"
    updated = store.update(stale)
    assert updated.status.latest_delivery_error == "bucket gone"
    store.set_status(trail.arn, latest_delivery_error=None, latest_delivery_time=5.0)
    got = store.get(ACCOUNT, "us-east-1", "main")
    assert got.s3_key_prefix == "logs" and got.status.latest_delivery_time == 5.0
    with pytest.raises(TypeError):
        store.set_status(trail.arn, not_a_field=1)
    assert _code(store.set_status, trail.arn.replace("main", "gone")) == "TrailNotFoundException"


def test_multi_region_trail_is_visible_and_counts_everywhere(tmp_path: Path) -> None:
    store = TrailStore(tmp_path)
    store.create(_trail("everywhere", multi=True))
    for i in range(MAX_TRAILS_PER_REGION - 1):
        store.create(_trail(f"west{i}", "us-west-2"))
    assert {t.name for t in store.visible(ACCOUNT, "us-west-2")} == {
        "everywhere", "west0", "west1", "west2", "west3"}
    assert store.get(ACCOUNT, "ap-south-1", "everywhere").home_region == "us-east-1"
    code = _code(store.create, _trail("west4", "us-west-2"))
    assert code == "MaximumNumberOfTrailsExceededException"
    # Turning a single-region trail into a multi-region one must fit every region too.
    for i in range(3):
        store.create(_trail(f"east{i}"))
    east0 = store.get(ACCOUNT, "us-east-1", "east0")
    east0.is_multi_region_trail = True
    assert _code(store.update, east0) == "MaximumNumberOfTrailsExceededException"


def test_names_are_unique_where_trails_overlap(tmp_path: Path) -> None:
    store = TrailStore(tmp_path)
    store.create(_trail("same", "us-east-1"))
    store.create(_trail("same", "us-west-2"))  # single-region trails in two regions
    assert _code(store.create, _trail("same", "eu-west-1", multi=True)) == (
        "TrailAlreadyExistsException")
    store.create(_trail("same", account="210987654321"))
    assert len(store.list(ACCOUNT)) == 2 and len(store.list()) == 3


def test_delete(tmp_path: Path) -> None:
    store = TrailStore(tmp_path)
    trail = store.create(_trail("gone"))
    assert store.delete(ACCOUNT, "us-east-1", parse_trail_ref("gone")).arn == trail.arn
    assert store.list(ACCOUNT) == []
    assert _code(store.delete, ACCOUNT, "us-east-1", "gone") == "TrailNotFoundException"


def test_concurrent_creates_respect_the_limit(tmp_path: Path) -> None:
    stores = [TrailStore(tmp_path) for _ in range(2)]  # two connections, as two processes
    errors: list[str] = []

    def create(i: int) -> None:
        try:
            stores[i % 2].create(_trail(f"trail{i}"))
        except ValidationError as err:
            errors.append(err.code)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(stores[0].list(ACCOUNT)) == MAX_TRAILS_PER_REGION
    assert errors == ["MaximumNumberOfTrailsExceededException"] * 3


def test_concurrent_modifications_are_all_kept(tmp_path: Path) -> None:
    stores = [TrailStore(tmp_path) for _ in range(2)]
    trail = stores[0].create(_trail("shared"))

    def tag(i: int) -> None:
        def change(t: Trail) -> None:
            t.tags = [*t.tags, {"Key": f"k{i}", "Value": "v"}]

        stores[i % 2].modify(ACCOUNT, "us-east-1", trail.arn, change)

    threads = [threading.Thread(target=tag, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tags = stores[1].get(ACCOUNT, "us-east-1", "shared").tags
    assert sorted(t["Key"] for t in tags) == sorted(f"k{i}" for i in range(10))
    with pytest.raises(ValidationError):  # a change that raises writes nothing
        stores[0].modify(ACCOUNT, "us-east-1", "shared", _refuse)
    assert len(stores[0].get(ACCOUNT, "us-east-1", "shared").tags) == 10


def _refuse(trail: Trail) -> None:
    trail.tags = []
    raise ValidationError("no")
