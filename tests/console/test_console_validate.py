"""The trails page's Validate now, over HTTP against a real server delivering to its
bucket folders: every file valid, then a tampered log file caught, and CSRF enforced."""

from __future__ import annotations

import gzip
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import (
    Server,
    final_digest_delivered,
    free_port,
    make_event,
    post_records,
    wait_until,
)

pytestmark = pytest.mark.e2e

BUCKET = "audit-bucket"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    live = Server(tmp_path / "data", free_port(),
                  ("--delivery-interval", "1", "--digest-interval", "3"))
    live.start()
    yield live
    live.kill(signal.SIGTERM)


def _sign_in(server: Server) -> httpx.Client:
    key = server.key("reader")
    http = httpx.Client(base_url=server.endpoint, follow_redirects=False, timeout=60)
    token = re.search(r'name="signin_token" value="([^"]+)"', http.get("/signin").text)
    assert token
    http.post("/signin", data={"signin_token": token[1], "next": "/trails",
                               "access_key_id": key.access_key_id, "secret": key.secret})
    return http


def _files(server: Server, kind: str) -> list[Path]:
    root = server.data_dir / "buckets" / BUCKET / "AWSLogs"
    return sorted(root.glob(f"*/{kind}/us-east-1/*/*/*/*.json.gz"))


def _delivered(server: Server) -> Any:
    """A validated trail with some log files and the final digest after StopLogging."""
    ct: Any = server.client()
    ct.create_trail(Name="main", S3BucketName=BUCKET, EnableLogFileValidation=True)
    ct.start_logging(Name="main")
    post_records(server, [make_event("RunInstances") for _ in range(20)])
    wait_until(lambda: _files(server, "CloudTrail"), timeout=60)
    ct.stop_logging(Name="main")

    wait_until(lambda: final_digest_delivered(ct, "main"), timeout=60)
    return ct


def _validate(http: httpx.Client, arn: str, csrf: str) -> httpx.Response:
    return http.post("/trails/validate", data={"csrf": csrf, "arn": arn, "window": "1h"})


def test_validate_now_lists_every_file_and_catches_a_tampered_one(server: Server) -> None:
    ct = _delivered(server)
    arn = ct.get_trail(Name="main")["Trail"]["TrailARN"]
    http = _sign_in(server)
    page = http.get("/trails").text
    assert "Validate now" in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf

    ok = _validate(http, arn, csrf[1])
    assert ok.status_code == 200, ok.text
    assert "Every file is valid" in ok.text
    logs, digests = _files(server, "CloudTrail"), _files(server, "CloudTrail-Digest")
    for path in logs + digests:
        assert path.name in ok.text  # one row per file, each with its verdict
    assert ok.text.count('class="badge ok">valid') == len(logs) + len(digests)

    raw = gzip.decompress(logs[0].read_bytes()).replace(b'"Records":[', b'"Records":[{"a":1},', 1)
    logs[0].write_bytes(gzip.compress(raw))
    bad = _validate(http, arn, csrf[1])
    assert bad.status_code == 200
    assert "Validation failed" in bad.text and "hash value doesn&#39;t match" in bad.text

    forged = _validate(http, arn, "forged")
    assert forged.status_code == 403 and "Validation was refused" in forged.text
    other = _validate(http, arn.replace("123456789012", "210987654321"), csrf[1])
    assert other.status_code == 400 and "that this access key may see" in other.text
