"""Shared fixtures: a real `opentrail serve` on loopback, and keys made by the real CLI."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

ACCOUNT = "123456789012"
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DATASETS = SHARED / "datasets"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def opentrail(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess and fail loudly on a non-zero exit."""
    proc = subprocess.run(
        [sys.executable, "-m", "opentrail", *args],
        capture_output=True, text=True, env=env, timeout=120,
    )
    if proc.returncode != 0:
        raise AssertionError(f"opentrail {args} failed ({proc.returncode}): {proc.stderr}")
    return proc


@dataclass
class Key:
    access_key_id: str
    secret: str


@dataclass
class Server:
    data_dir: Path
    port: int
    extra_args: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    keys_made: dict[tuple[str, str | None], Key] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log = self.data_dir.parent / f"server-{self.port}.log"
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "opentrail", "serve", "--data-dir", str(self.data_dir),
             "--port", str(self.port), *self.extra_args],
            stdout=out, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.endpoint}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise AssertionError(f"server did not start: {self.log.read_text()}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    def key(self, role: str = "admin", account: str | None = ACCOUNT) -> Key:
        """A key made with `opentrail keys create` (account None = organization key)."""
        if (role, account) not in self.keys_made:
            scope = ["--organization"] if account is None else ["--account", account]
            out = opentrail("keys", "create", "--data-dir", str(self.data_dir), *scope,
                            "--role", role).stdout
            data = json.loads(out)
            self.keys_made[(role, account)] = Key(data["AccessKeyId"], data["SecretAccessKey"])
        return self.keys_made[(role, account)]

    def client(self, service: str = "cloudtrail", role: str = "admin",
               account: str | None = ACCOUNT, region: str = "us-east-1") -> object:
        import boto3

        key = self.key(role, account)
        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=region,
            aws_access_key_id=key.access_key_id, aws_secret_access_key=key.secret,
        )

    def env(self, role: str = "admin", account: str | None = ACCOUNT) -> dict[str, str]:
        """Environment for the aws CLI / opentrail client commands with this server's key."""
        key = self.key(role, account)
        env = dict(os.environ)
        env.update(AWS_ACCESS_KEY_ID=key.access_key_id, AWS_SECRET_ACCESS_KEY=key.secret,
                   AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
        env.pop("AWS_PROFILE", None)
        env.pop("AWS_SESSION_TOKEN", None)
        return env


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[Server]:
    """A fresh `opentrail serve` on a free loopback port with its own data dir."""
    server = Server(tmp_path / "data", free_port())
    server.start()
    yield server
    server.kill(signal.SIGTERM)


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Any]:
    """Start servers with extra `serve` flags on demand; each is stopped after the test."""
    started: list[Server] = []

    def make(*args: str) -> Server:
        server = Server(tmp_path / f"data{len(started)}", free_port(), extra_args=args)
        server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.kill(signal.SIGTERM)


def signed_post(endpoint: str, path: str, body: bytes, key: Key, *, service: str = "opentrail",
                region: str = "us-east-1", headers: dict[str, str] | None = None,
                query: str = "") -> httpx.Response:
    """A SigV4-signed POST made with botocore's signer, sent with httpx."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = f"{endpoint}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method="POST", url=url, data=body,
                         headers={"Content-Type": "application/json", **(headers or {})})
    SigV4Auth(Credentials(key.access_key_id, key.secret), service, region).add_auth(request)
    return httpx.post(url, content=body, headers=dict(request.headers.items()), timeout=60)


def post_records(server: Server, records: list[dict[str, object]], *, role: str = "writer",
                 account: str | None = ACCOUNT, region: str = "us-east-1") -> dict[str, object]:
    """Send records through the batch ingest operation; returns its JSON answer."""
    body = json.dumps({"Records": records}).encode()
    response = signed_post(server.endpoint, "/opentrail/v1/events", body,
                           server.key(role, account), region=region)
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


def wait_until(predicate: object, timeout: float = 15.0) -> None:
    """Poll until predicate() is truthy (visibility is asynchronous by design)."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def final_digest_delivered(client: Any, trail: str) -> bool:
    """A stopped trail's final digest is out: the newest digest was made in a pass after
    StopLogging and after the pass that delivered the newest log file (a pass enqueues
    its files before it builds its digests, so that digest lists them)."""
    status = client.get_trail_status(Name=trail)
    digest = status.get("LatestDigestDeliveryTime")
    return bool(digest and status.get("LatestDeliveryTime") and status.get("StopLoggingTime")
                and digest >= status["LatestDeliveryTime"]
                and digest >= status["StopLoggingTime"])


def make_event(name: str = "DescribeInstances", *, when: str = "2026-11-20T10:00:00Z",
               account: str = ACCOUNT, region: str = "us-east-1", **extra: object
               ) -> dict[str, object]:
    """A small valid CloudTrail management event."""
    import uuid

    event: dict[str, object] = {
        "eventVersion": "1.11",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "accountId": account,
                         "arn": f"arn:aws:iam::{account}:user/alice", "userName": "alice",
                         "accessKeyId": "AKIAEXAMPLE"},
        "eventTime": when, "eventSource": "ec2.amazonaws.com", "eventName": name,
        "awsRegion": region, "sourceIPAddress": "203.0.113.7", "userAgent": "aws-cli/2.15",
        "requestParameters": None, "responseElements": None, "eventID": str(uuid.uuid4()),
        "readOnly": True, "eventType": "AwsApiCall", "managementEvent": True,
        "recipientAccountId": account, "eventCategory": "Management",
    }
    event.update(extra)
    return event


@contextlib.contextmanager
def moto_server(log: Path | None = None) -> Iterator[str]:
    """moto's standalone S3 server on a free loopback port: the real S3 protocol, reached
    by tests and by OpenTrail only through boto3."""
    port = free_port()
    with (log.open("wb") if log else open(os.devnull, "wb")) as sink:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                 "-p", str(port)], stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline, "moto did not start"
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One moto S3 server shared by the tests of a module."""
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """A private PostgreSQL 15 server for the whole session (tests/postgres_server.py);
    fails, never skips, when PostgreSQL is not installed."""
    from postgres_server import PostgresServer

    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: Any) -> Iterator[str]:
    """The URL of a fresh, empty database on the session's PostgreSQL server."""
    url: str = postgres_server.new_database()
    yield url
    postgres_server.drop_database(url)


TEST_MASTER_KEY = b"\x07" * 32  # the master key of the test databases' "cluster"


@dataclass
class Backends:
    """Opens backends on one place: the same data dir or the same database. A second
    `open()` is another process (SQLite) or another node (PostgreSQL)."""

    kind: str
    data_dir: Path
    url: str = ""
    opened: list[Any] = field(default_factory=list)

    def open(self, master_key: bytes = TEST_MASTER_KEY) -> Any:
        if self.kind == "sqlite":
            from opentrail.backends.sqlite import SqliteBackend

            backend: Any = SqliteBackend(self.data_dir)
        else:
            from opentrail.backends.postgres import PostgresBackend

            backend = PostgresBackend.open(self.url, master_key, pool_size=4)
        self.opened.append(backend)
        return backend


@pytest.fixture(params=["sqlite", "postgresql"])
def backends(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backends]:
    """Contract tests run once per backend: the same test body on SQLite and PostgreSQL."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else ""
    made = Backends(request.param, tmp_path / "data", url)
    yield made
    for backend in made.opened:
        backend.close()


@pytest.fixture
def backend(backends: Backends) -> Any:
    """One backend (each kind in turn), for contract tests of a single node."""
    return backends.open()
