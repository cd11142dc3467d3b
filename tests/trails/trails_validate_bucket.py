"""Test and bench helpers for validate-logs: a trail's bucket built exactly per the spec,
moto's standalone S3 server, a minimal CloudTrail JSON stub, and both validators.

The builder is independent of OpenTrail's own delivery code on purpose: it is a second
implementation of spec sections 2-3, so the validator is checked against the format,
not against our own writer.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import secrets
import socket
import string
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ACCOUNT = "123456789012"
REGION = "us-east-1"
T0 = datetime(2026, 11, 20, tzinfo=UTC)
ISO = "%Y-%m-%dT%H:%M:%SZ"
_ALNUM = string.ascii_letters + string.digits


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def iso(when: datetime) -> str:
    return when.strftime(ISO)


# --- signing keys --------------------------------------------------------------------------

@dataclass
class SigningKey:
    valid_from: datetime
    valid_until: datetime
    private: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @property
    def der(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.DER,
                                                      serialization.PublicFormat.PKCS1)

    @property
    def fingerprint(self) -> str:
        return hashlib.md5(self.der, usedforsecurity=False).hexdigest()

    def sign(self, data: bytes) -> str:
        return self.private.sign(data, padding.PKCS1v15(), hashes.SHA256()).hex()

    def listing(self) -> dict[str, object]:
        """One ListPublicKeys entry, as it travels in JSON."""
        return {"Value": base64.b64encode(self.der).decode(),
                "ValidityStartTime": self.valid_from.timestamp(),
                "ValidityEndTime": self.valid_until.timestamp(),
                "Fingerprint": self.fingerprint}


# --- where the builder writes --------------------------------------------------------------

class Store(Protocol):
    bucket: str

    def put(self, key: str, body: bytes, metadata: dict[str, str] | None = None) -> None: ...
    def get(self, key: str) -> tuple[bytes, dict[str, str]]: ...
    def delete(self, key: str) -> None: ...


class S3Store:
    def __init__(self, client: Any, bucket: str) -> None:
        self.client, self.bucket = client, bucket
        client.create_bucket(Bucket=bucket)

    def put(self, key: str, body: bytes, metadata: dict[str, str] | None = None) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body, Metadata=metadata or {})

    def get(self, key: str) -> tuple[bytes, dict[str, str]]:
        got = self.client.get_object(Bucket=self.bucket, Key=key)
        return got["Body"].read(), dict(got["Metadata"])

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)


class FolderStore:
    """The documented folder mapping: ROOT/BUCKET/KEY, metadata JSON in KEY.meta.json."""

    def __init__(self, root: Path, bucket: str) -> None:
        self.root, self.bucket = root, bucket

    def _path(self, key: str) -> Path:
        return self.root / self.bucket / key

    def put(self, key: str, body: bytes, metadata: dict[str, str] | None = None) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = path.with_name(path.name + ".meta.json")
        if metadata:
            meta.write_text(json.dumps(metadata, sort_keys=True))
        path.write_bytes(body)

    def get(self, key: str) -> tuple[bytes, dict[str, str]]:
        path = self._path(key)
        meta = path.with_name(path.name + ".meta.json")
        return path.read_bytes(), (json.loads(meta.read_text()) if meta.exists() else {})

    def delete(self, key: str) -> None:
        self._path(key).unlink()


# --- the trail's files ---------------------------------------------------------------------

_EVENT = ('{{"eventVersion":"1.11","userIdentity":{{"type":"IAMUser","principalId":'
          '"AIDAEXAMPLE","arn":"arn:aws:iam::{acct}:user/alice","accountId":"{acct}",'
          '"accessKeyId":"AKIAEXAMPLE","userName":"alice"}},"eventTime":"{time}",'
          '"eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":'
          '"{region}","sourceIPAddress":"203.0.113.7","userAgent":"aws-cli/2.15.0 '
          'Python/3.11.6 Linux/6.1 botocore/2.4.5","requestParameters":{{"instancesSet":'
          '{{"items":[{{"instanceId":"i-0{n:016x}"}}]}},"filterSet":{{}}}},'
          '"responseElements":null,"requestID":"{rid}","eventID":"{eid}","readOnly":true,'
          '"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"{acct}",'
          '"eventCategory":"Management","tlsDetails":{{"tlsVersion":"TLSv1.3","cipherSuite":'
          '"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"ec2.{region}.amazonaws.com"}}}}')


def records(first: datetime, count: int, *, spread: timedelta = timedelta(minutes=4)) -> bytes:
    """`{"Records":[...]}` with `count` real-shaped events from `first` over `spread`."""
    step = spread / max(count - 1, 1)
    events = [_EVENT.format(acct=ACCOUNT, region=REGION, n=n, time=iso(first + step * n),
                            rid=secrets.token_hex(16), eid=secrets.token_hex(16))
              for n in range(count)]
    return ('{"Records":[' + ",".join(events) + "]}").encode()


@dataclass
class LogEntry:
    key: str
    raw: bytes
    oldest: str
    newest: str


@dataclass
class DigestFile:
    key: str
    raw: bytes
    signature: str
    start: datetime
    end: datetime
    logs: list[LogEntry]


@dataclass
class Trail:
    """One trail's files in one region, written to `store` (spec 2.1, 2.3, 3)."""

    store: Store
    keys: list[SigningKey]
    name: str = "mytrail"
    prefix: str | None = None
    home_region: str = REGION
    digests: list[DigestFile] = field(default_factory=list)

    @property
    def arn(self) -> str:
        return f"arn:aws:cloudtrail:{self.home_region}:{ACCOUNT}:trail/{self.name}"

    def _head(self, kind: str, when: datetime) -> str:
        head = f"{self.prefix}/" if self.prefix else ""
        return f"{head}AWSLogs/{ACCOUNT}/{kind}/{REGION}/{when:%Y/%m/%d}/"

    def log_key(self, delivered: datetime) -> str:
        unique = "".join(secrets.choice(_ALNUM) for _ in range(16))
        return (self._head("CloudTrail", delivered) +
                f"{ACCOUNT}_CloudTrail_{REGION}_{delivered:%Y%m%dT%H%MZ}_{unique}.json.gz")

    def digest_key(self, end: datetime) -> str:
        return (self._head("CloudTrail-Digest", end) + f"{ACCOUNT}_CloudTrail-Digest_{REGION}_"
                f"{self.name}_{self.home_region}_{end:%Y%m%dT%H%M%SZ}.json.gz")

    def deliver_log(self, delivered: datetime, events: int = 3, *, raw: bytes | None = None,
                    level: int = 6) -> LogEntry:
        raw = raw if raw is not None else records(delivered - timedelta(minutes=5), events)
        self.store.put(key := self.log_key(delivered), gzip.compress(raw, level, mtime=0))
        return entry_for(key, raw)

    def digest(self, start: datetime, end: datetime, logs: list[LogEntry], *,
               previous: DigestFile | None = None, key: SigningKey | None = None,
               chained: bool = True) -> DigestFile:
        """Sign and store the digest of `logs` for [start, end] (spec 3.1-3.3)."""
        previous = previous if previous is not None else (
            self.digests[-1] if chained and self.digests else None)
        signer = key or self.keys[0]
        digest_key = self.digest_key(end)
        doc = document(self.store.bucket, digest_key, start, end, logs, previous, signer)
        raw = json.dumps(doc, separators=(",", ":")).encode()
        to_sign = "\n".join([iso(end), f"{self.store.bucket}/{digest_key}",
                             hashlib.sha256(raw).hexdigest(),
                             previous.signature if previous else "null"])
        signature = signer.sign(to_sign.encode())
        self.store.put(digest_key, gzip.compress(raw, mtime=0),
                       {"signature": signature, "signature-algorithm": "SHA256withRSA"})
        made = DigestFile(digest_key, raw, signature, start, end, logs)
        self.digests.append(made)
        return made

    def build(self, hours: int = 4, files_per_hour: int = 2, events: int = 3,
              interval: timedelta = timedelta(hours=1)) -> Trail:
        """`hours` chained digests from T0, each over `files_per_hour` log files."""
        for hour in range(hours):
            start = T0 + interval * hour
            step = interval / (files_per_hour + 1)
            logs = [self.deliver_log(start + step * (n + 1), events)
                    for n in range(files_per_hour)]
            self.digest(start, start + interval, logs)
        return self


def entry_for(key: str, raw: bytes) -> LogEntry:
    times = [e["eventTime"] for e in json.loads(raw)["Records"]]
    return LogEntry(key, raw, min(times), max(times))


def document(bucket: str, key: str, start: datetime, end: datetime, logs: list[LogEntry],
             previous: DigestFile | None, signer: SigningKey) -> dict[str, object]:
    return {
        "awsAccountId": ACCOUNT, "digestStartTime": iso(start), "digestEndTime": iso(end),
        "digestS3Bucket": bucket, "digestS3Object": key,
        "digestPublicKeyFingerprint": signer.fingerprint,
        "digestSignatureAlgorithm": "SHA256withRSA",
        "newestEventTime": max(e.newest for e in logs) if logs else None,
        "oldestEventTime": min(e.oldest for e in logs) if logs else None,
        "previousDigestS3Bucket": bucket if previous else None,
        "previousDigestS3Object": previous.key if previous else None,
        "previousDigestHashValue": hashlib.sha256(previous.raw).hexdigest() if previous else None,
        "previousDigestHashAlgorithm": "SHA-256" if previous else None,
        "previousDigestSignature": previous.signature if previous else None,
        "logFiles": [{"s3Bucket": bucket, "s3Object": e.key,
                      "hashValue": hashlib.sha256(e.raw).hexdigest(), "hashAlgorithm": "SHA-256",
                      "oldestEventTime": e.oldest, "newestEventTime": e.newest} for e in logs],
    }


# --- servers -------------------------------------------------------------------------------

def _wait(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{url}: server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise AssertionError(f"{url} did not come up")


@contextmanager
def moto_s3() -> Iterator[str]:
    """moto's standalone server on a free loopback port; yields its endpoint URL."""
    port = free_port()
    proc = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(f"http://127.0.0.1:{port}/", proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


class CloudTrailStub:
    """The CloudTrail surface validate-logs needs (spec 3.5): DescribeTrails, GetTrailStatus
    and ListPublicKeys (keys whose validity overlaps [StartTime, EndTime]), on loopback."""

    def __init__(self) -> None:
        self.trails: list[dict[str, object]] = []
        self.keys: list[SigningKey] = []
        self.key_calls: list[tuple[float, float]] = []

    def add(self, trail: Trail) -> None:
        self.trails.append({"Name": trail.name, "TrailARN": trail.arn,
                            "S3BucketName": trail.store.bucket, "HomeRegion": trail.home_region,
                            "IsOrganizationTrail": False, "IsMultiRegionTrail": False,
                            "LogFileValidationEnabled": True,
                            **({"S3KeyPrefix": trail.prefix} if trail.prefix else {})})
        self.keys.extend(k for k in trail.keys if k not in self.keys)

    def answer(self, target: str, body: dict[str, Any]) -> dict[str, Any]:
        if target.endswith("DescribeTrails"):
            return {"trailList": self.trails}
        if target.endswith("GetTrailStatus"):
            return {"IsLogging": True}
        if target.endswith("ListPublicKeys"):
            low, high = float(body.get("StartTime", 0)), float(body.get("EndTime", 2**40))
            self.key_calls.append((low, high))
            return {"PublicKeyList": [k.listing() for k in self.keys
                                      if k.valid_from.timestamp() <= high
                                      and k.valid_until.timestamp() >= low]}
        raise KeyError(target)

    def app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        async def root(request: Request) -> JSONResponse:
            target = request.headers.get("x-amz-target", "")
            try:
                return JSONResponse(self.answer(target, json.loads(await request.body() or b"{}")),
                                    media_type="application/x-amz-json-1.1")
            except KeyError:
                return JSONResponse({"__type": "UnknownOperationException", "message": target},
                                    status_code=400)

        return Starlette(routes=[Route("/", root, methods=["POST", "GET"])])


@contextmanager
def cloudtrail_stub() -> Iterator[tuple[str, CloudTrailStub]]:
    import uvicorn

    stub, port = CloudTrailStub(), free_port()
    server = uvicorn.Server(uvicorn.Config(stub.app(), host="127.0.0.1", port=port,
                                          log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        _wait(f"http://127.0.0.1:{port}/")
        yield f"http://127.0.0.1:{port}", stub
    finally:
        server.should_exit = True
        thread.join(timeout=30)


# --- the two validators --------------------------------------------------------------------

def client_env(tmp: Path, s3_endpoint: str | None = None) -> dict[str, str]:
    """A clean AWS environment: dummy credentials, no profile, S3 redirected to moto."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_DEFAULT_REGION=REGION, AWS_EC2_METADATA_DISABLED="true",
               AWS_CONFIG_FILE=str(tmp / "no-aws-config"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp / "no-aws-credentials"))
    if s3_endpoint:
        env["AWS_ENDPOINT_URL_S3"] = s3_endpoint
    return env


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def invalid_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if "\tINVALID" in line]


def window(start: datetime, end: datetime) -> list[str]:
    return ["--start-time", iso(start), "--end-time", iso(end)]


def run_aws(trail: Trail, endpoint: str, env: dict[str, str], *args: str) -> Run:
    """The stock `aws cloudtrail validate-logs`, pointed at the stub and (env) moto."""
    proc = subprocess.run(["aws", "cloudtrail", "validate-logs", "--trail-arn", trail.arn,
                           "--endpoint-url", endpoint, "--verbose", *args],
                          capture_output=True, text=True, env=env, timeout=600, check=False)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def run_ours(trail: Trail, env: dict[str, str], *args: str) -> Run:
    proc = subprocess.run([sys.executable, "-m", "opentrail", "validate-logs",
                           "--trail-arn", trail.arn, "--verbose", *args],
                          capture_output=True, text=True, env=env, timeout=600, check=False)
    return Run(proc.returncode, proc.stdout, proc.stderr)


@contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _in_process(main: Any, args: list[str], env: dict[str, str]) -> Run:
    """Run a CLI entry point in this process (no interpreter start-up: tests stay fast)."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with _environment(env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return Run(int(code or 0), out.getvalue(), err.getvalue())


def aws_in_process(trail: Trail, endpoint: str, env: dict[str, str], *args: str) -> Run:
    """The stock validator through awscli's own driver, as `aws` would run it."""
    from awscli.clidriver import create_clidriver

    argv = ["cloudtrail", "validate-logs", "--trail-arn", trail.arn, "--endpoint-url",
            endpoint, "--verbose", *args]
    # importing awscli points AWS_DATA_PATH at its own models, as the `aws` script does
    env = {**env, "AWS_DATA_PATH": os.environ.get("AWS_DATA_PATH", "")}
    return _in_process(lambda a: create_clidriver().main(a), argv, env)


def ours_in_process(trail: Trail, env: dict[str, str], *args: str) -> Run:
    from opentrail.cli.validate import validate_logs

    argv = ["--trail-arn", trail.arn, "--verbose", *args]
    return _in_process(lambda a: validate_logs.main(a, prog_name="validate-logs"), argv, env)
