"""Three `opentrail serve` nodes on one PostgreSQL database, trail files on moto's S3:
writers send through all three while the node holding `checkpoint-signer` and the node
holding `trail-delivery` are killed with SIGKILL, twice (and restarted). Afterwards every
acknowledged event is in every node's LookupEvents exactly once and in exactly one log
file of the trail, the stock `aws cloudtrail validate-logs` finds every digest and log
file valid, and `opentrail verify --database-url` run from two nodes recomputes the same
tree head, the one the nodes' signed checkpoint at that size names."""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import re
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

from conftest import (
    ACCOUNT,
    TEST_MASTER_KEY,
    Key,
    Server,
    final_digest_delivered,
    free_port,
    make_event,
    signed_post,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BUCKET = "cluster-trail"
TRAIL = "cluster"
ARN = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/{TRAIL}"
SIGNER, DELIVERY = "checkpoint-signer", "trail-delivery"
BATCH = 5  # events per request
ROUNDS = 2  # kill -9 rounds


def _s3(url: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def nodes(tmp_path: Path, postgres_url: str, moto_url: str,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Server]]:
    """Three nodes, each with its own data dir, one database, one S3 store."""
    for name, value in (("OPENTRAIL_DATABASE_URL", postgres_url),
                        ("OPENTRAIL_MASTER_KEY", base64.b64encode(TEST_MASTER_KEY).decode()),
                        ("AWS_ACCESS_KEY_ID", "testing"),
                        ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    _s3(moto_url).create_bucket(Bucket=BUCKET)
    flags = ("--s3-endpoint-url", moto_url, "--lake-location", "s3://cluster-lake/stores",
             "--delivery-interval", "1", "--digest-interval", "2", "--checkpoint-interval",
             "1", "--health-sample-interval", "0", "--verifier-interval", "0")
    made = [Server(tmp_path / f"node{n}", free_port(), extra_args=flags) for n in range(3)]
    for server in made:
        server.start()
    for server in made[1:]:  # keys live in the database: one set for every node
        server.keys_made = made[0].keys_made
    yield made
    for server in made:
        server.kill()


def _roles(server: Server) -> list[str]:
    try:
        roles: list[str] = httpx.get(f"{server.endpoint}/readyz?verbose",
                                     timeout=5).json().get("roles", [])
        return roles
    except (httpx.HTTPError, ValueError):
        return []


def _holder(servers: list[Server], role: str) -> Server | None:
    alive = [s for s in servers if s.proc is not None and s.proc.poll() is None]
    holders = [s for s in alive if role in _roles(s)]
    return holders[0] if len(holders) == 1 else None


class Writers:
    """One writer thread per node; a request that fails (its node killed) is sent again,
    the same events, to the next node until one acknowledges it (dedup by eventID)."""

    def __init__(self, servers: list[Server], key: Key) -> None:
        self.servers, self.key = servers, key
        self.acknowledged: list[str] = []
        self.retried = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(3)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)

    def _run(self, first: int) -> None:
        order = itertools.cycle([first, (first + 1) % 3, (first + 2) % 3])
        while not self._stop.is_set():
            events = [make_event("ClusterWrite") for _ in range(BATCH)]
            body = json.dumps({"Records": events}).encode()
            while not self._send(self.servers[next(order)], body):
                with self._lock:
                    self.retried += 1
                time.sleep(0.05)
            with self._lock:
                self.acknowledged += [str(e["eventID"]) for e in events]
            self._stop.wait(0.1)

    def _send(self, server: Server, body: bytes) -> bool:
        try:
            answer = signed_post(server.endpoint, "/opentrail/v1/events", body, self.key)
        except httpx.HTTPError:
            return False
        if answer.status_code != 200:
            return False
        result = answer.json()
        return bool(result["accepted"] + result["duplicates"] == BATCH)


def _kill_holders(servers: list[Server], writers: Writers) -> list[Server]:
    """SIGKILL the nodes holding the signer and delivery roles, mid-ingest; wait until
    the roles are held elsewhere and ingest goes on, then restart the killed nodes."""
    wait_until(lambda: _holder(servers, SIGNER) and _holder(servers, DELIVERY), timeout=60)
    victims = {id(s): s for s in (_holder(servers, SIGNER), _holder(servers, DELIVERY))
               if s is not None}
    before = len(writers.acknowledged)
    for victim in victims.values():
        victim.kill()
    wait_until(lambda: _holder(servers, SIGNER) and _holder(servers, DELIVERY), timeout=60)
    wait_until(lambda: len(writers.acknowledged) > before + 3 * BATCH, timeout=60)
    for victim in victims.values():
        victim.start()
    return list(victims.values())


def _log_records(s3: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=f"AWSLogs/{ACCOUNT}/CloudTrail/"):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            out += json.loads(gzip.decompress(body))["Records"]
    return out


def _history(server: Server) -> list[str]:
    client: Any = server.client(role="reader")
    pages = client.get_paginator("lookup_events").paginate(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "ClusterWrite"}],
        StartTime=time.time() - 30 * 86400, EndTime=time.time() + 60,
        PaginationConfig={"PageSize": 50})
    return [e["EventId"] for page in pages for e in page["Events"]]


def _validate_logs(server: Server, moto_url: str, start: str) -> str:
    env = server.env("reader")
    env["AWS_ENDPOINT_URL_S3"] = moto_url
    proc = subprocess.run(
        [sys.executable, "-m", "awscli", "cloudtrail", "validate-logs", "--trail-arn", ARN,
         "--start-time", start, "--endpoint-url", server.endpoint, "--verbose"],
        capture_output=True, text=True, env=env, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _tree_head(server: Server) -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "-m", "opentrail", "verify", "--data-dir",
                           str(server.data_dir)], capture_output=True, text=True,
                          timeout=180)  # --database-url from $OPENTRAIL_DATABASE_URL
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = re.search(r"tree head: size (\d+) root ([0-9a-f]{64})", proc.stdout)
    assert found, proc.stdout
    return int(found[1]), found[2]


def _checkpoint(server: Server, size: int) -> dict[str, Any] | None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    key = server.key("reader")
    url = f"{server.endpoint}/opentrail/v1/checkpoints/{size}"
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials(key.access_key_id, key.secret), "opentrail",
              "us-east-1").add_auth(request)
    answer = httpx.get(url, headers=dict(request.headers.items()), timeout=30)
    return answer.json() if answer.status_code == 200 else None


def test_three_nodes_survive_two_rounds_of_kill_9(nodes: list[Server], moto_url: str
                                                   ) -> None:
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    ct: Any = nodes[0].client()
    ct.create_trail(Name=TRAIL, S3BucketName=BUCKET, EnableLogFileValidation=True)
    ct.start_logging(Name=TRAIL)
    writers = Writers(nodes, nodes[0].key("writer"))
    writers.start()
    killed: list[Server] = []
    try:
        for _ in range(ROUNDS):
            wait_until(lambda: len(writers.acknowledged) >= 20 * BATCH, timeout=60)
            killed += _kill_holders(nodes, writers)
    finally:
        writers.stop()
    acknowledged = writers.acknowledged
    assert killed and len(set(acknowledged)) == len(acknowledged)
    s3 = _s3(moto_url)

    def delivered_once() -> bool:
        counts = Counter(r["eventID"] for r in _log_records(s3))
        assert all(n == 1 for n in counts.values()), "an event in two log files"
        return all(counts[e] == 1 for e in acknowledged)

    wait_until(delivered_once, timeout=90)
    ct.stop_logging(Name=TRAIL)
    wait_until(lambda: final_digest_delivered(ct, TRAIL), timeout=60)
    for server in nodes:  # the index is the database's: every node answers the same
        wait_until(lambda s=server: set(acknowledged) <= set(_history(s)), timeout=60)
        found = _history(server)
        assert len(found) == len(set(found)) and set(found) == set(acknowledged)
    report = _validate_logs(nodes[1], moto_url, start)
    digests = re.search(r"(\d+)/(\d+) digest files valid", report)
    logs = re.search(r"(\d+)/(\d+) log files valid", report)
    assert digests and logs and digests[1] == digests[2] and logs[1] == logs[2], report
    assert int(logs[2]) >= 2 and "INVALID" not in report
    heads = {_tree_head(server) for server in nodes[:2]}
    assert len(heads) == 1
    ((size, root),) = heads
    for server in nodes:
        wait_until(lambda s=server: _checkpoint(s, size) is not None, timeout=30)
        assert _checkpoint(server, size)["rootHash"] == root  # type: ignore[index]
