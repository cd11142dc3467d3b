"""`python -m bench.compliance`: a compliance report beside `opentrail validate-logs` alone.

A real `opentrail serve` delivers a trail to its local folder (fast delivery and digest
intervals, so a run of minutes makes the digests and log files an hour-long run would
at scale); N events go in through the batch API. Then, over the same period, both run
as real commands, each twice (the faster kept): `opentrail validate-logs
--local-folder` (the reference: the digest and log-file validation alone) and
`opentrail compliance report --profile all --format html,json` (every check, including
that same validation, the evidence files, proofs, HTML, manifest, signing). Target:
the report costs at most 1.5x the validation alone (issue 14).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.client import ApiClient, Key
from bench.report import Row, print_table, write_json

ACCOUNT = "123456789012"
TARGET = 1.5


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "opentrail", *args], capture_output=True,
                          text=True, timeout=3600, check=False, env=env)


def _events(n: int) -> bytes:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    records = [{
        "eventVersion": "1.11", "eventTime": now, "eventSource": "ec2.amazonaws.com",
        "eventName": "RunInstances" if i % 7 else "TerminateInstances",
        "awsRegion": "us-east-1", "sourceIPAddress": f"203.0.113.{i % 250}",
        "userAgent": "aws-cli/2.15", "eventID": str(uuid.uuid4()), "readOnly": False,
        "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
        "userIdentity": {"type": "IAMUser", "accountId": ACCOUNT, "userName": f"u{i % 40}",
                         "arn": f"arn:aws:iam::{ACCOUNT}:user/u{i % 40}"},
        "requestParameters": {"instanceType": "m5.large", "minCount": 1, "maxCount": 1},
        "resources": [{"ARN": f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-{i:012x}"}],
    } for i in range(n)]
    return json.dumps({"Records": records}).encode()


class Server:
    def __init__(self, root: Path, args: argparse.Namespace, extra: tuple[str, ...] = ()
                 ) -> None:
        self.data = root / "data"
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = (root / "server.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "opentrail", "serve", "--data-dir", str(self.data),
             "--port", str(self.port), "--delivery-interval", str(args.delivery),
             "--digest-interval", str(args.digest), "--history-retention-days", "0", *extra],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{self.endpoint}/health", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("server did not start") from None
                time.sleep(0.1)
        made = json.loads(_cli("keys", "create", "--data-dir", str(self.data), "--account",
                               ACCOUNT, "--role", "admin").stdout)
        self.key = Key(made["AccessKeyId"], made["SecretAccessKey"])
        self.env = {**os.environ, "AWS_ACCESS_KEY_ID": self.key.access_key_id,
                    "AWS_SECRET_ACCESS_KEY": self.key.secret,
                    "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}

    def cloudtrail(self) -> Any:
        import boto3

        return boto3.client("cloudtrail", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=self.key.access_key_id,
                            aws_secret_access_key=self.key.secret)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.log.close()


def fill(server: Server, args: argparse.Namespace) -> tuple[str, str, Any]:
    ct = server.cloudtrail()
    ct.create_trail(Name="busy", S3BucketName="busy-bucket", EnableLogFileValidation=True,
                    IsMultiRegionTrail=True)
    ct.start_logging(Name="busy")
    time.sleep(1.1)
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    client = ApiClient(server.endpoint, server.key)
    sent, deadline = 0, time.monotonic() + args.seconds
    while sent < args.events:
        client.ingest(_events(min(1000, args.events - sent)))
        sent += min(1000, args.events - sent)
        pause = (deadline - time.monotonic()) / max(1, (args.events - sent) // 1000)
        time.sleep(max(0.0, min(pause, 5.0)))
        if sent % 50_000 == 0:
            say(f"sent {sent} events")
    client.close()
    time.sleep(args.delivery * 2 + 1)
    end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    say(f"sent {sent} events; waiting for the digest that covers the end")
    time.sleep(args.digest + args.delivery * 2 + 2)
    arn = ct.describe_trails()["trailList"][0]["TrailARN"]
    return start, end, arn


def timed(args: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    proc = _cli(*args, env=env)
    return time.perf_counter() - t0, proc


def measure(server: Server, start: str, end: str, arn: str, root: Path,
            runs: int) -> dict[str, Any]:
    folder = str(server.data / "buckets")
    validate = ["validate-logs", "--trail-arn", arn, "--start-time", start, "--end-time", end,
                "--endpoint-url", server.endpoint, "--local-folder", folder]
    times: dict[str, list[float]] = {"validate": [], "report": []}
    summary = ""
    for n in range(runs):
        seconds, proc = timed(validate, server.env)
        times["validate"].append(seconds)
        summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr
        out = root / f"report-{n}"
        seconds, proc = timed(["compliance", "report", "--profile", "all", "--start-time",
                               start, "--end-time", end, "--output", str(out),
                               "--endpoint-url", server.endpoint, "--local-folder", folder],
                              server.env)
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"report failed: {proc.stderr[-2000:]}")
        times["report"].append(seconds)
        say(f"run {n + 1}: validate-logs {times['validate'][-1]:.1f}s, report {seconds:.1f}s")
    doc = json.loads((root / "report-0" / "report.json").read_text())
    counts = next(c["counts"] for c in doc["checks"] if c["id"] == "OT-03")
    return {"validate_seconds": min(times["validate"]), "report_seconds": min(times["report"]),
            "times": times, "ot03": counts, "validate_summary": summary}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--seconds", type=float, default=120.0,
                   help="Spread the events over this long (more digests and log files).")
    p.add_argument("--delivery", type=int, default=2, help="--delivery-interval of the server")
    p.add_argument("--digest", type=int, default=10, help="--digest-interval of the server")
    p.add_argument("--runs", type=int, default=2)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="bench-compliance-"))
    server = Server(root, args)
    try:
        start, end, arn = fill(server, args)
        result = measure(server, start, end, arn, root, args.runs)
    finally:
        server.stop()
    ratio = result["report_seconds"] / result["validate_seconds"]
    ot03 = result["ot03"]
    rows = [
        Row("trail: events / digests / log files",
            f"{args.events} / {ot03['digests']} / {ot03['logFiles']}"),
        Row("validate-logs alone (s)", f"{result['validate_seconds']:.2f}"),
        Row("compliance report, all 22 checks (s)", f"{result['report_seconds']:.2f}",
            f"{result['validate_seconds']:.2f}", f"{ratio:.2f}x", f"<= {TARGET}x",
            ratio <= TARGET),
    ]
    print_table(rows)
    path = write_json(rows, {"compliance": {**result, "args": vars(args)}})
    say(f"results in {path}")
    shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
