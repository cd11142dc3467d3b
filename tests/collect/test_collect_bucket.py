"""`opentrail collect --once` polling a trail bucket on moto's S3 server, through boto3."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from conftest import ACCOUNT, Server, make_event, moto_server, wait_until

KEY = f"trail/AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/11/25/{ACCOUNT}_CloudTrail_{{}}.json.gz"


@pytest.fixture
def s3_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


def put_log(s3: Any, name: str, count: int) -> None:
    when = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    records = [make_event(f"Bucket{name}", when=when) for _ in range(count)]
    s3.put_object(Bucket="trail-bucket", Key=KEY.format(name),
                  Body=gzip.compress(json.dumps({"Records": records}).encode()))


def collect_once(server: Server, config: Path) -> None:
    subprocess.run([sys.executable, "-m", "opentrail", "collect", "--config", str(config),
                    "--endpoint-url", server.endpoint, "--once"],
                   env=server.env("writer"), check=True, timeout=120, capture_output=True)


def stored(server: Server, name: str) -> int:
    client: Any = server.client()
    return len(client.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": f"Bucket{name}"}])["Events"])


@pytest.mark.e2e
def test_bucket_files_are_sent_once(live_server: Server, s3_url: str, tmp_path: Path) -> None:
    key = live_server.key("writer")
    s3 = boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1",
                      aws_access_key_id=key.access_key_id, aws_secret_access_key=key.secret)
    s3.create_bucket(Bucket="trail-bucket")
    put_log(s3, "A", 3)
    config = tmp_path / "collect.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\n\n[[bucket]]\n'
                      f'bucket = "trail-bucket"\nprefix = "trail/"\n'
                      f'endpoint_url = "{s3_url}"\nregion = "us-east-1"\n')
    collect_once(live_server, config)
    wait_until(lambda: stored(live_server, "A") == 3, timeout=60)
    put_log(s3, "B", 2)
    collect_once(live_server, config)
    wait_until(lambda: stored(live_server, "B") == 2, timeout=60)
    state = json.loads(next((tmp_path / "state").glob("bucket-*.json")).read_text())
    assert state["read"] == sorted([KEY.format("A"), KEY.format("B")])
    assert stored(live_server, "A") == 3
