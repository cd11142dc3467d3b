"""`python -m bench.compliance_scale`: the compliance report over a month-long, busy trail.

Issue 14's scale: 30 days of a trail with 10 M events (720 hourly digests, a log file
every 5 minutes: 8,640 files), the report against `opentrail validate-logs` alone over the
same period (target: report <= 1.5x, and <= 5 min). A live server cannot make a month of
digests in minutes, so the trail's objects are generated, exactly as delivery writes them
(the same key layout, gzip level, `make_digest`, chained and signed with the server's own
key, created valid from before the period), into the server's folder destination, and
entered in its delivery record (OT-14 reads it). The ledger holds what the report reads
from it for the period: a month of health log (a ClockSample every 5 minutes, hourly
TrailStatusSample and VerifierRun) and `--ledger-events-per-hour` of the trail's events,
enough for the sampled and capped checks (OT-10, OT-11). Generation is not timed and is
kept in `--work` (default /var/tmp/opentrail-bench-compliance-EVENTS-DAYS), so a rerun
only measures. Then `bench.compliance.measure`: both commands as real processes, the
faster of `--runs` kept.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import shutil
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from bench.compliance import ACCOUNT, TARGET, Server, measure, say
from bench.report import Row, print_table, write_json

REGION = "us-east-1"
BUCKET = "busy-bucket"
TRAIL = "busy"
FILE_EVERY = 300  # a log file every 5 minutes, as CloudTrail
DONE = "generated.json"
ROTATION_DAYS = 90  # the server's signing key covers the whole generated month

EVENT = (
    '{"eventVersion":"1.11","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE%d",'
    '"arn":"arn:aws:iam::123456789012:user/u%d","accountId":"123456789012","userName":"u%d"},'
    '"eventTime":"%s","eventSource":"ec2.amazonaws.com","eventName":"%s",'
    '"awsRegion":"us-east-1","sourceIPAddress":"203.0.113.%d","userAgent":"aws-cli/2.15",'
    '"requestParameters":{"instanceType":"m5.large","minCount":1,"maxCount":1},'
    '"responseElements":null,"eventID":"%08x-%04x-4000-8000-%012x","readOnly":false,'
    '"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"123456789012",'
    '"eventCategory":"Management","resources":[{"ARN":'
    '"arn:aws:ec2:us-east-1:123456789012:instance/i-%012x"}]}')


def _trail(created: float) -> Any:
    from opentrail.trails import Trail

    return Trail(name=TRAIL, account=ACCOUNT, home_region=REGION, s3_bucket_name=BUCKET,
                 is_multi_region_trail=True, log_file_validation_enabled=True,
                 created=created)


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _log_file(hour: int, k: int, first: int, count: int, begin: float,
              buckets: Path) -> tuple[str, str, int, int, float]:
    """One log file of `count` events (ids from `first`), as delivery writes it."""
    import gzip

    from opentrail.storage import FolderStorage
    from opentrail.trails._delivery import GZIP_LEVEL
    from opentrail.trails._digest import log_prefix

    start = begin + hour * 3600 + k * FILE_EVERY
    stamps = [_iso(start + s) for s in range(FILE_EVERY)]
    body = ",".join(EVENT % (i % 40, i % 40, i % 40, stamps[j * FILE_EVERY // count],
                             "RunInstances" if i % 7 else "TerminateInstances", i % 250,
                             hour, k, i, i)
                    for j, i in enumerate(range(first, first + count)))
    raw = ('{"Records":[' + body + "]}").encode()
    delivered = start + FILE_EVERY - 1
    name = (f"{ACCOUNT}_CloudTrail_{REGION}_{time.strftime('%Y%m%dT%H%MZ', time.gmtime(delivered))}"
            f"_{hour:06d}{k:04d}abcdef.json.gz")
    key = log_prefix(_trail(begin), "CloudTrail", REGION, delivered) + name
    FolderStorage(buckets).put(BUCKET, key, gzip.compress(raw, compresslevel=GZIP_LEVEL,
                                                          mtime=0))
    newest = int(start + (count - 1) * FILE_EVERY // count)
    return key, hashlib.sha256(raw).hexdigest(), int(start), newest, delivered


def _hour(job: tuple[int, int, int, float, str]) -> list[tuple[str, str, int, int, float]]:
    hour, first, count, begin, buckets = job
    per_file = [count // 12 + (1 if k < count % 12 else 0) for k in range(12)]
    out, at = [], first
    for k, n in enumerate(per_file):
        out.append(_log_file(hour, k, at, n, begin, Path(buckets)))
        at += n
    return out


def _signing_key(data: Path, begin: float) -> Any:
    from opentrail.backends.sqlite import FolderSigningKeyRows
    from opentrail.clock import ManualClock
    from opentrail.trails import SigningKeys

    keys = SigningKeys(FolderSigningKeyRows(data / "signing-keys"), ManualClock(begin - 3600),
                       ROTATION_DAYS)
    return keys.current(REGION)


def _ledger(data: Path, begin: float, hours: int, per_hour: int) -> int:
    """The health log and a sample of the trail's events, received at their own times."""
    from opentrail.clock import ManualClock
    from opentrail.events import internal_record, parse_record
    from opentrail.ledger import LedgerWriter
    from opentrail.trails import trail_arn

    clock = ManualClock(begin)
    writer = LedgerWriter(data, clock)
    writer.start()
    arn, written = trail_arn(ACCOUNT, REGION, TRAIL), 0
    clock_state = {"synchronized": True, "maxErrorSeconds": 0.01, "source": "bench"}
    for hour in range(hours):
        at = begin + hour * 3600
        clock.advance(at - clock.now())
        records = [internal_record("ClockSample", ACCOUNT, REGION, clock_state, now=at + s)
                   for s in range(0, 3600, 300)]
        records.append(internal_record("TrailStatusSample", ACCOUNT, REGION, {
            "trailARN": arn, "isLogging": True, "logFileValidationEnabled": True,
            "isMultiRegionTrail": True}, now=at))
        records.append(internal_record("VerifierRun", ACCOUNT, REGION, {
            "trailARN": arn, "result": "PASS"}, now=at + 60))
        records += [json.loads(EVENT % (i % 40, i % 40, i % 40, _iso(at + i * 3600 // per_hour),
                                        "RunInstances", i % 250, hour, 9999, i, i))
                    for i in range(per_hour)]
        writer.submit([parse_record(r, default_account=ACCOUNT, default_region=REGION)
                       for r in records]).result(timeout=600)
        written += len(records)
    writer.close()
    return written


def _record(data: Path, arn: str, objects: list[tuple[str, str, float]]) -> None:
    """The delivery record's rows for the generated objects (kind, key, delivered)."""
    conn = sqlite3.connect(data / "delivery.db", timeout=60)
    with conn:
        conn.executemany("INSERT INTO delivered (arn, kind, bucket, key, created, delivered) "
                         "VALUES (?,?,?,?,?,?)",
                         [(arn, kind, BUCKET, key, at, at) for kind, key, at in objects])
    conn.close()


def generate(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Everything but the measurement; returns the period and counts (kept in DONE)."""
    from opentrail.datadir import prepare_data_dir
    from opentrail.storage import FolderStorage
    from opentrail.trails._digest import LogFile, make_digest

    data, hours = work / "data", args.days * 24
    begin = (int(time.time()) // 3600 - hours - 2) * 3600
    prepare_data_dir(data)
    signer = _signing_key(data, begin)
    say(f"ledger: {hours} hours of health log and {args.ledger_events_per_hour} events/hour")
    in_ledger = _ledger(data, begin, hours, args.ledger_events_per_hour)
    per_hour = [args.events // hours + (1 if h < args.events % hours else 0)
                for h in range(hours)]
    firsts = [0]
    for n in per_hour[:-1]:
        firsts.append(firsts[-1] + n)
    jobs = [(h, firsts[h], per_hour[h], float(begin), str(data / "buckets"))
            for h in range(hours)]
    trail, storage = _trail(begin), FolderStorage(data / "buckets")
    objects: list[tuple[str, str, float]] = []
    previous, t0 = None, time.perf_counter()
    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        for h, files in enumerate(pool.imap(_hour, jobs)):
            logs = [LogFile(BUCKET, key, sha, old, new) for key, sha, old, new, _ in files]
            window = (begin + h * 3600.0, begin + (h + 1) * 3600.0)
            digest = make_digest(trail, REGION, window, logs, previous, signer)
            storage.put(BUCKET, digest.key, digest.body, digest.metadata)
            previous = digest.link
            objects += [("log", key, at) for key, _, _, _, at in files]
            objects.append(("digest", digest.key, window[1]))
            if (h + 1) % 24 == 0:
                rate = sum(per_hour[:h + 1]) / (time.perf_counter() - t0)
                say(f"generated day {(h + 1) // 24}/{args.days} ({rate:,.0f} events/s)")
    return {"begin": begin, "hours": hours, "events": args.events, "inLedger": in_ledger,
            "objects": objects, "generateSeconds": time.perf_counter() - t0}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=10_000_000)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--ledger-events-per-hour", type=int, default=100)
    p.add_argument("--workers", type=int, default=2, help="processes writing log files")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--work", type=Path, default=None,
                   help="Kept between runs: generated once, then only measured.")
    args = p.parse_args(argv)
    args.work = args.work or Path(f"/var/tmp/opentrail-bench-compliance-{args.events}-"
                                  f"{args.days}")
    args.delivery, args.digest = 300, 3600  # the server's own intervals: CloudTrail's
    return args


def _prepared(args: argparse.Namespace) -> dict[str, Any]:
    done = args.work / DONE
    if done.exists():
        say(f"reusing the trail generated in {args.work}")
        info: dict[str, Any] = json.loads(done.read_text())
        return info
    args.work.mkdir(parents=True, exist_ok=True)
    info = generate(args.work, args)
    server = Server(args.work, args, ("--signing-key-rotation-days", str(ROTATION_DAYS),
                                      "--verifier-interval", "0"))
    try:
        ct = server.cloudtrail()
        ct.create_trail(Name=TRAIL, S3BucketName=BUCKET, EnableLogFileValidation=True,
                        IsMultiRegionTrail=True)
        ct.start_logging(Name=TRAIL)
        arn = ct.describe_trails()["trailList"][0]["TrailARN"]
    finally:
        server.stop()
    _record(args.work / "data", arn, info.pop("objects"))
    info["arn"] = arn
    done.write_text(json.dumps(info))
    return info


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = _prepared(args)
    begin, end = info["begin"], info["begin"] + info["hours"] * 3600
    server = Server(args.work, args, ("--signing-key-rotation-days", str(ROTATION_DAYS),
                                      "--verifier-interval", "0"))
    try:
        _caught_up(server, end)
        for old in args.work.glob("report-*"):
            shutil.rmtree(old)
        result = measure(server, _iso(begin), _iso(end), info["arn"], args.work, args.runs)
    finally:
        server.stop()
    ratio = result["report_seconds"] / result["validate_seconds"]
    ot03 = result["ot03"]
    rows = [
        Row("trail: days / events / digests / log files",
            f"{args.days} / {args.events} / {ot03['digests']} / {ot03['logFiles']}"),
        Row("validate-logs alone (s)", f"{result['validate_seconds']:.2f}"),
        Row("compliance report, all 22 checks (s)", f"{result['report_seconds']:.2f}",
            f"{result['validate_seconds']:.2f}", f"{ratio:.2f}x", f"<= {TARGET}x",
            ratio <= TARGET),
        Row("report within 5 min", f"{result['report_seconds']:.2f}", "300", "-", "<= 300 s",
            result["report_seconds"] <= 300),
    ]
    print_table(rows)
    path = write_json(rows, {"compliance_scale": {**result, "generated": info,
                                                  "args": {**vars(args),
                                                           "work": str(args.work)}}})
    say(f"results in {path}")
    return 0


def _caught_up(server: Server, end: float) -> None:
    """Wait until LookupEvents sees the health log's last hour (the indexer's catch-up)."""
    from datetime import UTC, datetime

    ct, deadline = server.cloudtrail(), time.monotonic() + 1800
    while time.monotonic() < deadline:
        page = ct.lookup_events(StartTime=datetime.fromtimestamp(end - 3600, UTC),
                                EndTime=datetime.fromtimestamp(end, UTC), MaxResults=1,
                                LookupAttributes=[{"AttributeKey": "EventName",
                                                   "AttributeValue": "RunInstances"}])
        if page.get("Events"):
            return
        time.sleep(2)
    raise RuntimeError("the history index did not catch up in 30 minutes")


if __name__ == "__main__":
    sys.exit(main())
