"""ChannelRegistry's contract, the same test body on SQLite and on PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from opentrail.channels import MAX_CHANNELS
from opentrail.errors import NotFound, ValidationError

A, B = "111111111111", "222222222222"
DEST = [{"Type": "AWS_SERVICE", "Location": "somewhere"}]


def _code(call: Any, *args: Any) -> str:
    with pytest.raises((ValidationError, NotFound)) as info:
        call(*args)
    return str(info.value.code)


def test_create_get_list_update_delete(backend: Any) -> None:
    registry = backend.channels()
    zed = registry.create(A, "us-east-1", "zed", "custom", DEST, [])
    alpha = registry.create(A, "us-east-1", "Alpha", "custom", DEST, [{"Key": "k"}])
    registry.create(A, "eu-west-1", "zed", "custom", DEST, [])  # another region
    assert [c.name for c in registry.list(A, "us-east-1")] == ["Alpha", "zed"]
    channel_id = zed.arn.rsplit("/", 1)[1]
    assert registry.get(A, "us-east-1", channel_id).arn == zed.arn
    assert registry.get(A, "us-east-1", zed.arn).tags == []
    assert registry.get(A, "us-east-1", alpha.arn).tags == [{"Key": "k"}]
    assert registry.owner_of(zed.arn) is not None
    assert registry.owner_of(zed.arn + "x") is None
    assert _code(registry.get, B, "us-east-1", zed.arn) == "ChannelNotFoundException"
    assert _code(registry.get, A, "us-east-1", "%") == "ChannelNotFoundException"
    assert _code(registry.create, A, "us-east-1", "zed", "custom", DEST, []) == (
        "ChannelAlreadyExistsException")
    assert _code(registry.update, A, "us-east-1", alpha.arn, "zed", None) == (
        "ChannelAlreadyExistsException")
    renamed = registry.update(A, "us-east-1", alpha.arn, "beta", None)
    assert registry.get(A, "us-east-1", alpha.arn).name == renamed.name == "beta"
    registry.set_tags(zed.arn, [{"Key": "x", "Value": "y"}])
    registry.record_ingestion(zed.arn, {"LatestIngestionSuccessEventID": "e1"})
    got = registry.get(A, "us-east-1", zed.arn)
    assert got.tags == [{"Key": "x", "Value": "y"}]
    assert got.ingestion == {"LatestIngestionSuccessEventID": "e1"}
    assert registry.get(A, "us-east-1", alpha.arn).ingestion == {}
    registry.delete(A, "us-east-1", zed.arn)
    assert _code(registry.get, A, "us-east-1", zed.arn) == "ChannelNotFoundException"
    registry.close()


def test_limit_per_region_and_a_second_node(backends: Any) -> None:
    one, two = backends.open().channels(), backends.open().channels()
    for i in range(MAX_CHANNELS):
        (one if i % 2 else two).create(A, "us-east-1", f"ch-{i:02}", "custom", DEST, [])
    assert _code(one.create, A, "us-east-1", "late", "custom", DEST, []) == (
        "ChannelMaxLimitExceededException")
    assert len(two.list(A, "us-east-1")) == MAX_CHANNELS
    one.close()
    two.close()
