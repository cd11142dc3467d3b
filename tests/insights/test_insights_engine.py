"""The engine in-process: a real ledger, a ManualClock, records in CloudTrail's shape; on
both backends (its state in insights.db or in the database's tables), and handed from
one node to another on one database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from opentrail.clock import ManualClock
from opentrail.events import Category, parse_record
from opentrail.insights import CALL_RATE, InsightsEngine, minute_text
from opentrail.insights._engine import BATCH
from opentrail.insights._store import Tally
from opentrail.ledger import LedgerWriter

ACCOUNT = "123456789012"
START = 29_449_440  # 2025-12-29T00:00Z, in minutes
BURST = START + 8 * 1440 + 600


def _event(minute: int, name: str, second: int, **extra: Any) -> dict[str, Any]:
    event = {"eventVersion": "1.08", "eventTime": minute_text(minute)[:-3] + f"{second:02d}Z",
             "eventSource": "ec2.amazonaws.com", "eventName": name, "awsRegion": "us-east-1",
             "eventID": str(uuid.uuid4()), "readOnly": False, "recipientAccountId": ACCOUNT,
             "eventType": "AwsApiCall", "userAgent": "aws-cli/2",
             "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/alice"}}
    event.update(extra)
    return event


def _history() -> list[dict[str, Any]]:
    """Nine days of 2 RunInstances/min; on day 8 mallory makes 40/min for 10 minutes
    and gets 10 AccessDenied a minute on DescribeSecrets."""
    rng = np.random.default_rng(4)
    out = [_event(m, "RunInstances", int(s)) for m in range(START, START + 9 * 1440)
           for s in rng.integers(0, 60, rng.poisson(2))]
    mallory = {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/mallory"}
    for m in range(BURST, BURST + 10):
        out += [_event(m, "RunInstances", i, userIdentity=mallory, userAgent="evil/1")
                for i in range(40)]
        out += [_event(m, "DescribeSecrets", i, readOnly=True, errorCode="AccessDenied",
                       userIdentity=mallory) for i in range(10)]
    return out


@pytest.fixture(scope="module")
def history() -> list[dict[str, Any]]:
    return _history()


class Rig:
    def __init__(self, data_dir: Path, enabled: bool, backend: Any = None) -> None:
        """Embedded on `data_dir`'s files, or on `backend`'s ledger and Insights state."""
        self.clock = ManualClock((START + 9 * 1440 + 240) * 60)
        self.backend = backend
        self.writer = (LedgerWriter(data_dir, self.clock) if backend is None
                       else backend.ledger_writer(self.clock))
        self.writer.start()
        data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = InsightsEngine(
            data_dir, self.clock, self.writer, lambda account, region, kind: enabled,
            ledger=None if backend is None else backend.ledger_reader(),
            store=None if backend is None else backend.insights_store())

    def ingest(self, events: list[dict[str, Any]]) -> None:
        records = [parse_record(e, default_account=ACCOUNT, default_region="us-east-1")
                   for e in events]
        for i in range(0, len(records), 5000):
            self.writer.submit(records[i:i + 5000]).result()

    def run(self) -> list[dict[str, Any]]:
        while self.engine.count():
            pass
        self.engine.detect()
        rows = self.engine._ledger.rows(0, 1 << 62, category=int(Category.INSIGHT))
        return [orjson.loads(row.body) for row in rows if row.body is not None]

    def close(self) -> None:
        self.engine.close()
        if self.backend is not None:
            self.engine._ledger.close()
        self.writer.close()


@pytest.fixture
def rig(backend: Any, tmp_path: Path) -> Iterator[Rig]:
    """A rig on each backend in turn (the `backend` fixture's parameters)."""
    rig = Rig(tmp_path / "node", enabled=True, backend=backend)
    yield rig
    rig.close()


def test_records_have_cloudtrails_insight_shape(rig: Rig, history: list[dict[str, Any]]) -> None:
    rig.ingest(history)
    found = rig.run()
    calls = {r["insightDetails"]["state"]: r for r in found
             if r["insightDetails"]["insightType"] == "ApiCallRateInsight"}
    start, end = calls["Start"], calls["End"]
    # CloudTrail's members, plus the provenance marker only the server writes (issue 10:
    # readers must tell these from ingested look-alikes; docs/security.md)
    assert set(start) == {"eventVersion", "eventTime", "awsRegion", "eventID", "eventType",
                          "recipientAccountId", "sharedEventID", "insightDetails",
                          "eventCategory", "opentrailOrigin"}
    assert start["opentrailOrigin"] == "server"
    assert start["eventType"] == "AwsCloudTrailInsight" and start["eventCategory"] == "Insight"
    assert start["sharedEventID"] == end["sharedEventID"] != start["eventID"]
    assert start["eventTime"] == minute_text(BURST) and end["eventTime"] == minute_text(BURST + 10)
    details = end["insightDetails"]
    assert (details["eventSource"], details["eventName"]) == ("ec2.amazonaws.com",
                                                              "RunInstances")
    assert "errorCode" not in details
    stats = details["insightContext"]["statistics"]
    assert stats["insightDuration"] == 10 and stats["baselineDuration"] == 10080
    assert stats["insight"]["average"] == pytest.approx(42, abs=1)
    assert stats["baseline"]["average"] == pytest.approx(2, abs=0.1)
    attributions = {a["attribute"]: a for a in details["insightContext"]["attributions"]}
    assert set(attributions) == {"userIdentityArn", "userAgent", "errorCode"}
    assert attributions["userIdentityArn"]["insight"][0] == {
        "value": f"arn:aws:iam::{ACCOUNT}:user/mallory", "average": 40.0}
    assert attributions["errorCode"]["insight"] == [{"value": "null",
                                                    "average": pytest.approx(42, abs=1)}]
    errors = [r for r in found if r["insightDetails"]["insightType"] == "ApiErrorRateInsight"]
    assert {r["insightDetails"]["state"] for r in errors} == {"Start", "End"}
    assert all(r["insightDetails"]["errorCode"] == "AccessDenied" for r in errors)
    assert all("errorCode" not in {a["attribute"] for a in
                                   r["insightDetails"]["insightContext"]["attributions"]}
               for r in errors)


def test_rerun_gives_the_same_records(tmp_path: Path, history: list[dict[str, Any]]) -> None:
    first = Rig(tmp_path / "a", enabled=True)
    first.ingest(history)
    one = first.run()
    first.close()
    (tmp_path / "a" / "insights.db").unlink()  # derived state: rebuilt from the ledger
    again = Rig(tmp_path / "a", enabled=True)
    two = again.run()
    assert one == two and len(one) == 4  # same bodies; the ledger kept one of each
    again.close()
    other = Rig(tmp_path / "b", enabled=True)
    other.ingest(history)
    assert other.run() == one
    other.close()


def test_nothing_recorded_when_not_enabled(backend: Any, tmp_path: Path,
                                           history: list[dict[str, Any]]) -> None:
    off = Rig(tmp_path, enabled=False, backend=backend)
    off.ingest(history)
    assert off.run() == []
    assert sum(off.engine.store.metric(ACCOUNT, "us-east-1", (
        "ec2.amazonaws.com", "RunInstances", "ApiCallRateInsight", None),
        BURST, BURST + 10).values()) == 400 + sum(1 for e in history if e["eventTime"][:16]
                                                 >= minute_text(BURST)[:16]
                                                 and e["eventTime"][:16]
                                                 < minute_text(BURST + 10)[:16]
                                                 and e["eventName"] == "RunInstances"
                                                 and "mallory" not in str(e["userIdentity"]))
    off.close()


def test_live_traffic_start_within_two_minutes(rig: Rig, history: list[dict[str, Any]]
                                              ) -> None:
    """Minute by minute on the wall clock: the Start is written once the first burst
    minute is over (plus the lateness allowance), before the burst ends."""
    quiet = [e for e in history if e["eventTime"] < minute_text(BURST)]
    rig.ingest(quiet)
    rig.clock = ManualClock(BURST * 60 + 10)
    rig.engine._clock = rig.clock
    assert rig.run() == []
    burst = [e for e in history if minute_text(BURST) <= e["eventTime"] < minute_text(BURST + 1)]
    rig.ingest(burst)
    rig.clock.advance(60 + 30)  # the minute is over and late events had their chance
    started = rig.run()
    assert {r["insightDetails"]["state"] for r in started} == {"Start"}
    assert {r["eventTime"] for r in started} == {minute_text(BURST)}


def test_a_node_taking_insights_over_goes_on_from_the_shared_cursor(
        backends: Any, tmp_path: Path, history: list[dict[str, Any]]) -> None:
    """Two processes on one data dir, or two nodes on one database: the second engine
    starts where the first stopped (nothing counted twice, nothing skipped), and the
    first, not yet aware it lost the role, cannot add its next batch."""
    one = Rig(tmp_path / "one", enabled=True, backend=backends.open())
    one.ingest(history)
    assert one.engine.count() == BATCH and one.engine.count() == BATCH
    stale = one.engine.cursor
    two = Rig(tmp_path / "two", enabled=True, backend=backends.open())
    assert two.engine.cursor == stale  # the stored cursor, not 0
    found = two.run()
    assert one.engine.analysed + two.engine.analysed == len(history)  # no re-count
    assert len(found) == 4 and len({r["eventID"] for r in found}) == 4  # once each
    assert one.engine.count() == 0  # refused: the cursor moved on from `stale`
    assert one.engine.cursor == two.engine.cursor > stale
    runs = sum(1 for e in history if e["eventName"] == "RunInstances")
    for node in (one, two):  # every node reads the same counters, each event once
        assert sum(node.engine.store.metric(ACCOUNT, "us-east-1", (
            "ec2.amazonaws.com", "RunInstances", CALL_RATE, None), START,
            START + 9 * 1440).values()) == runs
    one.engine.detect()  # deciding again on the first node finds nothing new to write
    assert two.run() == found
    one.close()
    two.close()


def test_a_stale_writer_changes_nothing_and_long_values_are_kept(backend: Any) -> None:
    """The store's contract on both backends: `add` and `save` move the cursor and a
    partition's decided minute only from where their writer read them; values of any
    length (they come from ingested records) are stored and found."""
    store = backend.insights_store()
    name, agent = "Run" + "x" * 4000, "agent/" + "y" * 4000
    tally = Tally()
    sid = tally.number((ACCOUNT, "us-east-1", "ec2.amazonaws.com", name, CALL_RATE, ""))
    tally.counts[(sid, 100)] = 3
    tally.attributions[(sid, "userAgent", agent, 100)] = 3
    tally.spans[(ACCOUNT, "us-east-1")] = (100, 100)
    assert store.cursor() == 0 and store.add(tally, 0, 10)
    assert not store.add(tally, 0, 20)  # a writer that read the cursor before it moved
    assert store.cursor() == 10
    key = ("ec2.amazonaws.com", name, CALL_RATE, None)
    assert store.metric(ACCOUNT, "us-east-1", key, 0, 200) == {100: 3}  # not 6
    assert store.metric(None, "us-east-1", key, 0, 200) == {100: 3}
    [(series, found, state)] = store.live_series(ACCOUNT, "us-east-1", 0)
    assert found.name == name and state is None
    assert store.attribution(series, "userAgent", 100, 101) == {agent: 3}
    assert list(store.counts(series, 99, 102)) == [0.0, 3.0, 0.0]
    assert store.save([(series, {"open": {"start": 100}})], ACCOUNT, "us-east-1", 100, 105)
    assert not store.save([(series, {"stale": True})], ACCOUNT, "us-east-1", 100, 106)
    [part] = store.partitions()
    assert (part.first, part.latest, part.decided) == (100, 100, 105)
    # an open Insight keeps its series live however old its last count
    assert [s[2] for s in store.live_series(ACCOUNT, "us-east-1", 1000)] == [
        {"open": {"start": 100}}]
    older = Tally()
    older.counts[(older.number(
        (ACCOUNT, "us-east-1", "ec2.amazonaws.com", name, CALL_RATE, "")), 50)] = 1
    older.spans[(ACCOUNT, "us-east-1")] = (50, 50)
    assert store.add(older, 10, 11)  # older than decided - slack: decide again from 50
    [part] = store.partitions()
    assert (part.first, part.decided) == (50, 50)
    assert [s[2] for s in store.live_series(ACCOUNT, "us-east-1", 0)] == [None]
    store.close()
