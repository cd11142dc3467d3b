"""`python -m bench.validate_logs`: opentrail validate-logs beside the stock aws CLI.

One day of a busy trail (24 hourly digests, 288 log files of 2,000 events each) is built
in moto's standalone S3 server on loopback, exactly per the spec (the test suite's
builder, tests/trails/trails_validate_bucket.py), then both validators run on the same
files in the same run as real commands: `aws cloudtrail validate-logs` against a
CloudTrail stub with AWS_ENDPOINT_URL_S3, and `opentrail validate-logs`. Their verdicts
must agree. Two floors show how much of the time is moto's own: every object fetched
once sequentially (what the aws CLI's transport costs) and with a thread pool (ours).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.report import RESULTS, Row, machine, print_table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "trails"))

from trails_validate_bucket import (
    T0,
    FolderStore,
    Run,
    S3Store,
    SigningKey,
    Trail,
    client_env,
    cloudtrail_stub,
    moto_s3,
    run_aws,
    run_ours,
    window,
)

TARGET = 10.0


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def build(s3: Any, hours: int, files: int, events: int) -> Trail:
    key = SigningKey(T0 - timedelta(days=30), T0 + timedelta(days=30))
    trail = Trail(S3Store(s3, "busy-trail-bucket"), [key], name="busy")
    step = timedelta(hours=1) / files
    for hour in range(hours):
        start = T0 + timedelta(hours=hour)
        logs = [trail.deliver_log(start + step * (n + 0.5), events) for n in range(files)]
        trail.digest(start, start + timedelta(hours=1), logs)
        say(f"built hour {hour + 1}/{hours}")
    return trail


def floors(s3: Any, bucket: str, workers: int) -> tuple[float, float, int]:
    """Seconds to GET every object once: sequentially, then with `workers` threads."""
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", [])]

    def get(key: str) -> int:
        return len(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    began = time.perf_counter()
    size = sum(map(get, keys))
    sequential = time.perf_counter() - began
    began = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(get, keys))
    return sequential, time.perf_counter() - began, size


def to_folder(s3: Any, trail: Trail, tmp: Path) -> list[str]:
    """The same objects as a local-folder destination, plus the keys saved offline:
    ours without any S3 server, to show how much of the S3 time is moto's."""
    bucket = trail.store.bucket
    folder = FolderStore(tmp / "buckets", bucket)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            got = s3.get_object(Bucket=bucket, Key=item["Key"])
            folder.put(item["Key"], got["Body"].read(), dict(got["Metadata"]))
    keys = tmp / "keys.json"
    keys.write_text(json.dumps({"PublicKeyList": [k.listing() for k in trail.keys]}))
    return ["--local-folder", str(tmp / "buckets"), "--s3-bucket", bucket,
            "--public-keys", str(keys)]


def _moto_cpu() -> float:
    """CPU seconds used so far by the moto server (a child of this process)."""
    import psutil

    procs = [p for p in psutil.Process().children(recursive=True)
             if "moto" in " ".join(p.cmdline())]
    return sum(sum(p.cpu_times()[:2]) for p in procs)


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


CPU: dict[str, tuple[float, float]] = {}  # label -> (validator CPU s, moto CPU s)


def timed(label: str, fn: Any) -> tuple[Run, float]:
    say(f"running {label}")
    cpu, moto = _child_cpu(), _moto_cpu()
    began = time.perf_counter()
    run = fn()
    seconds = time.perf_counter() - began
    CPU[label] = (_child_cpu() - cpu, _moto_cpu() - moto)
    say(f"{label}: {seconds:.2f} s, exit {run.returncode}, CPU {CPU[label][0]:.2f} s, "
        f"moto CPU {CPU[label][1]:.2f} s")
    return run, seconds


def verdicts(run: Run) -> tuple[int, str]:
    return run.returncode, run.stdout.split("Results requested", 1)[-1].strip()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.validate_logs", description=__doc__)
    p.add_argument("--hours", type=int, default=24)
    p.add_argument("--files-per-hour", type=int, default=12)
    p.add_argument("--events", type=int, default=2000, help="events per log file")
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--quick", action="store_true", help="2 hours instead of 24")
    args = p.parse_args(argv)
    if args.quick:
        args.hours = 2
    return args


def measure(args: argparse.Namespace, s3_url: str, ct_url: str, stub: Any,
            tmp: Path) -> dict[str, Any]:
    import boto3
    from botocore.config import Config

    s3 = boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing",
                      config=Config(max_pool_connections=args.workers))
    trail = build(s3, args.hours, args.files_per_hour, args.events)
    stub.add(trail)
    env = client_env(tmp, s3_url)
    span = window(T0, T0 + timedelta(hours=args.hours))
    stock, stock_s = timed("aws cloudtrail validate-logs",
                           lambda: run_aws(trail, ct_url, env, *span))
    ours, ours_s = timed("opentrail validate-logs", lambda: run_ours(
        trail, env, "--endpoint-url", ct_url, "--workers", str(args.workers), *span))
    sequential, parallel, size = floors(s3, trail.store.bucket, args.workers)
    offline = to_folder(s3, trail, tmp)
    folder, folder_s = timed("opentrail validate-logs --local-folder", lambda: run_ours(
        trail, env, "--workers", str(args.workers), *offline, *span))
    return {"stock_s": stock_s, "ours_s": ours_s, "ours_folder_s": folder_s,
            "same_verdicts": verdicts(stock) == verdicts(ours) == verdicts(folder)
            and stock.returncode == 0,
            "stock_summary": verdicts(stock), "ours_summary": verdicts(ours),
            "get_all_sequential_s": sequential, "get_all_parallel_s": parallel,
            "cpu_s": {label: {"validator": v, "moto": m} for label, (v, m) in CPU.items()},
            "bytes": size, "objects": args.hours * (args.files_per_hour + 1)}


def rows(result: dict[str, Any], args: argparse.Namespace) -> list[Row]:
    ratio = result["stock_s"] / result["ours_s"]
    what = (f"validate-logs, {args.hours} digests, {args.hours * args.files_per_hour} "
            f"log files x {args.events} events")
    return [
        Row(what, f"{result['ours_s']:.2f} s", f"{result['stock_s']:.2f} s (aws CLI)",
            f"{ratio:.1f}x", f">= {TARGET:.0f}x", ratio >= TARGET),
        Row("same verdicts as the aws CLI", str(result["same_verdicts"]), met=bool(
            result["same_verdicts"])),
        Row("the same files from --local-folder (no S3 server)", f"{result['ours_folder_s']:.2f} s",
            f"{result['stock_s']:.2f} s (aws CLI on moto)",
            f"{result['stock_s'] / result['ours_folder_s']:.1f}x"),
        *(Row(f"CPU s of {label} (validator / moto)", f"{cpu['validator']:.2f} / "
              f"{cpu['moto']:.2f}") for label, cpu in result["cpu_s"].items()),
        Row("moto floor: GET every object, sequential", f"{result['get_all_sequential_s']:.2f} s"),
        Row(f"moto floor: GET every object, {args.workers} threads",
            f"{result['get_all_parallel_s']:.2f} s"),
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, moto_s3() as s3_url, \
            cloudtrail_stub() as (ct_url, stub):
        result = measure(args, s3_url, ct_url, stub, Path(tmp))
    table = rows(result, args)
    print_table(table)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "validate_logs.json"
    out.write_text(json.dumps({"time": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
                               "machine": machine(), "args": vars(args), **result},
                              indent=2, default=str))
    say(f"wrote {out}")
    return 0 if result["same_verdicts"] else 1


if __name__ == "__main__":
    sys.exit(main())
