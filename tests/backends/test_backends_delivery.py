"""Trail delivery's state (trails/_delivery_rows.py) on both backends: a second node
taking the delivery over goes on from the first's cursor, outbox and digest chain, so
every event is in exactly one log file and the digests form one chain; a node that lost
the role cannot move a cursor the new holder moved."""

from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from opentrail.clock import ManualClock
from opentrail.events import parse_record
from opentrail.storage import FolderStorage
from opentrail.trails import Delivery, DeliveryMoved, Trail, selects
from opentrail.trails._record import DeliveredObject

T0 = 1_795_000_000.0
ACCOUNT = "123456789012"


def _delivery(backend: Any, folder: Path, clock: ManualClock, storage: FolderStorage,
              trails: Any) -> Delivery:
    folder.mkdir(parents=True, exist_ok=True)
    return Delivery(folder, clock, trails, storage, backend.signing_keys(clock, 30.0), selects,
                    delivery_interval=300, digest_interval=3600,
                    ledger=backend.ledger_reader(), rows=backend.delivery_rows())


def _ingest(writer: Any, count: int) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(count)]
    records = [parse_record({"eventTime": "2026-11-18T11:00:00Z", "eventSource": "s3",
                             "eventName": "CreateBucket", "eventID": i},
                            default_account=ACCOUNT, default_region="us-east-1") for i in ids]
    assert writer.submit(records).result(timeout=30) == [True] * count
    return ids


def _delivered(storage: FolderStorage, kind: str = "/CloudTrail/") -> list[str]:
    ids = []
    for key in storage.list("audit"):
        if kind in key:
            ids += [r["eventID"] for r in
                    json.loads(gzip.decompress(storage.get("audit", key).body))["Records"]]
    return ids


def test_a_second_node_goes_on_where_the_first_stopped(backends: Any, tmp_path: Path) -> None:
    clock = ManualClock(T0)
    one, two = backends.open(), backends.open()
    writer = one.ledger_writer(clock)
    writer.start()
    trails = one.trails(own_buckets=True)
    trail = Trail(name="main", account=ACCOUNT, home_region="us-east-1",
                  s3_bucket_name="audit", created=T0, log_file_validation_enabled=True)
    trails.create(trail)
    trails.set_status(trail.arn, is_logging=True, start_logging_time=T0)
    storage = FolderStorage(tmp_path / "buckets")
    first = _delivery(one, tmp_path / "node-one", clock, storage, trails)
    sent = _ingest(writer, 5)
    clock.advance(300)
    first.run_once()
    assert sorted(_delivered(storage)) == sorted(sent)
    first.close()  # the first node goes; the second takes the delivery over
    second = _delivery(two, tmp_path / "node-two", clock, storage, two.trails(own_buckets=True))
    sent += _ingest(writer, 3)
    clock.advance(3600)
    second.run_once()
    delivered = _delivered(storage)
    assert sorted(delivered) == sorted(sent) and len(delivered) == len(set(delivered))
    digests = [k for k in storage.list("audit") if "/CloudTrail-Digest/" in k]
    assert len(digests) == 1  # one chain, begun by the first node, digested by the second
    listed = json.loads(gzip.decompress(storage.get("audit", digests[0]).body))["logFiles"]
    assert len(listed) == 2  # both nodes' log files
    record = second.delivered_objects(trail.arn)
    assert [r.kind for r in record].count("log") == 2
    assert all(isinstance(r, DeliveredObject) for r in record)
    second.close()
    writer.close()


def test_a_cursor_moves_only_from_where_its_writer_read_it(backend: Any) -> None:
    from opentrail.trails._delivery_rows import StoredCursor

    rows = backend.delivery_rows()
    with rows.write() as tx:
        tx.set_cursor("arn:t", StoredCursor(T0, -1, T0, T0))
    with rows.write() as tx:
        assert tx.move("arn:t", -1, 9, T0 + 1)
    with pytest.raises(DeliveryMoved), rows.write() as tx:  # a stale node's batch
        tx.put_outbox("arn:t", "log", "audit", "k", b"x", "{}", (0, 9), T0)
        if not tx.move("arn:t", -1, 9, T0 + 2):
            raise DeliveryMoved("moved")
    with rows.read() as tx:
        assert tx.cursor("arn:t") == StoredCursor(T0, 9, T0, T0 + 1)
        assert tx.outbox("arn:t") == []  # rolled back with the refused move
    rows.close()
