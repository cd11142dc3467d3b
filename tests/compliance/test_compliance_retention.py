"""OT-17 (retention achieved) with the real validator, over a trail 400 days old.

A server cannot deliver a year of digests during a test, so the year is written as
delivery writes it: before the server starts, its signing key is made valid from 400
days ago; then a digest a day (one log file each, chained and signed with that key) goes
into the trail's folder and the delivery record. The report samples months 4-12 and
validates each sample with `validate-logs`; then a sampled log file is rewritten and a
sampled digest deleted, and the next report FAILs naming them.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Server, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ACCOUNT, REGION, DAY = "131313131313", "us-east-1", 86_400
DAYS = 400


def now_iso(offset: float = 0.0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset))


def _year_of_digests(data: Path, trail: Any, arn: str, first: float) -> None:
    """A digest a day over [first, now) (the chain continuous: each window a whole day),
    one log file each."""
    from opentrail.backends.sqlite import FolderSigningKeyRows
    from opentrail.clock import ManualClock
    from opentrail.storage import FolderStorage
    from opentrail.trails import SigningKeys
    from opentrail.trails._digest import LogFile, log_prefix, make_digest

    signer = SigningKeys(FolderSigningKeyRows(data / "signing-keys"),
                         ManualClock(first - 3600), 800).current(REGION)
    storage, previous, rows = FolderStorage(data / "buckets"), None, []
    for day in range(DAYS):
        start = first + day * DAY
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + 60))
        raw = json.dumps({"Records": [{"eventTime": when, "eventName": "RunInstances",
                                       "eventID": f"{day:08d}-0000-4000-8000-000000000000",
                                       "recipientAccountId": ACCOUNT}]}).encode()
        stamp = time.strftime("%Y%m%dT%H%MZ", time.gmtime(start + 300))
        key = (log_prefix(trail, "CloudTrail", REGION, start + 300)
               + f"{ACCOUNT}_CloudTrail_{REGION}_{stamp}_{day:016d}.json.gz")
        storage.put(trail.s3_bucket_name, key, gzip.compress(raw, mtime=0))
        log = LogFile(trail.s3_bucket_name, key, hashlib.sha256(raw).hexdigest(),
                      int(start + 60), int(start + 60))
        digest = make_digest(trail, REGION, (start, start + DAY), [log], previous, signer)
        storage.put(trail.s3_bucket_name, digest.key, digest.body, digest.metadata)
        previous = digest.link
        rows += [(arn, "log", trail.s3_bucket_name, key, start + 300, start + 300),
                 (arn, "digest", trail.s3_bucket_name, digest.key, start + DAY, start + DAY)]
    with sqlite3.connect(data / "delivery.db", timeout=60) as conn:
        conn.executemany("INSERT INTO delivered (arn, kind, bucket, key, created, delivered) "
                         "VALUES (?,?,?,?,?,?)", rows)


@pytest.fixture(scope="module")
def aged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from opentrail.trails import Trail

    data = tmp_path_factory.mktemp("retention") / "data"
    data.mkdir(mode=0o700)
    first = (int(time.time()) // DAY - DAYS) * DAY
    live = Server(data, free_port(), ("--signing-key-rotation-days", "800",
                                      "--verifier-interval", "0"))
    live.start()
    ct: Any = live.client(account=ACCOUNT)
    ct.create_trail(Name="aged", S3BucketName=f"aged-{ACCOUNT}", EnableLogFileValidation=True)
    arn = ct.describe_trails()["trailList"][0]["TrailARN"]
    trail = Trail("aged", ACCOUNT, REGION, f"aged-{ACCOUNT}", log_file_validation_enabled=True)
    _year_of_digests(data, trail, arn, float(first))
    yield live
    live.kill(signal.SIGTERM)


def ot17(server: Server, out: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "opentrail", "compliance", "report", "--profile", "pci-dss-4",
         "--start-time", now_iso(-3600), "--end-time", now_iso(), "--output", str(out),
         "--endpoint-url", server.endpoint, "--local-folder", str(server.data_dir / "buckets")],
        capture_output=True, text=True, env=server.env("admin", ACCOUNT), timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads((out / "report.json").read_text())
    check: dict[str, Any] = next(c for c in doc["checks"] if c["id"] == "OT-17")
    rows = (out / "evidence" / "OT-17.jsonl").read_text().splitlines()
    check["months"] = [r for r in map(json.loads, rows) if r.get("state") == "sampled"]
    return check


def test_months_4_to_12_sampled_then_a_rewritten_log_and_a_deleted_digest_fail(
        aged: Server, tmp_path: Path) -> None:
    check = ot17(aged, tmp_path / "first")
    assert check["result"] == "PASS", check["reason"]
    assert check["counts"]["monthsSampled"] == 9
    assert check["counts"]["digestsValidated"] == 27
    assert [m["month"] for m in check["months"]] == list(range(4, 13))
    samples = [s for m in check["months"] for s in m["samples"]]
    assert all(s["problem"] is None and s["logFiles"] == 1 for s in samples)
    assert all(s["command"].startswith("opentrail validate-logs") for s in samples)

    buckets = aged.data_dir / "buckets" / f"aged-{ACCOUNT}"
    month_4, month_12 = check["months"][0]["samples"], check["months"][-1]["samples"]
    digest = buckets / month_12[1]["digest"]
    digest.chmod(0o600)
    digest.unlink()  # a sampled digest of month 12 is gone
    opened = json.loads(gzip.decompress((buckets / month_4[0]["digest"]).read_bytes()))
    log = buckets / opened["logFiles"][0]["s3Object"]
    log.chmod(0o600)
    log.write_bytes(gzip.compress(b'{"Records":[]}', mtime=0))  # its first sample's log
    check = ot17(aged, tmp_path / "second")
    assert check["result"] == "FAIL"
    assert check["counts"]["problems"] == 2, check["reason"]
    bad = {s["digest"]: s["problem"] for m in check["months"] for s in m["samples"]
           if s["problem"]}
    assert set(bad) == {month_4[0]["digest"], month_12[1]["digest"]}
    assert "INVALID" in bad[month_4[0]["digest"]]
