"""The large store for target 3: the same events as gzipped CloudTrail log files (the
DuckDB reference reads those) and as an OpenTrail data dir filled through the HTTP API.

A store is reusable (`--reuse-store DIR`): manifest.json is written last, so a store
whose build was interrupted is rebuilt rather than trusted.
"""

from __future__ import annotations

import calendar
import gc
import gzip
import json
import shutil
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.client import ApiClient, Key
from bench.events import batches, lookup_values
from bench.parallel import run_threads

__all__ = ["StoreInfo", "build_files", "fill_server", "load_manifest", "prepare_dir",
           "wait_indexed"]

MANIFEST = "manifest.json"
SAMPLE_SIZE = 20_000  # events whose lookup values the queries are drawn from
SPAN_DAYS = 30  # well inside the 90-day LookupEvents window, so a store stays usable
MAX_AGE_DAYS = 80


@dataclass
class StoreInfo:
    events: int
    seed: int
    start: float
    end: float  # newest eventTime; lookups stop here, which leaves out the audit records
    files: int
    sample: list[dict[str, list[str]]]
    last: dict[str, Any]  # eventID, eventName, epoch time of the newest management event
    build_seconds: dict[str, float]


def load_manifest(root: Path, events: int, seed: int) -> StoreInfo | None:
    """The store's description if it is complete, of this size and seed, and recent."""
    try:
        info = StoreInfo(**json.loads((root / MANIFEST).read_text()))
    except (OSError, ValueError, TypeError):  # none yet, or written by another version
        return None
    fresh = info.start > time.time() - MAX_AGE_DAYS * 86400
    return info if info.events == events and info.seed == seed and fresh else None


def prepare_dir(root: Path) -> None:
    """Empty a previous bench store for a rebuild; refuse to touch any other folder."""
    if root.exists() and any(root.iterdir()):
        if not (root / "files").is_dir() and not (root / MANIFEST).exists():
            raise SystemExit(f"{root} is not empty and is not a bench store; not touching it")
        shutil.rmtree(root)
    (root / "files").mkdir(parents=True)


def build_files(root: Path, events: int, seed: int) -> StoreInfo:
    """Generate the events as .json.gz files of 5,000 records; keep a thin sample."""
    end = time.time() - 600
    start = end - SPAN_DAYS * 86400
    every = max(1, events // SAMPLE_SIZE)
    sample: list[dict[str, list[str]]] = []
    began, files, seen = time.perf_counter(), 0, 0
    gc.disable()  # millions of fresh dicts: the cyclic GC would dominate
    try:
        for chunk in batches(seed=seed, count=events, start=start, end=end):
            body = orjson.dumps({"Records": chunk})
            # Level 1: generation time matters here; DuckDB reads level 1 and 6 alike.
            (root / "files" / f"{files:06d}.json.gz").write_bytes(gzip.compress(body, 1))
            sample.extend(lookup_values(e) for i, e in enumerate(chunk, seen)
                          if i % every == 0 and e.get("eventCategory") != "Data")
            files, seen = files + 1, seen + len(chunk)
    finally:
        gc.enable()
    last = next(e for e in reversed(chunk) if e.get("eventCategory") != "Data")
    newest = {"id": last["eventID"], "name": last["eventName"],
              "time": _epoch(last["eventTime"])}
    return StoreInfo(events, seed, start, _epoch(chunk[-1]["eventTime"]), files, sample,
                     newest, {"generate": time.perf_counter() - began})


def _epoch(text: str) -> float:
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))


def fill_server(root: Path, info: StoreInfo, endpoint: str, key: Key) -> float:
    """Send every file as-is (gzip, as `opentrail import` would) from two threads;
    returns events/s. The manifest is written only once all of them are acknowledged."""
    paths = sorted((root / "files").glob("*.json.gz"), reverse=True)
    lock = threading.Lock()

    def send() -> None:
        client = ApiClient(endpoint, key)
        try:
            while True:
                with lock:
                    if not paths:
                        return
                    path = paths.pop()
                client.ingest(path.read_bytes())
        finally:
            client.close()

    began = time.perf_counter()
    run_threads([send, send])
    seconds = time.perf_counter() - began
    info.build_seconds["ingest"] = seconds
    (root / MANIFEST).write_text(json.dumps(asdict(info)))
    return info.events / seconds


def wait_indexed(info: StoreInfo, client: ApiClient, timeout: float = 1800) -> float:
    """Seconds until the newest event is found through the index (postings, not the
    ledger), i.e. until the indexer has caught up with the whole store."""
    last = info.last
    params = {"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": last["name"]}],
              "StartTime": last["time"], "EndTime": last["time"], "MaxResults": 50}
    began = time.perf_counter()
    while time.perf_counter() - began < timeout:
        if any(e["EventId"] == last["id"] for e in client.lookup(params).events):
            return time.perf_counter() - began
        time.sleep(0.5)
    raise RuntimeError("the history index did not catch up with the store")
