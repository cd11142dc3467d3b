"""Organization trails end to end: every account's events under AWSLogs/o-ID/ACCOUNT/
with one digest chain per account and region, accepted by the stock `aws cloudtrail
validate-logs --account-id` (its Organizations call answered by OpenTrail); member
accounts see the trail as a read-only shadow."""

from __future__ import annotations

import gzip
import itertools
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

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

ORG = "o-a1b2c3d4e5"
MEMBER = "210987654321"
MASTER = "000000000000"  # --organization-account (default)
ARN = f"arn:aws:cloudtrail:us-east-1:{MASTER}:trail/org"


@pytest.fixture
def org_server(tmp_path: Path, moto_url: str, monkeypatch: pytest.MonkeyPatch
               ) -> Iterator[tuple[Server, Any, str]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    import boto3

    bucket = f"org-trail-{free_port()}"
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    server = Server(tmp_path / "data", free_port(), extra_args=(
        "--delivery-interval", "1", "--digest-interval", "3", "--trail-storage", "s3",
        "--s3-endpoint-url", moto_url, "--organization-id", ORG))
    server.start()
    yield server, s3, bucket
    server.kill()


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def _fails(code: str, call: Callable[..., Any], **kwargs: Any) -> str:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    assert info.value.response["Error"]["Code"] == code, info.value.response
    return str(info.value.response["Error"]["Message"])


def _deliver(server: Server, s3: Any, bucket: str) -> Any:
    org: Any = server.client(account=None)
    created = org.create_trail(Name="org", S3BucketName=bucket, IsMultiRegionTrail=True,
                               IsOrganizationTrail=True, EnableLogFileValidation=True)
    assert created["IsOrganizationTrail"] is True and created["TrailARN"] == ARN
    org.start_logging(Name="org")
    post_records(server, [make_event("RunInstances") for _ in range(5)])
    post_records(server, [make_event("RunInstances", account=MEMBER) for _ in range(7)],
                 account=MEMBER)
    post_records(server, [make_event("RunInstances", account=MEMBER, region="eu-west-1")
                          for _ in range(3)], account=MEMBER, region="eu-west-1")
    for account in (ACCOUNT, MEMBER):
        digests = f"AWSLogs/{ORG}/{account}/CloudTrail-Digest/us-east-1/"
        wait_until(lambda d=digests: _keys(s3, bucket, d), timeout=60)  # type: ignore[misc]
    org.stop_logging(Name="org")
    wait_until(lambda: final_digest_delivered(org, "org"), timeout=60)
    return org


def _records(s3: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    records: list[dict[str, Any]] = json.loads(gzip.decompress(body))["Records"]
    return records


def _stock_validate(server: Server, moto_url: str, account: str, start: str,
                    region: str = "us-east-1") -> subprocess.CompletedProcess[str]:
    env = server.env("reader", account=None)
    env.update(AWS_ENDPOINT_URL_S3=moto_url, AWS_ENDPOINT_URL_ORGANIZATIONS=server.endpoint)
    return subprocess.run(
        [sys.executable, "-m", "awscli", "cloudtrail", "validate-logs", "--trail-arn", ARN,
         "--start-time", start, "--account-id", account, "--region", region,
         "--endpoint-url", server.endpoint, "--verbose"],
        capture_output=True, text=True, env=env, timeout=180)


def test_every_account_under_the_organization_with_its_own_chain(
        org_server: tuple[Server, Any, str], moto_url: str) -> None:
    server, s3, bucket = org_server
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    _deliver(server, s3, bucket)
    assert _keys(s3, bucket, "AWSLogs/") == _keys(s3, bucket, f"AWSLogs/{ORG}/")
    counts = {}
    for account, region in [(ACCOUNT, "us-east-1"), (MEMBER, "us-east-1"),
                            (MEMBER, "eu-west-1")]:
        logs = _keys(s3, bucket, f"AWSLogs/{ORG}/{account}/CloudTrail/{region}/")
        assert logs and all(k.split("/")[-1].startswith(f"{account}_CloudTrail_{region}_")
                            for k in logs)
        records = [r for k in logs for r in _records(s3, bucket, k)]
        assert {(r["recipientAccountId"], r["awsRegion"]) for r in records} == {
            (account, region)}
        counts[(account, region)] = sum(r["eventName"] == "RunInstances" for r in records)
        digests = _keys(s3, bucket, f"AWSLogs/{ORG}/{account}/CloudTrail-Digest/{region}/")
        docs = [json.loads(gzip.decompress(s3.get_object(Bucket=bucket, Key=k)["Body"]
                                           .read())) for k in digests]
        assert {d["awsAccountId"] for d in docs} == {account}
        name = f"{account}_CloudTrail-Digest_{region}_org_us-east-1_"
        assert all(k.split("/")[-1].startswith(name) for k in digests)
        listed = {f["s3Object"] for d in docs for f in d["logFiles"]}
        assert listed == set(logs)  # each account's chain lists exactly its own files
        # One chain per account: each digest links to the previous one of that account.
        for older, newer in itertools.pairwise(docs):
            assert newer["previousDigestS3Object"] == older["digestS3Object"]
    assert counts == {(ACCOUNT, "us-east-1"): 5, (MEMBER, "us-east-1"): 7,
                      (MEMBER, "eu-west-1"): 3}
    # The management account's own chain exists from the start (its API calls are there).
    assert _keys(s3, bucket, f"AWSLogs/{ORG}/{MASTER}/CloudTrail-Digest/us-east-1/")

    for account, region in [(MEMBER, "us-east-1"), (MEMBER, "eu-west-1"),
                            (ACCOUNT, "us-east-1")]:
        ok = _stock_validate(server, moto_url, account, start, region)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert " digest files valid" in ok.stdout and "INVALID" not in ok.stdout
        assert "log files valid" in ok.stdout
    # opentrail validate-logs sends its DescribeOrganization to --endpoint-url itself.
    env = server.env("reader", account=None)
    env["AWS_ENDPOINT_URL_S3"] = moto_url
    ours = subprocess.run(
        [sys.executable, "-m", "opentrail", "validate-logs", "--trail-arn", ARN,
         "--start-time", start, "--account-id", MEMBER, "--endpoint-url", server.endpoint],
        capture_output=True, text=True, env=env, timeout=180)
    assert ours.returncode == 0 and "log files valid" in ours.stdout, ours.stdout + ours.stderr
    member_log = _keys(s3, bucket, f"AWSLogs/{ORG}/{MEMBER}/CloudTrail/us-east-1/")[0]
    s3.delete_object(Bucket=bucket, Key=member_log)
    gone = _stock_validate(server, moto_url, MEMBER, start)
    assert gone.returncode == 1 and "INVALID: not found" in gone.stderr, gone.stderr


def test_members_see_a_read_only_shadow(org_server: tuple[Server, Any, str]) -> None:
    server, _s3, bucket = org_server
    org: Any = server.client(account=None)
    org.create_trail(Name="org", S3BucketName=bucket, IsMultiRegionTrail=True,
                     IsOrganizationTrail=True)
    member: Any = server.client(account=MEMBER)
    listed = member.describe_trails()["trailList"]
    assert [(t["TrailARN"], t["IsOrganizationTrail"]) for t in listed] == [(ARN, True)]
    assert member.describe_trails(includeShadowTrails=False)["trailList"] == []
    named = member.describe_trails(trailNameList=[ARN])["trailList"]
    assert [t["TrailARN"] for t in named] == [ARN]
    assert member.get_trail(Name=ARN)["Trail"]["TrailARN"] == ARN
    assert member.get_trail_status(Name=ARN)["IsLogging"] is False
    _fails("TrailNotFoundException", member.get_trail, Name="org")  # members need the ARN
    for call, kwargs in [(member.delete_trail, {"Name": ARN}),
                         (member.start_logging, {"Name": ARN}),
                         (member.stop_logging, {"Name": ARN}),
                         (member.update_trail, {"Name": ARN, "S3KeyPrefix": "x"}),
                         (member.put_event_selectors, {"TrailName": ARN, "EventSelectors": [
                             {"ReadWriteType": "All"}]}),
                         (member.add_tags, {"ResourceId": ARN, "TagsList": [
                             {"Key": "k", "Value": "v"}]})]:
        message = _fails("NotOrganizationMasterAccountException", call, **kwargs)
        assert "organization trail" in message
    assert org.get_trail(Name="org")["Trail"]["S3BucketName"] == bucket  # unchanged
    # Only an organization key makes one; a member key gets CloudTrail's error.
    _fails("NotOrganizationMasterAccountException", member.create_trail, Name="mine",
           S3BucketName=bucket, IsOrganizationTrail=True)
    organizations: Any = server.client("organizations", account=MEMBER)
    found = organizations.describe_organization()["Organization"]
    assert (found["Id"], found["MasterAccountId"]) == (ORG, MASTER)


def test_without_an_organization(make_server: Callable[..., Server]) -> None:
    server = make_server("--organization-id", "none")
    org: Any = server.client(account=None)
    _fails("OrganizationsNotInUseException", org.create_trail, Name="org",
           S3BucketName="org-bucket", IsOrganizationTrail=True)
    organizations: Any = server.client("organizations", account=None)
    _fails("AWSOrganizationsNotInUseException", organizations.describe_organization)


def test_organization_id_setting(tmp_path: Path) -> None:
    from opentrail.config import Settings, validate_settings
    from opentrail.datadir import organization_id

    made = organization_id(tmp_path, "auto")
    assert made is not None and len(made) == 12 and made.startswith("o-")
    assert organization_id(tmp_path, "auto") == made  # kept: keys must not move
    assert organization_id(tmp_path, "none") is None
    assert organization_id(tmp_path, ORG) == ORG
    for good in ("auto", "none", ORG):
        validate_settings(Settings(data_dir=tmp_path, organization_id=good))
    with pytest.raises(ValueError, match="--organization-id"):
        validate_settings(Settings(data_dir=tmp_path, organization_id="o-UPPER12345"))
