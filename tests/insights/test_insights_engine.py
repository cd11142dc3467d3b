"""The engine in-process: a real ledger, a ManualClock, records in CloudTrail's shape."""

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
from opentrail.insights import InsightsEngine, minute_text
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
    def __init__(self, data_dir: Path, enabled: bool) -> None:
        self.clock = ManualClock((START + 9 * 1440 + 240) * 60)
        self.writer = LedgerWriter(data_dir, self.clock)
        self.writer.start()
        self.engine = InsightsEngine(data_dir, self.clock, self.writer,
                                     lambda account, region, kind: enabled)

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
        self.writer.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path, enabled=True)
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


def test_nothing_recorded_when_not_enabled(tmp_path: Path, history: list[dict[str, Any]]
                                           ) -> None:
    off = Rig(tmp_path, enabled=False)
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
