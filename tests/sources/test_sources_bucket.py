"""A trail's S3 bucket read incrementally, against moto's standalone S3 server on loopback."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from conftest import DATASETS, moto_server
from opentrail.sources import BucketObject, CloudTrailBucket

INVICTUS = sorted((DATASETS / "invictus-aws" / "CloudTrail").glob("*.json"))[:3]
ORG_KEY = ("logs/AWSLogs/o-abc123def4/123837392027/CloudTrail/us-east-1/2023/07/10/"
           "123837392027_CloudTrail_us-east-1_20230710T1145Z_{}.json.gz")


@pytest.fixture(scope="module")
def s3() -> Iterator[Any]:
    with moto_server() as url:
        yield boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")


def put_log(s3: Any, bucket: str, key: str, source: Path) -> int:
    records = json.loads(source.read_bytes())["Records"]
    s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(json.dumps(
        {"Records": records}).encode()))
    return len(records)


def test_an_organization_trail_is_read_once_across_restarts(s3: Any, tmp_path: Path) -> None:
    s3.create_bucket(Bucket="org-trail")
    put_log(s3, "org-trail", ORG_KEY.format("a"), INVICTUS[0])
    count_b = put_log(s3, "org-trail", ORG_KEY.format("b"), INVICTUS[1])
    s3.put_object(Bucket="org-trail", Key="logs/AWSLogs/o-abc123def4/123837392027/"
                  "CloudTrail-Digest/us-east-1/2023/07/10/digest.json.gz", Body=b"{}")
    state = tmp_path / "state.json"
    bucket = CloudTrailBucket(s3, "org-trail", state, prefix="logs/")
    first = [o for o in bucket.poll() if isinstance(o, BucketObject)]
    assert [o.key for o in first] == [ORG_KEY.format("a"), ORG_KEY.format("b")]
    assert (first[0].organization, first[0].account, first[0].region) == (
        "o-abc123def4", "123837392027", "us-east-1")
    assert len(first[1].records) == count_b
    bucket.mark_read(first[0].key)  # the second file's records were never stored
    again = CloudTrailBucket(s3, "org-trail", state, prefix="logs/")  # a restart
    assert again.pending() == [ORG_KEY.format("b")]
    again.mark_read(ORG_KEY.format("b"))
    put_log(s3, "org-trail", ORG_KEY.format("c"), INVICTUS[2])
    assert CloudTrailBucket(s3, "org-trail", state, prefix="logs/").pending() == [
        ORG_KEY.format("c")]


def test_a_broken_file_is_reported_and_a_foreign_state_file_is_refused(
        s3: Any, tmp_path: Path) -> None:
    s3.create_bucket(Bucket="plain-trail")
    key = ("AWSLogs/111122223333/CloudTrail/eu-west-1/2024/01/02/"
           "111122223333_CloudTrail_eu-west-1_20240102T0000Z_x.json.gz")
    s3.put_object(Bucket="plain-trail", Key=key, Body=b"\x1f\x8bbroken")
    bucket = CloudTrailBucket(s3, "plain-trail", tmp_path / "state.json")
    [(where, reason)] = list(bucket.poll())
    assert where == key and "not a readable CloudTrail log file" in reason
    bucket.mark_read(key)
    with pytest.raises(ValueError, match="is the state of s3://plain-trail/"):
        CloudTrailBucket(s3, "other", tmp_path / "state.json")
