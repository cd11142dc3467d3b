"""The activity overview read from a real server's history index."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import Server, free_port, make_event, post_records, wait_until
from opentrail.clock import SystemClock
from opentrail.console import _activity
from opentrail.console._activity import ActivityIndex

pytestmark = pytest.mark.e2e

HOUR = 3600
# (hours ago, event name, count, errors) — each hour a different mix
PLAN = [(5, "DescribeInstances", 40, 0), (5, "RunInstances", 10, 4), (3, "GetObject", 25, 5),
        (1, "DescribeInstances", 7, 0)]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, int]]:
    live = Server(tmp_path_factory.mktemp("activity") / "data", free_port())
    live.start()
    top = int(time.time()) // HOUR * HOUR  # the start of the current hour
    records: list[dict[str, Any]] = []
    for ago, name, count, errors in PLAN:
        for i in range(count):
            extra = {"errorCode": "AccessDenied"} if i < errors else {}
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(top - ago * HOUR + i * 7))
            records.append(make_event(name, when=when, **extra))
    post_records(live, records)
    ct: Any = live.client(role="reader")
    wait_until(lambda: len(ct.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "GetObject"}])["Events"]) == 25)
    yield live, top
    live.kill(signal.SIGTERM)


def _overview(server: Server, top: int) -> _activity.Overview:
    index = ActivityIndex(server.data_dir, SystemClock())
    return index.overview(("123456789012",), "us-east-1", top - 6 * HOUR, top - 1)


def test_counts_per_hour_and_tops_are_exact_for_small_ranges(seeded: tuple[Server, int]) -> None:
    server, top = seeded
    data = _overview(server, top)
    assert data.lo == top - 6 * HOUR and len(data.counts) == 6
    assert data.counts == [0, 50, 0, 25, 0, 7]
    assert data.errors == [0, 4, 0, 5, 0, 0]
    assert data.total == 82 and data.error_rate == pytest.approx(9 / 82)
    assert data.exact
    assert data.top_names == [("DescribeInstances", 47), ("GetObject", 25), ("RunInstances", 10)]
    assert data.top_users == [("alice", 82)]


def test_a_sample_still_adds_up_to_the_exact_total(seeded: tuple[Server, int],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    server, top = seeded
    monkeypatch.setattr(_activity, "SAMPLE", 6)  # 2 probes per busy hour
    data = _overview(server, top)
    assert data.counts == [0, 50, 0, 25, 0, 7]  # counts never come from the sample
    assert not data.exact and data.sampled <= 6
    assert abs(sum(n for _, n in data.top_names) - 82) <= len(data.top_names)
    assert data.top_users == [("alice", 82)]


def test_regions_with_events_are_listed(seeded: tuple[Server, int]) -> None:
    server, _ = seeded
    index = ActivityIndex(server.data_dir, SystemClock())
    assert index.regions(("123456789012",)) == ["us-east-1"]
    assert index.regions(("999999999999",)) == []
