"""`python -m bench.trails_delivery`: events/s trail delivery turns into log files.

A ledger is filled with N events (not timed), then one trail's delivery engine
(`Delivery.run_once`, the code the server's delivery thread runs) is timed while it reads
the backlog, selects, groups, gzips and uploads it: once to the local folder and once to
moto's standalone S3 server on loopback through boto3. Compared with the ingest target:
delivery must keep up with ingest.
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
from opentrail.storage import FolderStorage, S3Storage, Storage
from opentrail.trails import Trail, TrailStore, selects
from opentrail.trails._delivery import Delivery
from opentrail.trails._signing import SigningKeys

ACCOUNT = "123456789012"
TARGET = 30_000.0  # the ingest target of the ledger issue (events/s)
T0 = 1_795_000_000.0
BUCKET = "bench-bucket"


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


def measure(data_dir: Path, clock: ManualClock, storage: Storage, name: str) -> float:
    """Seconds one delivery pass takes to deliver the whole backlog for a new trail."""
    store = TrailStore(data_dir)
    trail = Trail(name=name, account=ACCOUNT, home_region="us-east-1", s3_bucket_name=BUCKET,
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


def run(n: int) -> dict[str, float]:
    import os

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    with tempfile.TemporaryDirectory() as tmp, moto_s3() as url:
        data_dir = Path(tmp)
        clock = ManualClock(T0)
        fill(data_dir, clock, n)
        folder = measure(data_dir, clock, FolderStorage(data_dir / "buckets"), "to-folder")
        s3 = S3Storage(url)
        s3._client.create_bucket(Bucket=BUCKET)
        moto = measure(data_dir, clock, s3, "to-s3")
    return {"events": n, "folder_seconds": folder, "s3_seconds": moto,
            "folder_rate": n / folder, "s3_rate": n / moto}


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
    ])
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "trails_delivery.json"
    out.write_text(json.dumps({"time": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
                               "machine": machine(), **result}, indent=2))
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
