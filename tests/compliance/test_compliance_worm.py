"""OT-14 (Object Lock) object by object, against moto's S3 server with Object Lock.

A trail delivers to a lock bucket (default retention COMPLIANCE, 1 year): the report reads
the server's delivery record and checks each delivered version with HeadObject by its
VersionId and ListObjectVersions. Then a delete marker hides one delivered log file and
a second version is stacked on another, and the next report FAILs naming them. A trail of
another account delivers to a bucket without Object Lock and FAILs. moto lets a
COMPLIANCE retention be shortened (spec 7.4), so these tests stop at what the bucket
reports; the lock's strength needs a real server.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Server, free_port, make_event, post_records, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FAST = ("--delivery-interval", "1", "--digest-interval", "3", "--checkpoint-interval", "1",
        "--health-sample-interval", "1", "--history-retention-days", "0")


def now_iso(offset: float = 0.0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset))


@pytest.fixture(scope="module")
def s3(moto_url: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, moto_url: str) -> Iterator[Server]:
    live = Server(tmp_path_factory.mktemp("worm") / "data", free_port(), (
        *FAST, "--trail-storage", "s3", "--s3-endpoint-url", moto_url))
    with pytest.MonkeyPatch.context() as env:  # the server's own S3 credentials (moto's)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        live.start()
    yield live
    live.kill(signal.SIGTERM)


def deliver(server: Server, s3: Any, account: str, bucket: str) -> tuple[str, str]:
    """A logging trail to `bucket` with a few digests; the period it delivered in."""
    ct: Any = server.client(account=account)
    ct.create_trail(Name="main", S3BucketName=bucket, EnableLogFileValidation=True,
                    IsMultiRegionTrail=True)
    ct.start_logging(Name="main")
    start = ct.get_trail_status(Name="main")["StartLoggingTime"].timestamp() + 1
    time.sleep(1.1)
    post_records(server, [make_event("RunInstances", account=account, when=now_iso())
                          for _ in range(10)], account=account)
    prefix = f"AWSLogs/{account}/CloudTrail-Digest/"
    wait_until(lambda: s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("KeyCount", 0)
               >= 2, timeout=90)
    end = now_iso()
    time.sleep(4)  # the digest covering the end is delivered
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)), end


def report(server: Server, account: str, start: str, end: str, out: Path
           ) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "opentrail", "compliance", "report", "--profile", "pci-dss-4",
         "--start-time", start, "--end-time", end, "--output", str(out),
         "--endpoint-url", server.endpoint],
        capture_output=True, text=True, env=server.env("admin", account), timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads((out / "report.json").read_text())
    check: dict[str, Any] = next(c for c in doc["checks"] if c["id"] == "OT-14")
    rows = (out / "evidence" / "OT-14.jsonl").read_text().splitlines()
    check["all_rows"] = [json.loads(r) for r in rows]
    return check


def objects(check: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in check["all_rows"] if "versionId" in r]


def test_locked_objects_pass_then_a_delete_marker_and_a_new_version_fail(
        server: Server, s3: Any, tmp_path: Path) -> None:
    account, bucket = "777777777777", f"worm-{free_port()}"
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Years": 1}}})
    start, end = deliver(server, s3, account, bucket)
    check = report(server, account, start, end, tmp_path / "first")
    assert check["result"] == "PASS", check["reason"]
    delivered = objects(check)
    kinds = {o["kind"] for o in delivered}
    assert {"log", "digest"} <= kinds and check["counts"]["objects"] == len(delivered)
    for o in delivered:
        head = s3.head_object(Bucket=bucket, Key=o["key"], VersionId=o["versionId"])
        assert o["now"]["mode"] == head["ObjectLockMode"] == "COMPLIANCE"
        assert o["problems"] == []
    storage = next(r for r in check["all_rows"] if "Guarantee" in r)
    assert storage["ObjectLockEnabled"] is True and storage["Worm"] is True
    assert "COMPLIANCE: nobody" in storage["Guarantee"]

    logs = [o["key"] for o in delivered if o["kind"] == "log"]
    digests = [o["key"] for o in delivered if o["kind"] == "digest"]
    s3.delete_object(Bucket=bucket, Key=logs[0])  # no VersionId: a delete marker
    s3.put_object(Bucket=bucket, Key=digests[0], Body=b"forged", ChecksumAlgorithm="SHA256")
    check = report(server, account, start, end, tmp_path / "second")
    assert check["result"] == "FAIL"
    problems = {o["key"]: o["problems"] for o in objects(check) if o["problems"]}
    assert problems == {logs[0]: ["a delete marker hides the key"],
                        digests[0]: ["1 version(s) besides the delivered one"]}
    assert "2 of" in check["reason"]


def test_bucket_without_object_lock_fails(server: Server, s3: Any, tmp_path: Path) -> None:
    account, bucket = "888888888888", f"plain-{free_port()}"
    s3.create_bucket(Bucket=bucket)
    start, end = deliver(server, s3, account, bucket)
    check = report(server, account, start, end, tmp_path / "r")
    assert check["result"] == "FAIL"
    assert "Object Lock is off" in check["reason"]
    storage = next(r for r in check["all_rows"] if "Guarantee" in r)
    assert storage["ObjectLockEnabled"] is False and "no Object Lock" in storage["Guarantee"]
    delivered = objects(check)
    assert delivered and all(o["versionId"] is None and o["problems"] for o in delivered)


def ot13(server: Server, account: str, start: str, out: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "opentrail", "compliance", "report", "--profile", "pci-dss-4",
         "--start-time", start, "--end-time", now_iso(), "--output", str(out),
         "--endpoint-url", server.endpoint],
        capture_output=True, text=True, env=server.env("admin", account), timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads((out / "report.json").read_text())
    check: dict[str, Any] = next(c for c in doc["checks"] if c["id"] == "OT-13")
    rows = [json.loads(r) for r in (out / "evidence" / "OT-13.jsonl").read_text().splitlines()]
    check["bucket_row"] = next(r for r in rows if "bucket" in r)
    return check


def test_bucket_access_ot13_private_then_a_delete_grant_then_public(
        server: Server, s3: Any, tmp_path: Path) -> None:
    """moto stores and returns the public access block, bucket policy and ACL, which is
    what OT-13 reads; without its IAM auth it authorises nothing by them, so whether a
    bucket really refuses a stranger needs a real server (the test stops at the settings)."""
    account, bucket = "666666666666", f"private-{free_port()}"
    s3.create_bucket(Bucket=bucket)
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True})
    ct: Any = server.client(account=account)
    ct.create_trail(Name="main", S3BucketName=bucket)
    start = now_iso(-1)
    time.sleep(1.1)
    check = ot13(server, account, start, tmp_path / "private")
    assert check["result"] == "PASS", check["reason"]
    assert check["bucket_row"]["publicAccessBlock"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True}

    cleanup = "arn:aws:iam::123456789012:role/cleanup"
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Sid": "Cleanup", "Effect": "Allow", "Principal": {"AWS": cleanup},
            "Action": "s3:Delete*", "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    check = ot13(server, account, start, tmp_path / "grant")
    assert check["result"] == "WARN" and cleanup in check["reason"]
    assert check["bucket_row"]["destructiveGrants"][0]["actions"] == [
        "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:DeleteBucketPolicy",
        "s3:DeleteBucket"]

    s3.delete_public_access_block(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
            "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    check = ot13(server, account, start, tmp_path / "public")
    assert check["result"] == "FAIL" and "allows everyone" in check["reason"]
    assert check["bucket_row"]["publicAccessBlock"] is None
