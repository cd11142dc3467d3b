"""The Insights engine end to end through a real ledger: generated traffic, and the
invictus-aws dataset. Also measures how fast the engine counts beside how fast events
reach the ledger (the engine must keep up with ingest): through the HTTP batch API, as
users send them, and, stricter, through the bare ledger writer fed parsed records."""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from bench.events import probe_batches
from bench.ingest import run_ingest
from bench.insights_traffic import Traffic
from bench.server import BenchServer
from opentrail.clock import ManualClock
from opentrail.errors import Throttled
from opentrail.events import Record, parse_record
from opentrail.insights import InsightsEngine, detect_series, minute_text
from opentrail.ledger import LedgerWriter

__all__ = ["EngineRun", "api_ingest_rate", "engine_check", "invictus_run"]

ACCOUNT = "123456789012"
INVICTUS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "invictus-aws"


@dataclass
class EngineRun:
    events: int
    ingest_per_s: float  # ledger writer commits, this run
    analysed_per_s: float  # engine counting, this run
    detect_seconds: float
    insights: list[dict[str, Any]]


def _event(series: str, minute: int, i: int) -> dict[str, Any]:
    api, _, error = series.partition("/")
    service, name = api.split(":")
    event: dict[str, Any] = {
        "eventVersion": "1.08", "eventTime": minute_text(minute)[:-3] + f"{i % 60:02d}Z",
        "eventSource": f"{service}.amazonaws.com", "eventName": name,
        "awsRegion": "us-east-1", "eventID": str(uuid.UUID(int=hash((series, minute, i))
                                                           & ((1 << 128) - 1))),
        "readOnly": bool(error), "recipientAccountId": ACCOUNT, "eventType": "AwsApiCall",
        "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/u{i % 3}"},
        "userAgent": "aws-cli/2", "eventCategory": "Management"}
    if error:
        event["errorCode"] = error
    return event


def _run_engine(data_dir: Path, records: list[Record], now: float) -> EngineRun:
    clock = ManualClock(now)
    writer = LedgerWriter(data_dir, clock)
    writer.start()
    t0 = time.perf_counter()
    futures: list[Future[list[bool]]] = []
    for i in range(0, len(records), 5000):
        while True:
            try:
                futures.append(writer.submit(records[i:i + 5000]))
                break
            except Throttled:  # the writer bounds its queue: wait for the oldest batch
                pending = next((f for f in futures if not f.done()), None)
                if pending is not None:
                    pending.result()
    for f in futures:
        f.result()
    ingest = len(records) / (time.perf_counter() - t0)
    engine = InsightsEngine(data_dir, clock, writer, lambda *_: True)
    t1 = time.perf_counter()
    while engine.count():
        pass
    analysed = engine.analysed / (time.perf_counter() - t1)
    t2 = time.perf_counter()
    engine.detect()
    detect = time.perf_counter() - t2
    rows = engine._ledger.execute("SELECT body FROM events WHERE category = 2 ORDER BY seq")
    insights = [orjson.loads(body) for (body,) in rows]
    engine.close()
    writer.close()
    return EngineRun(len(records), ingest, analysed, detect, insights)


def engine_check(traffic: Traffic, days: int = 12, skip_busiest: int = 4) -> dict[str, Any]:
    """The same series through the ledger and the engine, and through detect_series on
    arrays: the Insights found must be the same."""
    chosen = sorted(traffic.series, key=lambda s: s.counts.mean())[:-skip_busiest]
    span = days * 1440
    objs = [_event(s.name, traffic.first_minute + m, i) for s in chosen
            for m in np.flatnonzero(s.counts[:span]) for i in range(int(s.counts[m]))]
    records = [parse_record(o, default_account=ACCOUNT, default_region="us-east-1")
               for o in sorted(objs, key=lambda o: str(o["eventTime"]))]
    with tempfile.TemporaryDirectory() as tmp:
        run = _run_engine(Path(tmp), records, (traffic.first_minute + span + 120) * 60)
    from_engine = sorted((r["insightDetails"]["eventSource"].split(".")[0] + ":"
                          + r["insightDetails"]["eventName"]
                          + (f"/{r['insightDetails']['errorCode']}"
                             if "errorCode" in r["insightDetails"] else ""),
                          r["eventTime"]) for r in run.insights
                         if r["insightDetails"]["state"] == "Start")
    from_arrays = sorted((s.name, minute_text(t.episode.start)) for s in chosen
                         for t in detect_series(s.counts[:span], traffic.first_minute)
                         if t.state == "Start")
    return {"events": run.events, "series": len(chosen), "days": days,
            "ingest_per_s": run.ingest_per_s, "analysed_per_s": run.analysed_per_s,
            "detect_seconds": run.detect_seconds, "insights": len(from_engine),
            "same_as_arrays": from_engine == from_arrays}


def api_ingest_rate(events: int = 100_000) -> float:
    """Events/s through `POST /opentrail/v1/events` of a real server, as `python -m
    bench` measures it (fewer events: this is a reference, not the ingest target)."""
    now = time.time()
    bodies = probe_batches(seed=1, count=events, start=now - 86400, end=now)
    with tempfile.TemporaryDirectory() as tmp:
        server = BenchServer(Path(tmp) / "data", Path(tmp) / "server.log")
        server.start()
        try:
            result = run_ingest(server.endpoint, server.create_key(), bodies, probe=False)
        finally:
            server.stop()
    return result.rate


def invictus_run() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every record of the invictus-aws dataset through the ledger and the engine."""
    objs = [r for f in sorted((INVICTUS / "CloudTrail").glob("*.json"))
            for r in json.loads(f.read_text())["Records"]]
    records = [parse_record(o, default_account=ACCOUNT, default_region="us-east-1")
               for o in sorted(objs, key=lambda o: str(o["eventTime"]))]
    last = max(r.event_time for r in records)
    with tempfile.TemporaryDirectory() as tmp:
        run = _run_engine(Path(tmp), records, last + 7200)
    first = min(r.event_time for r in records)
    return run.insights, {"events": run.events, "history_minutes": (last - first) // 60 + 1}
