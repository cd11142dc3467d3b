"""`python -m bench.trails_delivery`: events/s trail delivery turns into log files.

A ledger is filled with N events (not timed), then one trail's delivery engine
(`Delivery.run_once`, the code the server's delivery thread runs) is timed while it reads
the backlog, selects, groups, gzips and uploads it: once to the local folder and once to
moto's standalone S3 server on loopback through boto3. Compared with the ingest target:
delivery must keep up with ingest.

Object Lock (WORM) on vs off, same run, same backlog: to an S3 bucket with Object Lock and
a default COMPLIANCE retention (every object then carries explicit lock headers, a
SHA-256 checksum and If-None-Match) against the plain bucket, and to the folder with a
retention (read-only files linked into place) against the plain folder; reported as
ratios; each side is the best of three runs taken in the order off, on, on, off, off, on. Also per
object: SMALL_OBJECTS puts of 1 KiB each way, where the per-object cost of locking is not
hidden by the gzip work of large files.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.report import RESULTS, Row, machine, print_table
from opentrail.clock import ManualClock
from opentrail.events import parse_record
from opentrail.ledger import LedgerWriter
from opentrail.storage import FolderStorage, RetentionPolicy, S3Storage, Storage
from opentrail.trails import Trail, TrailStore, selects
from opentrail.trails._delivery import Delivery
from opentrail.trails._signing import SigningKeys

ACCOUNT = "123456789012"
TARGET = 30_000.0  # the ingest target of the ledger issue (events/s)
T0 = 1_795_000_000.0
BUCKET = "bench-bucket"
LOCKED_BUCKET = "bench-locked-bucket"
SMALL_OBJECTS = 300


def _event(i: int) -> dict[str, Any]:
    return {
        "eventVersion": "1.11", "eventTime": "2026-11-20T10:00:00Z",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "accountId": ACCOUNT,
                         "arn": f"arn:aws:iam::{ACCOUNT}:user/u{i % 50}", "userName": f"u{i % 50}"},
        "eventSource": "ec2.amazonaws.com", "eventName": ("RunInstances", "DescribeVpcs")[i % 2],
        "awsRegion": ("us-east-1", "eu-west-1")[i % 3 == 0], "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.15", "requestParameters": {"instanceId": f"i-{i:012x}"},
        "responseElements": None, "eventID": str(uuid.uuid4()), "readOnly": i % 2 == 1,
        "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }


def fill(data_dir: Path, clock: ManualClock, n: int) -> None:
    writer = LedgerWriter(data_dir, clock)
    writer.start()
    for start in range(0, n, 10_000):
        records = [parse_record(_event(i), default_account=ACCOUNT, default_region="us-east-1")
                   for i in range(start, min(n, start + 10_000))]
        writer.submit(records).result(timeout=300)
    writer.close()


def measure(data_dir: Path, clock: ManualClock, storage: Storage, name: str,
            bucket: str = BUCKET) -> float:
    """Seconds one delivery pass takes to deliver the whole backlog for a new trail."""
    store = TrailStore(data_dir)
    trail = Trail(name=name, account=ACCOUNT, home_region="us-east-1", s3_bucket_name=bucket,
                  is_multi_region_trail=True, created=clock.now())
    store.create(trail)
    store.set_status(trail.arn, is_logging=True, start_logging_time=T0 - 10)
    delivery = Delivery(data_dir, clock, store, storage, SigningKeys(data_dir / "keys", clock),
                        selects, delivery_interval=300)
    clock.advance(600)
    began = time.perf_counter()
    delivery.run_once()
    seconds = time.perf_counter() - began
    delivery.close()
    store.delete(ACCOUNT, "us-east-1", name)
    store.close()
    return seconds


@contextmanager
def moto_s3() -> Iterator[str]:
    import socket

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _small_puts(storage: Storage, bucket: str, tag: str) -> float:
    """Seconds for SMALL_OBJECTS puts of 1 KiB (the per-object cost)."""
    body = b"x" * 1024
    began = time.perf_counter()
    for i in range(SMALL_OBJECTS):
        storage.put(bucket, f"small/{tag}/{i:06d}.json.gz", body)
    return time.perf_counter() - began


def _locked_bucket(s3: S3Storage) -> None:
    s3._client.create_bucket(Bucket=LOCKED_BUCKET, ObjectLockEnabledForBucket=True)
    s3._client.put_object_lock_configuration(Bucket=LOCKED_BUCKET, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}}})


def _abba(plain: Any, locked: Any) -> tuple[float, float]:
    """Best of three for each, in the order plain, locked, locked, plain, plain, locked:
    warm-up and drift (page cache, moto's growing store, other load on a shared machine)
    fall on both sides alike."""
    times: dict[str, list[float]] = {"plain": [], "locked": []}
    for i, which in enumerate(("plain", "locked", "locked", "plain", "plain", "locked")):
        times[which].append((plain if which == "plain" else locked)(i))
    return min(times["plain"]), min(times["locked"])


def run(n: int) -> dict[str, float]:
    import os

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    with tempfile.TemporaryDirectory() as tmp, moto_s3() as url:
        data_dir = Path(tmp)
        clock = ManualClock(T0)
        fill(data_dir, clock, n)
        plain_folder = FolderStorage(data_dir / "buckets")
        worm = FolderStorage(data_dir / "buckets", policy=RetentionPolicy(
            "COMPLIANCE", 365, clock=clock))
        folder, folder_locked = _abba(
            lambda i: measure(data_dir, clock, plain_folder, f"to-folder-{i}"),
            lambda i: measure(data_dir, clock, worm, f"to-folder-locked-{i}"))
        s3 = S3Storage(url)
        s3._client.create_bucket(Bucket=BUCKET)
        _locked_bucket(s3)
        small, small_locked = _abba(lambda i: _small_puts(s3, BUCKET, f"plain{i}"),
                                    lambda i: _small_puts(s3, LOCKED_BUCKET, f"locked{i}"))
        moto, moto_locked = _abba(
            lambda i: measure(data_dir, clock, s3, f"to-s3-{i}"),
            lambda i: measure(data_dir, clock, s3, f"to-s3-locked-{i}", LOCKED_BUCKET))
    return {"events": n, "folder_seconds": folder, "s3_seconds": moto,
            "folder_rate": n / folder, "s3_rate": n / moto,
            "folder_locked_rate": n / folder_locked, "s3_locked_rate": n / moto_locked,
            "small_objects": SMALL_OBJECTS, "small_put_ms": 1000 * small / SMALL_OBJECTS,
            "small_put_locked_ms": 1000 * small_locked / SMALL_OBJECTS}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.trails_delivery", description=__doc__)
    p.add_argument("--events", type=int, default=200_000, help="backlog size")
    args = p.parse_args(argv)
    result = run(args.events)
    print_table([
        Row("trail delivery to the local folder (events/s)", f"{result['folder_rate']:,.0f}",
            target=f">= {TARGET:,.0f}", met=result["folder_rate"] >= TARGET),
        Row("trail delivery to S3 (moto, loopback) (events/s)", f"{result['s3_rate']:,.0f}",
            target=f">= {TARGET:,.0f}", met=result["s3_rate"] >= TARGET),
        Row("with Object Lock: folder, read-only files (events/s; ref: plain folder)",
            f"{result['folder_locked_rate']:,.0f}", f"{result['folder_rate']:,.0f}",
            f"{result['folder_locked_rate'] / result['folder_rate']:.2f}x"),
        Row("with Object Lock: S3 lock bucket (events/s; ref: plain bucket)",
            f"{result['s3_locked_rate']:,.0f}", f"{result['s3_rate']:,.0f}",
            f"{result['s3_locked_rate'] / result['s3_rate']:.2f}x"),
        Row(f"one 1 KiB put to S3 with Object Lock (ms, {SMALL_OBJECTS}; ref: plain)",
            f"{result['small_put_locked_ms']:.2f}", f"{result['small_put_ms']:.2f}",
            f"{result['small_put_locked_ms'] / result['small_put_ms']:.2f}x"),
    ])
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "trails_delivery.json"
    out.write_text(json.dumps({"time": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
                               "machine": machine(), **result}, indent=2))
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
