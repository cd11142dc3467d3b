"""Delivery in-process with a ManualClock: CloudTrail's exact key layout and body, per
region and account, once per interval, and no loss or duplicates across restarts."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import ACCOUNT, make_event
from opentrail.clock import ManualClock
from opentrail.events import canonical_bytes, parse_record
from opentrail.ledger import LedgerWriter
from opentrail.storage import FolderStorage, StorageError, StoredObject
from opentrail.trails import Trail, TrailStore, selects
from opentrail.trails._delivery import Delivery
from opentrail.trails._signing import SigningKeys

T0 = 1_795_000_000.0  # 2026-11-18T11:06:40Z
OTHER = "210987654321"
LOG_KEY = re.compile(
    r"^(?:(?P<prefix>.+)/)?AWSLogs/(?P<acct>\d{12})/CloudTrail/(?P<region>[a-z0-9-]+)/"
    r"(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P=acct)_CloudTrail_(?P=region)_"
    r"(?P=y)(?P=m)(?P=d)T\d{4}Z_[A-Za-z0-9]{16}\.json\.gz$")


class FlakyStorage(FolderStorage):
    """A folder that can be switched off, like a bucket that is gone or S3 that is down."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.down = False
        self.puts: list[str] = []

    def put(self, bucket: str, key: str, body: bytes,
            metadata: dict[str, str] | None = None) -> None:
        if self.down:
            raise StorageError("NoSuchBucket", "The specified bucket does not exist")
        self.puts.append(key)
        super().put(bucket, key, body, metadata)


@dataclass
class Rig:
    """The delivery pipeline without HTTP: ledger, trails, storage, keys, one clock."""

    data_dir: Path
    clock: ManualClock = field(default_factory=lambda: ManualClock(T0))
    delivery_interval: float = 300
    digest_interval: float = 3600

    def __post_init__(self) -> None:
        self.writer = LedgerWriter(self.data_dir, self.clock)
        self.writer.start()
        self.store = TrailStore(self.data_dir)
        self.storage = FlakyStorage(self.data_dir / "buckets")
        self.keys = SigningKeys(self.data_dir / "signing-keys", self.clock)
        self.delivery = self.new_delivery()

    def new_delivery(self) -> Delivery:
        return Delivery(self.data_dir, self.clock, self.store, self.storage, self.keys,
                        selects, delivery_interval=self.delivery_interval,
                        digest_interval=self.digest_interval)

    def close(self) -> None:
        self.delivery.close()
        self.writer.close()
        self.store.close()

    def trail(self, name: str = "main", **kw: Any) -> Trail:
        trail = Trail(name=name, account=kw.pop("account", ACCOUNT), home_region="us-east-1",
                      s3_bucket_name=kw.pop("bucket", "audit-bucket"), created=self.clock.now(),
                      **kw)
        self.store.create(trail)
        self.start(trail)
        return trail

    def start(self, trail: Trail) -> None:
        self.store.set_status(trail.arn, is_logging=True, start_logging_time=self.clock.now())

    def stop(self, trail: Trail) -> None:
        self.store.set_status(trail.arn, is_logging=False, stop_logging_time=self.clock.now())

    def ingest(self, *events: dict[str, Any]) -> list[dict[str, Any]]:
        records = [parse_record(e, default_account=ACCOUNT, default_region="us-east-1")
                   for e in events]
        assert all(self.writer.submit(records).result(timeout=30))
        return [json.loads(r.body) for r in records]

    def tick(self, seconds: float = 0) -> None:
        self.clock.advance(seconds)
        self.delivery.run_once()

    def objects(self, bucket: str = "audit-bucket", kind: str = "CloudTrail/") -> dict[
            str, StoredObject]:
        keys = [k for k in self.storage.list(bucket) if f"/{kind}" in k]
        return {k: self.storage.get(bucket, k) for k in keys}

    def records(self, bucket: str = "audit-bucket") -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for obj in self.objects(bucket).values():
            out.extend(json.loads(gzip.decompress(obj.body))["Records"])
        return out


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path / "data")
    yield r
    r.close()


def test_log_file_key_and_body_are_cloudtrails(rig: Rig) -> None:
    rig.trail(s3_key_prefix="org/logs")
    sent = rig.ingest(make_event("RunInstances"), make_event("StopInstances"))
    rig.tick(299)
    assert rig.objects() == {}, "nothing before the delivery interval"
    rig.tick(1)
    (key, obj), = rig.objects().items()
    m = LOG_KEY.match(key)
    assert m, key
    assert m["prefix"] == "org/logs" and m["acct"] == ACCOUNT and m["region"] == "us-east-1"
    assert key.split("_")[-2] == "20261118T1111Z"  # delivery time, minute precision
    raw = gzip.decompress(obj.body)
    stored = [canonical_bytes(e) for e in sent]
    assert raw == b'{"Records":[' + b",".join(stored) + b"]}"
    assert obj.metadata == {}


def test_one_file_per_region_and_only_the_trails_account(rig: Rig) -> None:
    rig.trail("everywhere", is_multi_region_trail=True)
    rig.trail("home-only", bucket="home-bucket")
    rig.ingest(make_event(region="us-east-1"), make_event(region="eu-west-1"),
               make_event(region="eu-west-1"), make_event(account=OTHER))
    rig.tick(300)
    regions = sorted(LOG_KEY.match(k)["region"] for k in rig.objects())  # type: ignore[index]
    assert regions == ["eu-west-1", "us-east-1"]
    assert len(rig.records()) == 3
    assert [LOG_KEY.match(k)["region"] for k in rig.objects("home-bucket")] == ["us-east-1"]  # type: ignore[index]
    assert all(r["recipientAccountId"] == ACCOUNT for r in rig.records())


def test_selectors_choose_events(rig: Rig) -> None:
    rig.trail(event_selectors=[{"ReadWriteType": "WriteOnly",
                                "IncludeManagementEvents": True}])
    rig.ingest(make_event("DescribeInstances", readOnly=True),
               make_event("RunInstances", readOnly=False))
    rig.tick(300)
    assert [r["eventName"] for r in rig.records()] == ["RunInstances"]


def test_events_before_start_logging_and_while_stopped_are_not_delivered(rig: Rig) -> None:
    rig.ingest(make_event("Before"))
    rig.clock.advance(5)
    trail = rig.trail()
    rig.clock.advance(5)
    rig.ingest(make_event("During"))
    rig.tick(300)
    rig.stop(trail)
    rig.tick(10)
    rig.ingest(make_event("WhileStopped"))
    rig.tick(600)
    rig.start(trail)
    rig.tick(1)
    rig.ingest(make_event("After"))
    rig.tick(300)
    assert sorted(r["eventName"] for r in rig.records()) == ["After", "During"]


def test_each_event_in_exactly_one_file_over_many_deliveries(rig: Rig) -> None:
    rig.trail(is_multi_region_trail=True)
    sent: list[str] = []
    for i in range(12):
        batch = [make_event(f"Call{i}", region=("us-east-1", "us-west-2")[j % 2])
                 for j in range(7)]
        sent += [e["eventID"] for e in rig.ingest(*batch)]
        rig.tick(150)
    rig.tick(300)
    got = [r["eventID"] for r in rig.records()]
    assert sorted(got) == sorted(sent)
    assert len(set(got)) == len(got)


def test_destination_failure_loses_nothing_and_backs_off(rig: Rig) -> None:
    trail = rig.trail()
    first = rig.ingest(make_event("One"))
    rig.storage.down = True
    rig.tick(300)
    status = rig.store.list(ACCOUNT)[0].status
    assert status.latest_delivery_error == "NoSuchBucket"
    assert status.latest_delivery_attempt_time == rig.clock.now()
    assert status.latest_delivery_time is None
    later = rig.ingest(make_event("Two"))
    attempts = len(rig.storage.puts)
    rig.tick(0.5)
    assert len(rig.storage.puts) == attempts, "backing off, not hammering"
    rig.tick(600)
    rig.storage.down = False
    rig.tick(600)
    got = [r["eventID"] for r in rig.records()]
    assert sorted(got) == sorted(e["eventID"] for e in first + later)
    status = rig.store.get(ACCOUNT, "us-east-1", trail.name).status
    assert status.latest_delivery_error is None
    assert status.latest_delivery_time == rig.clock.now()


def test_restart_redoes_the_outbox_with_the_same_key_and_bytes(rig: Rig) -> None:
    """A crash after the cursor moved but before the upload: the restarted delivery
    uploads exactly the file that was prepared, so nothing is lost or doubled."""
    rig.trail()
    sent = rig.ingest(*[make_event(f"E{i}") for i in range(5)])
    rig.storage.down = True
    rig.tick(300)
    with rig.delivery._rows.read() as tx:
        prepared = tx.outbox(rig.store.list(ACCOUNT)[0].arn)
    assert len(prepared) == 1
    rig.delivery.close()  # "crash": the process goes away with its memory
    rig.storage.down = False
    rig.delivery = rig.new_delivery()
    rig.tick(0)
    ((key, obj),) = rig.objects().items()
    assert key == prepared[0][3] and obj.body == prepared[0][4]
    rig.tick(300)
    assert sorted(r["eventID"] for r in rig.records()) == sorted(e["eventID"] for e in sent)


def test_deleted_and_recreated_trail_starts_over(rig: Rig) -> None:
    trail = rig.trail()
    rig.ingest(make_event("Old"))
    rig.tick(300)
    rig.store.delete(ACCOUNT, "us-east-1", trail.name)
    rig.tick(1)
    with rig.delivery._rows.read() as tx:
        assert tx.cursor(trail.arn) is None
    rig.trail(bucket="new-bucket")
    rig.ingest(make_event("New"))
    rig.tick(300)
    assert [r["eventName"] for r in rig.records("new-bucket")] == ["New"]


def _insight(kind: str) -> dict[str, Any]:
    import uuid

    return {"eventVersion": "1.07", "eventTime": "2026-11-18T10:00:00Z",
            "awsRegion": "us-east-1", "eventID": str(uuid.uuid4()),
            "eventType": "AwsCloudTrailInsight", "recipientAccountId": ACCOUNT,
            "sharedEventID": str(uuid.uuid4()), "eventCategory": "Insight",
            "insightDetails": {"state": "Start", "eventSource": "ssm.amazonaws.com",
                               "eventName": "UpdateInstanceInformation",
                               "insightType": kind}}


def test_insights_records_go_to_insight_files_of_trails_that_select_them(rig: Rig) -> None:
    rig.trail(insight_selectors=[{"InsightType": "ApiCallRateInsight"}])
    rig.trail("plain", bucket="plain-bucket")
    rig.ingest(make_event("Normal"), _insight("ApiCallRateInsight"),
               _insight("ApiErrorRateInsight"))
    rig.tick(300)
    (key, obj), = rig.objects(kind="CloudTrail-Insight/").items()
    assert re.search(rf"/CloudTrail-Insight/us-east-1/2026/11/18/{ACCOUNT}_CloudTrail-Insight_"
                     r"us-east-1_20261118T1111Z_[A-Za-z0-9]{16}\.json\.gz$", key), key
    records = json.loads(gzip.decompress(obj.body))["Records"]
    assert [r["insightDetails"]["insightType"] for r in records] == ["ApiCallRateInsight"]
    assert [r["eventName"] for r in rig.records()] == ["Normal"]
    assert rig.objects("plain-bucket", "CloudTrail-Insight/") == {}
