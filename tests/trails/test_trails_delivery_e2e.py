"""Delivery through the real server: boto3 in, log files and digests out to the data dir's
folder and to a real S3 protocol server (moto) on loopback; a SIGKILL mid-delivery; a
destination that fails and comes back; and the stock `aws cloudtrail validate-logs`."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import rsa

from conftest import (
    ACCOUNT,
    Server,
    final_digest_delivered,
    free_port,
    make_event,
    post_records,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BUCKET = "audit-bucket"
FAST = ("--delivery-interval", "1", "--digest-interval", "4")


def _s3(url: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def _start(tmp_path: Path, *args: str) -> Server:
    server = Server(tmp_path / "data", free_port(), extra_args=(*FAST, *args))
    server.start()
    return server


@pytest.fixture
def s3_server(tmp_path: Path, moto_url: str, monkeypatch: pytest.MonkeyPatch
              ) -> Iterator[tuple[Server, Any]]:
    """A server delivering to moto; its S3 credentials come from the standard env chain."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    s3 = _s3(moto_url)
    for key in _keys(s3):
        s3.delete_object(Bucket=BUCKET, Key=key)
    s3.create_bucket(Bucket=BUCKET)
    server = _start(tmp_path, "--trail-storage", "s3", "--s3-endpoint-url", moto_url)
    yield server, s3
    server.kill()


def _keys(s3: Any, prefix: str = "") -> list[str]:
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]
    except s3.exceptions.NoSuchBucket:
        return []


def _s3_records(s3: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for key in _keys(s3, "AWSLogs/"):
        if "/CloudTrail/" in key:
            body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
            out += json.loads(gzip.decompress(body))["Records"]
    return out


def _folder_records(server: Server) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in (server.data_dir / "buckets" / BUCKET).rglob("*.json.gz"):
        if "/CloudTrail/" in path.as_posix():
            out += json.loads(gzip.decompress(path.read_bytes()))["Records"]
    return out


def _trail(server: Server, **kw: Any) -> Any:
    ct: Any = server.client()
    ct.create_trail(Name="main", S3BucketName=BUCKET, **kw)
    ct.start_logging(Name="main")
    return ct


def _exactly_once(sent: list[str], records: list[dict[str, Any]]) -> bool:
    counts = Counter(r["eventID"] for r in records)
    assert all(n == 1 for n in counts.values()), [k for k, n in counts.items() if n > 1]
    return all(counts[e] == 1 for e in sent)


def _send(server: Server, n: int, name: str = "RunInstances") -> list[str]:
    events = [make_event(name) for _ in range(n)]
    post_records(server, events)
    return [str(e["eventID"]) for e in events]


def test_folder_delivery_each_event_in_exactly_one_file(tmp_path: Path) -> None:
    server = _start(tmp_path)
    try:
        _trail(server, S3KeyPrefix="logs")
        sent = [e for _ in range(5) for e in _send(server, 200)]
        wait_until(lambda: _exactly_once(sent, _folder_records(server)), timeout=60)
        keys = [p.relative_to(server.data_dir / "buckets" / BUCKET).as_posix()
                for p in (server.data_dir / "buckets" / BUCKET).rglob("*.json.gz")]
        assert all(k.startswith(f"logs/AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/") for k in keys)
    finally:
        server.kill()


def test_s3_delivery_each_event_in_exactly_one_file(s3_server: tuple[Server, Any]) -> None:
    server, s3 = s3_server
    _trail(server, IsMultiRegionTrail=True)
    sent = _send(server, 300) + [str(e["eventID"]) for e in [make_event(region="eu-west-1")]
                                 if post_records(server, [e])]
    wait_until(lambda: _exactly_once(sent, _s3_records(s3)), timeout=60)
    regions = {k.split("/")[3] for k in _keys(s3, f"AWSLogs/{ACCOUNT}/CloudTrail/")}
    assert regions == {"us-east-1", "eu-west-1"}


def test_sigkill_mid_delivery_loses_and_doubles_nothing(tmp_path: Path) -> None:
    server = _start(tmp_path)
    acknowledged: list[str] = []
    stop = threading.Event()

    def sender() -> None:
        while not stop.is_set():
            try:
                acknowledged.extend(_send(server, 100))
            except (AssertionError, httpx.HTTPError):
                return  # the server died under us: this batch was never acknowledged

    try:
        _trail(server)
        thread = threading.Thread(target=sender)
        thread.start()
        wait_until(lambda: len(_folder_records(server)) >= 300, timeout=60)
        server.kill()  # SIGKILL, while events stream in and files are being written
        stop.set()
        thread.join(timeout=60)
        server.start()
        after = _send(server, 100)
        wait_until(lambda: _exactly_once(acknowledged + after, _folder_records(server)),
                   timeout=90)
    finally:
        stop.set()
        server.kill()


def test_destination_failure_is_reported_and_the_backlog_delivered(
        s3_server: tuple[Server, Any]) -> None:
    server, s3 = s3_server
    ct = _trail(server)
    first = _send(server, 50)
    wait_until(lambda: _exactly_once(first, _s3_records(s3)), timeout=60)
    for key in _keys(s3):
        s3.delete_object(Bucket=BUCKET, Key=key)
    s3.delete_bucket(Bucket=BUCKET)
    missed = _send(server, 50)
    wait_until(lambda: ct.get_trail_status(Name="main").get("LatestDeliveryError")
               == "NoSuchBucket", timeout=60)
    status = ct.get_trail_status(Name="main")
    assert "LatestDeliveryAttemptTime" in status
    s3.create_bucket(Bucket=BUCKET)
    wait_until(lambda: _exactly_once(missed, _s3_records(s3)), timeout=90)
    wait_until(lambda: "LatestDeliveryError" not in ct.get_trail_status(Name="main"),
               timeout=30)


# -- the stock aws CLI validator -----------------------------------------------------------

def _validate(server: Server, moto_url: str, arn: str,
              start: str) -> subprocess.CompletedProcess[str]:
    env = server.env("reader")
    env["AWS_ENDPOINT_URL_S3"] = moto_url
    return subprocess.run(
        [sys.executable, "-m", "awscli", "cloudtrail", "validate-logs", "--trail-arn", arn,
         "--start-time", start, "--endpoint-url", server.endpoint, "--verbose"],
        capture_output=True, text=True, env=env, timeout=180)


def _replace(s3: Any, key: str, body: bytes) -> None:
    head = s3.get_object(Bucket=BUCKET, Key=key)
    s3.put_object(Bucket=BUCKET, Key=key, Body=body, Metadata=head["Metadata"])


def _delivered_and_stopped(server: Server, s3: Any) -> tuple[Any, list[str], list[str]]:
    """A validated trail with two log files at least and a few digests, then stopped
    (so nothing changes under the validator). Returns (client, log keys, digest keys)."""
    ct = _trail(server, EnableLogFileValidation=True)
    _send(server, 100)
    digests = f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/"
    wait_until(lambda: len(_keys(s3, digests)) >= 2, timeout=60)
    # The first batch in a file of its own; the second lands in the final file at stop.
    wait_until(lambda: _keys(s3, f"AWSLogs/{ACCOUNT}/CloudTrail/"), timeout=60)
    last = _send(server, 100, "StopInstances")
    ct.stop_logging(Name="main")

    def delivered() -> set[str]:
        ids: set[str] = set()
        for key in _keys(s3, f"AWSLogs/{ACCOUNT}/CloudTrail/"):
            body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
            ids.update(r["eventID"] for r in json.loads(gzip.decompress(body))["Records"])
        return ids

    # Everything sent before StopLogging is delivered, then the final digest covers it
    # (a scheduled digest may land between the two: only the one after the stop is last).
    wait_until(lambda: set(last) <= delivered(), timeout=60)
    wait_until(lambda: final_digest_delivered(ct, "main"), timeout=60)
    logs = sorted(_keys(s3, f"AWSLogs/{ACCOUNT}/CloudTrail/"))
    assert len(logs) >= 2
    return ct, logs, sorted(_keys(s3, digests))


def test_aws_cli_validate_logs_passes_untouched_and_catches_tampering(
        s3_server: tuple[Server, Any], moto_url: str) -> None:
    server, s3 = s3_server
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    arn = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/main"
    ct, logs, digests = _delivered_and_stopped(server, s3)

    ok = _validate(server, moto_url, arn, start)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"{len(digests)}/{len(digests)} digest files valid" in ok.stdout
    assert f"{len(logs)}/{len(logs)} log files valid" in ok.stdout
    _check_public_keys(ct)

    original = s3.get_object(Bucket=BUCKET, Key=logs[0])["Body"].read()
    raw = gzip.decompress(original).replace(b'"Records":[', b'"Records":[{"a":1},', 1)
    _replace(s3, logs[0], gzip.compress(raw))
    bad = _validate(server, moto_url, arn, start)
    assert bad.returncode == 1 and "hash value doesn't match" in bad.stderr, bad.stderr
    _replace(s3, logs[0], original)

    s3.delete_object(Bucket=BUCKET, Key=logs[-1])
    gone = _validate(server, moto_url, arn, start)
    assert gone.returncode == 1 and "INVALID: not found" in gone.stderr, gone.stderr

    doc = gzip.decompress(s3.get_object(Bucket=BUCKET, Key=digests[0])["Body"].read())
    _replace(s3, digests[0],
             gzip.compress(doc.replace(b'"awsAccountId":"1', b'"awsAccountId":"9')))
    forged = _validate(server, moto_url, arn, start)
    assert forged.returncode == 1, forged.stdout + forged.stderr
    assert "signature verification failed" in forged.stderr


def _check_public_keys(ct: Any) -> None:
    """ListPublicKeys: PKCS#1 DER that python-rsa (awscli's parser) loads, MD5 fingerprint."""
    keys = ct.list_public_keys(StartTime=time.time() - 3600)["PublicKeyList"]
    assert keys and all(k["Fingerprint"] == hashlib.md5(k["Value"]).hexdigest() for k in keys)
    rsa.PublicKey.load_pkcs1(keys[0]["Value"], "DER")
    assert base64.b64encode(keys[0]["Value"]).startswith(b"MIIBCgKCAQEA")
    assert keys[0]["ValidityStartTime"] < keys[0]["ValidityEndTime"]
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as info:
        ct.list_public_keys(StartTime=time.time(), EndTime=time.time() - 3600)
    assert info.value.response["Error"]["Code"] == "InvalidTimeRangeException"
