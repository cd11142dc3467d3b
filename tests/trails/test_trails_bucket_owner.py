"""One account must not write into another account's bucket: in folder mode a bucket
belongs to the first account whose trail used it; and wherever files come from (S3 mode,
where the bucket policy is S3's business), validate-logs only reads digests whose keys
are exactly this trail's, so files another trail wrote under a crafted S3KeyPrefix can
never raise a false tamper alarm."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, Server, free_port, make_event, post_records, wait_until

pytestmark = pytest.mark.e2e

ATTACKER = "111122223333"
BUCKET = "victim-bucket"
FAST = ("--delivery-interval", "1", "--digest-interval", "4")


def _refused(call: Any, **kw: Any) -> dict[str, str]:
    with pytest.raises(ClientError) as info:
        call(**kw)
    error: dict[str, str] = info.value.response["Error"]
    return error


def _prefix(victim_trail: str) -> str:
    """An S3KeyPrefix that puts the attacker's files inside the victim's digest folder,
    beside (and sorting after) the victim's own digests of today."""
    day = time.strftime("%Y/%m/%d", time.gmtime())
    return (f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/{day}/{ACCOUNT}_CloudTrail-Digest_"
            f"us-east-1_{victim_trail}_us-east-1_x")


def test_another_accounts_bucket_is_refused_in_folder_mode(live_server: Server) -> None:
    victim: Any = live_server.client()
    attacker: Any = live_server.client(account=ATTACKER)
    victim.create_trail(Name="main", S3BucketName=BUCKET, EnableLogFileValidation=True)
    error = _refused(attacker.create_trail, Name="evil", S3BucketName=BUCKET,
                     S3KeyPrefix=_prefix("main"), EnableLogFileValidation=True)
    assert error["Code"] == "InsufficientS3BucketPolicyException"
    assert error["Message"] == f"Incorrect S3 bucket policy is detected for bucket: {BUCKET}"
    attacker.create_trail(Name="evil", S3BucketName="attacker-bucket")
    error = _refused(attacker.update_trail, Name="evil", S3BucketName=BUCKET)
    assert error["Code"] == "InsufficientS3BucketPolicyException"
    assert attacker.get_trail(Name="evil")["Trail"]["S3BucketName"] == "attacker-bucket"
    # the owner keeps using its bucket; the attacker's bucket is the attacker's now
    victim.create_trail(Name="second", S3BucketName=BUCKET, S3KeyPrefix="more")
    error = _refused(victim.update_trail, Name="second", S3BucketName="attacker-bucket")
    assert error["Code"] == "InsufficientS3BucketPolicyException"
    # an owner keeps its bucket after deleting its trails: its files are still there
    victim.delete_trail(Name="main")
    victim.delete_trail(Name="second")
    assert _refused(attacker.update_trail, Name="evil", S3BucketName=BUCKET)["Code"] == (
        "InsufficientS3BucketPolicyException")


@pytest.fixture
def s3_server(tmp_path: Path, moto_url: str, monkeypatch: pytest.MonkeyPatch
              ) -> Iterator[tuple[Server, str]]:
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    s3.create_bucket(Bucket=BUCKET)
    server = Server(tmp_path / "data", free_port(),
                    extra_args=(*FAST, "--trail-storage", "s3", "--s3-endpoint-url", moto_url))
    server.start()
    yield server, moto_url
    server.kill()


def _keys(moto_url: str, prefix: str) -> list[str]:
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def _send(server: Server, account: str) -> None:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    post_records(server, [make_event("RunInstances", when=now, account=account)
                          for _ in range(20)], account=account)


def _stop(ct: Any, name: str) -> None:
    ct.stop_logging(Name=name)
    stopped = ct.get_trail_status(Name=name)["StopLoggingTime"]
    wait_until(lambda: ct.get_trail_status(Name=name).get("LatestDigestDeliveryTime",
                                                          stopped) > stopped, timeout=90)


@pytest.mark.slow
def test_digests_under_a_crafted_prefix_never_make_validate_logs_fail(
        s3_server: tuple[Server, str]) -> None:
    server, moto_url = s3_server
    victim: Any = server.client()
    attacker: Any = server.client(account=ATTACKER)
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    victim.create_trail(Name="main", S3BucketName=BUCKET, EnableLogFileValidation=True)
    attacker.create_trail(Name="evil", S3BucketName=BUCKET, S3KeyPrefix=_prefix("main"),
                          EnableLogFileValidation=True)  # S3 mode: the bucket policy's call
    for ct, name in ((victim, "main"), (attacker, "evil")):
        ct.start_logging(Name=name)
    _send(server, ACCOUNT)
    _send(server, ATTACKER)
    planted = f"{_prefix('main')}/AWSLogs/{ATTACKER}/CloudTrail-Digest/"
    wait_until(lambda: len(_keys(moto_url, planted)) >= 2, timeout=90)
    _stop(attacker, "evil")
    _stop(victim, "main")
    env = {**os.environ, **server.env("reader")}
    proc = subprocess.run(
        [sys.executable, "-m", "opentrail", "validate-logs", "--endpoint-url", server.endpoint,
         "--s3-endpoint-url", moto_url, "--trail-arn", victim.get_trail(Name="main")["Trail"][
             "TrailARN"], "--start-time", start, "--verbose"],
        capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "INVALID" not in proc.stdout + proc.stderr
    assert ATTACKER not in proc.stdout + proc.stderr  # the planted files were never read
    assert "digest files valid" in proc.stdout
    page = _console_validate(server, victim.get_trail(Name="main")["Trail"]["TrailARN"])
    assert "Every file is valid" in page and "Validation failed" not in page
    assert ATTACKER not in page


def _console_validate(server: Server, arn: str) -> str:
    """The trails page's Validate now, signed in with the victim's reader key."""
    key = server.key("reader")
    http = httpx.Client(base_url=server.endpoint, follow_redirects=False, timeout=120)
    token = re.search(r'name="signin_token" value="([^"]+)"', http.get("/signin").text)
    assert token
    http.post("/signin", data={"signin_token": token[1], "next": "/trails",
                               "access_key_id": key.access_key_id, "secret": key.secret})
    csrf = re.search(r'name="csrf" value="([^"]+)"', http.get("/trails").text)
    assert csrf
    answer = http.post("/trails/validate", data={"csrf": csrf[1], "arn": arn, "window": "1h"})
    assert answer.status_code == 200, answer.text
    return answer.text


def test_buckets_shared_before_owners_go_to_the_oldest_trails_account(tmp_path: Path) -> None:
    from opentrail.errors import ValidationError
    from opentrail.trails import Trail, TrailStore

    def trail(name: str, account: str, created: float, bucket: str = "shared") -> Trail:
        return Trail(name=name, account=account, home_region="us-east-1",
                     s3_bucket_name=bucket, created=created)

    legacy = TrailStore(tmp_path)  # as before owners were recorded
    legacy.create(trail("late", ATTACKER, 2.0))
    legacy.create(trail("early", ACCOUNT, 1.0))
    legacy.close()
    store = TrailStore(tmp_path, own_buckets=True)
    # the newer trail keeps its bucket: changing anything else still works
    store.modify(ATTACKER, "us-east-1", "late", lambda t: setattr(t, "s3_key_prefix", "p"))
    with pytest.raises(ValidationError) as info:
        store.create(trail("another", ATTACKER, 3.0))
    assert info.value.code == "InsufficientS3BucketPolicyException"
    store.create(trail("another", ACCOUNT, 3.0))
    store.close()
