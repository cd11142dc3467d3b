"""`python -m bench.lake`: the Lake beside DuckDB over gzipped CloudTrail log files.

1. Build: N events from the bench's generator are written as gzipped CloudTrail log files
   (the reference, gzip level 6 as a delivered log), appended to a real ledger in-process
   (`LedgerWriter`, timed: the ledger's own ingest rate) and turned into one event data
   store's Parquet files by the real `LakeWriter` following that ledger (timed: the
   writer's events/s), then compacted once as the server's maintenance would.
2. Queries: the five sample queries of the spec (§7), time bounds moved into the data,
   each run --runs times through `translate` + the DuckDB engine (what a query's
   RUNNING time is) and twice through the whole `QueryRunner` (rows rendered and stored
   for GetQueryResults), against DuckDB over the .json.gz files running the same query.
3. Bytes on disk: the store's Parquet files against the gzipped log files, with the
   columns that dominate (compressed sizes from the Parquet footers) and, when Parquet is
   the larger, what other writer settings would give on a sample of the store.
4. Lag: a real `opentrail serve` with a store, batches sent through the HTTP API at full
   rate for --lag-seconds; sampled eventIDs are polled with StartQuery until visible.
5. Spark local mode on the same queries (no target), unless --skip-spark.

Prints one table and writes bench/results/lake.json (and a timestamped copy).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import gzip
import io
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.client import ApiClient, Key
from bench.duck import GroupedReference
from bench.events import ACCOUNT, batches, probe_batches
from bench.report import RESULTS, Row, machine, percentile, print_table, source_state

P50_TARGET = 2.0
RATIO_TARGET = 30.0
# The issue asks <= 1.0x; restated as <= 1.15x by the session of 2026-12-02: the spec's
# random string columns (eventjsonchecksum, eventid, requestid, and the ids again in
# eventjson) put 1.0x out of reach (docs/benchmarks.md, "Bytes").
BYTES_TARGET = 1.15
LAG_TARGET = 60.0
SPAN_DAYS = 30
REGION = "us-east-1"

# The fields the reference extracts from each record (JSON names).
SHAPE = {"Records": [{
    "eventID": "VARCHAR", "eventTime": "VARCHAR", "eventName": "VARCHAR",
    "eventSource": "VARCHAR", "awsRegion": "VARCHAR", "recipientAccountId": "VARCHAR",
    "readOnly": "BOOLEAN", "errorCode": "VARCHAR", "errorMessage": "VARCHAR",
    "userIdentity": {"principalId": "VARCHAR"},
    "additionalEventData": {"MFAUsed": "VARCHAR"},
}]}


@dataclass(frozen=True)
class Query:
    name: str
    lake: str  # CloudTrail Lake SQL; {eds} is the store id
    reference: str  # DuckDB SQL over the reference's views, run per group of log files
    merge: str = "SELECT * FROM partial"  # the answer from the groups' rows (`partial`)


@dataclass
class Timing:
    seconds: list[float] = field(default_factory=list)
    rows: int = 0

    def p(self, q: float) -> float:
        return percentile(self.seconds, q) if self.seconds else float("nan")


def _stamp(epoch: float, iso: bool) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ" if iso else "%Y-%m-%d %H:%M:%S",
                         time.gmtime(epoch))


def sample_queries(start: float, end: float) -> list[Query]:
    """Spec §7's sample queries with their time bounds moved into the generated span.
    The IAM Identity Center user is one the generator has (erin@example.com, a role
    session); the three stores of the UNION are the one store, named three times."""
    hour = (end - 3600, end)
    week = (start + 86400, start + 7 * 86400)
    last_week = end - 7 * 86400

    def bounds(a: float, b: float, iso: bool) -> tuple[str, str]:
        return _stamp(a, iso), _stamp(b, iso)

    l1, r1 = bounds(*hour, iso=False)
    l1r, r1r = bounds(*hour, iso=True)
    l3, r3 = bounds(*week, iso=False)
    l3r, r3r = bounds(*week, iso=True)
    cols = ("recipientAccountId, awsRegion, eventSource, eventName, readOnly, errorCode, "
            "errorMessage, eventTime, eventID")
    return [
        Query("time-bounded SELECT * (last hour)",
              f"SELECT * FROM {{eds}} WHERE eventtime >='{l1}' and eventtime <='{r1}'",
              f"SELECT raw FROM cloudtrail_raw WHERE eventTime >= '{l1r}' "
              f"AND eventTime <= '{r1r}'"),
        Query("console-login-with-no-mfa",
              "SELECT * FROM {eds} WHERE eventsource = 'signin.amazonaws.com' AND "
              "eventname = 'ConsoleLogin' AND element_at(additionaleventdata, 'MFAUsed') = 'No'",
              "SELECT raw FROM cloudtrail_raw WHERE eventSource = 'signin.amazonaws.com' AND "
              "eventName = 'ConsoleLogin' AND additionalEventData.MFAUsed = 'No'"),
        Query("iam-idc-user-denied-activity (6 days)",
              f"SELECT {cols} FROM {{eds}} WHERE userIdentity.principalId LIKE "
              "'%erin@example.com' AND (errorCode = 'AccessDenied' OR errorCode LIKE "
              f"'%Unauthorized%') AND eventTime > '{l3}' AND eventTime < '{r3}'",
              f"SELECT {cols} FROM cloudtrail WHERE userIdentity.principalId LIKE "
              "'%erin@example.com' AND (errorCode = 'AccessDenied' OR errorCode LIKE "
              f"'%Unauthorized%') AND eventTime > '{l3r}' AND eventTime < '{r3r}'"),
        Query("top-iam-actions-by-principal (last 7 days)",
              "SELECT COUNT(*) AS apiCount, eventName, userIdentity.principalid FROM {eds} "
              f"WHERE eventTime >= '{_stamp(last_week, False)}' AND "
              "eventSource='iam.amazonaws.com' GROUP BY eventName, userIdentity.principalid "
              "ORDER BY apiCount DESC",
              "SELECT COUNT(*) AS apiCount, eventName, userIdentity.principalId AS "
              f"principalId FROM cloudtrail WHERE eventTime >= '{_stamp(last_week, True)}' "
              "AND eventSource='iam.amazonaws.com' GROUP BY eventName, "
              "userIdentity.principalId",
              "SELECT CAST(SUM(apiCount) AS BIGINT) AS apiCount, eventName, principalId "
              "FROM partial GROUP BY eventName, principalId ORDER BY apiCount DESC"),
        Query("UNION / UNION ALL of three stores",
              "SELECT eventId, eventName FROM {eds} UNION SELECT eventId, eventName FROM {eds} "
              "UNION ALL SELECT eventId, eventName FROM {eds} ORDER BY eventId LIMIT 10",
              # per group: the top 10 of the UNION's distinct rows and of the UNION ALL's
              # third scan; their merge re-ranks them: the global top 10 is among them.
              # The three arms share one materialized read of the group's files.
              "WITH t AS MATERIALIZED (SELECT eventID, eventName FROM cloudtrail) "
              "SELECT 'distinct' AS part, * FROM (SELECT eventID, eventName FROM t "
              "UNION SELECT eventID, eventName FROM t ORDER BY eventID LIMIT 10) "
              "UNION ALL SELECT 'all' AS part, * FROM (SELECT eventID, eventName FROM t "
              "ORDER BY eventID LIMIT 10)",
              "SELECT eventID, eventName FROM partial WHERE part = 'distinct' UNION SELECT "
              "eventID, eventName FROM partial WHERE part = 'distinct' UNION ALL SELECT "
              "eventID, eventName FROM partial WHERE part = 'all' ORDER BY eventID LIMIT 10"),
    ]


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def secs(value: float) -> str:
    return f"{value * 1000:,.0f} ms" if value < 10 else f"{value:,.1f} s"


def mb(size: float) -> str:
    return f"{size / 2**20:,.1f} MB"


# -- 1. build ---------------------------------------------------------------------------

def make_store(store_id: str | None = None) -> Any:
    """One store of the bench's account receiving its management events (a store has
    one event category; the generator's ~4% data events are examined, not chosen)."""
    from opentrail.lake import EventDataStore

    now = time.time()
    return EventDataStore(
        id=store_id or str(uuid.uuid4()), account=ACCOUNT, region=REGION, name="bench",
        status="ENABLED",
        selectors=({"Name": "management", "FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Management"]}]},),
        multi_region=True, organization=False, retention_days=3653,
        termination_protection=False, billing_mode="EXTENDABLE_RETENTION_PRICING",
        kms_key_id=None, created=now, updated=now, start_seq=0)


def build(work: Path, events: int, seed: int, reuse_store: bool = False) -> dict[str, Any]:
    """Log files, ledger and store; returns the build's numbers. The log files and the
    ledger are kept in `work` (with build.json) and reused by a later run with the same
    --events and --seed; the store is written anew by the current writer unless
    `reuse_store` and the last run's store (store.json) is there."""
    logs = _logs_and_ledger(work, events, seed)
    kept = work / "store.json"
    if reuse_store and kept.exists():
        saved = orjson.loads(kept.read_bytes())
        say(f"reusing the store of {kept} (written {saved['written_at']})")
        return {**logs, **saved, "store": make_store(saved["store_id"])}
    return {**logs, **_new_store(work, logs["events"], follow=False)}


def follow(work: Path, events: int) -> None:
    """--follow: write the store while another run's --logs-only is still appending the
    ledger (as the server's writer follows ingest), until it holds `events`; then
    compact and keep it (store.json) for a later run's --reuse-store."""
    while not (work / "data" / "ledger.db").exists():
        time.sleep(1)
    time.sleep(2)  # the ledger writer's keys and first commit
    _new_store(work, events, follow=True)


def _new_store(work: Path, size: int, follow: bool) -> dict[str, Any]:
    data, kept = work / "data", work / "store.json"
    kept.unlink(missing_ok=True)
    shutil.rmtree(data / "lake", ignore_errors=True)
    shutil.rmtree(data / "lake-tmp", ignore_errors=True)
    for name in ("lake-writer.db", "lake-writer.db-wal", "lake-writer.db-shm"):
        (data / name).unlink(missing_ok=True)
    written = _write_store(data, size, follow)
    kept.write_bytes(orjson.dumps({
        **{k: v for k, v in written.items() if k != "store"},
        "store_id": written["store"].id, "written_at": _stamp(time.time(), True)}))
    return written


def _logs_and_ledger(work: Path, events: int, seed: int) -> dict[str, Any]:
    cache = work / "build.json"
    if cache.exists():
        logs = orjson.loads(cache.read_bytes())
        if logs["requested"] == events and logs["seed"] == seed:
            say(f"reusing the log files and ledger of {cache}")
            return {**logs, "files": work / "files", "data": work / "data"}
    logs = _generate(work, events, seed)
    cache.write_bytes(orjson.dumps({k: v for k, v in logs.items()
                                    if k not in ("files", "data")}))
    return logs


def _generate(work: Path, events: int, seed: int) -> dict[str, Any]:
    from opentrail.clock import SystemClock
    from opentrail.events import parse_record
    from opentrail.ledger import LedgerWriter

    files, data = work / "files", work / "data"
    (work / "store.json").unlink(missing_ok=True)
    (work / "reference.json").unlink(missing_ok=True)
    shutil.rmtree(files, ignore_errors=True)
    shutil.rmtree(data, ignore_errors=True)
    files.mkdir(parents=True)
    data.mkdir()
    end = float(int(time.time() - 600))
    start = end - SPAN_DAYS * 86400
    ledger = LedgerWriter(data, SystemClock())
    ledger.start()
    gzip_s = ledger_s = 0.0
    raw = 0
    gc.disable()  # millions of fresh dicts: the cyclic GC would dominate
    try:
        for n, chunk in enumerate(batches(seed=seed, count=events, start=start, end=end)):
            began = time.perf_counter()
            # the reference holds exactly the store's events: the management ones
            body = orjson.dumps({"Records": [e for e in chunk
                                             if e.get("eventCategory") != "Data"]})
            raw += len(body)
            (files / f"{n:06d}.json.gz").write_bytes(gzip.compress(body, 6))
            gzip_s += time.perf_counter() - began
            began = time.perf_counter()
            records = [parse_record(e, default_account=ACCOUNT, default_region=REGION)
                       for e in chunk]
            ledger.submit(records).result(timeout=600)
            ledger_s += time.perf_counter() - began
        size = ledger.size
    finally:
        gc.enable()
        ledger.close()
    say(f"ledger: {size:,} events in {ledger_s:,.1f} s ({size / ledger_s:,.0f}/s)")
    return {"requested": events, "seed": seed, "files": files, "data": data,
            "start": start, "end": end, "events": size, "json_bytes": raw,
            "gzip_seconds": gzip_s, "ledger_seconds": ledger_s,
            "ledger_rate": size / ledger_s}


def _write_store(data: Path, size: int, follow: bool = False) -> dict[str, Any]:
    from opentrail.clock import SystemClock
    from opentrail.lake import FolderLocation, LakeWriter, receives
    from opentrail.ledger import load_signer

    store = make_store()
    writer = LakeWriter(data, SystemClock(), FolderLocation(data / "lake"), lambda: [store],
                        receives, load_signer(data))
    writer._last_maintain = float("inf")  # compaction is timed apart, below
    write_s, wall_s = _follow_ledger(writer, size, follow)
    written = writer.written
    say(f"lake writer: {written:,} events in {write_s:,.1f} s ({written / write_s:,.0f}/s)"
        + (f", {wall_s:,.1f} s following the ledger's generation" if follow else ""))
    files_before = len(writer.files(store.id))
    began = time.perf_counter()
    writer.maintain()
    compact_s = time.perf_counter() - began
    say(f"compaction: {files_before} -> {len(writer.files(store.id))} files in "
        f"{compact_s:,.1f} s")
    store_files = writer.files(store.id)
    writer.close()
    return {"store": store, "store_rows": sum(f.rows for f in store_files),
            "writer_seconds": write_s, "writer_events": written,
            "writer_rate": size / write_s, "compact_seconds": compact_s,
            "writer_followed_generation": follow, "writer_wall_seconds": wall_s,
            "files_before_compaction": files_before, "parquet_files": len(store_files)}


def _follow_ledger(writer: Any, size: int, follow: bool) -> tuple[float, float]:
    """Step the writer until it has read `size` ledger events: (seconds spent in steps
    that wrote or examined events, wall seconds). Without `follow` the ledger is whole
    and every step is a full batch; with it, steps wait for full batches as the
    server's writer does, and the idle polls between them are not counted."""
    busy = 0.0
    began = time.perf_counter()
    while writer.cursor < size:
        t = time.perf_counter()
        if writer.step(force=not follow):
            busy += time.perf_counter() - t
        else:
            time.sleep(0.5)
    t = time.perf_counter()
    writer.step(force=True)  # caught up: the manifest of the examined ranges
    busy += time.perf_counter() - t
    return busy, time.perf_counter() - began


# -- 2. queries -------------------------------------------------------------------------

def store_files(data: Path) -> Any:
    """The store's files as the server reads them: the location's listing, and the
    writer's record of them (rows and bytes) for EventsScanned / BytesScanned."""
    import sqlite3

    from opentrail.lake import FolderLocation, StoreFiles, schema_of
    from opentrail.lake._writer import WRITER_FILE

    location = FolderLocation(data / "lake")

    def recorded(store: Any) -> dict[str, tuple[int, int]]:
        with contextlib.closing(sqlite3.connect(data / WRITER_FILE)) as db:
            rows = db.execute("SELECT key, rows, bytes FROM files WHERE store_id = ?",
                              (store.id,)).fetchall()
        return {key: (count, size) for key, count, size in rows}

    return StoreFiles(scan=lambda store: location.scan(store.id),
                      empty=lambda store: schema_of(store.kind).empty_table(),
                      recorded=recorded)


def run_engine(engine: Any, store: Any, sql: str) -> tuple[float, list[tuple[Any, ...]]]:
    """translate + open + every batch: the query's RUNNING time."""
    from opentrail.lake import translate

    began = time.perf_counter()
    translation = translate(sql.format(eds=store.id),
                            lambda ref: _resolve(store, ref), engine.dialect)
    execution = engine.open(translation)
    rows: list[tuple[Any, ...]] = []
    try:
        for batch in execution.batches(1000):
            rows.extend(batch)
    finally:
        execution.close()
    return time.perf_counter() - began, rows


def _resolve(store: Any, ref: str) -> Any:
    if ref.rsplit("/", 1)[-1] != store.id:
        raise KeyError(ref)
    return store


def run_runner(runner: Any, store: Any, sql: str) -> tuple[float, int]:
    """StartQuery to FINISHED through the QueryRunner (rows rendered and stored)."""
    began = time.perf_counter()
    query_id = runner.start(ACCOUNT, sql.format(eds=store.id))
    while (info := runner.describe(ACCOUNT, query_id)).status in ("QUEUED", "RUNNING"):
        time.sleep(0.005)
    if info.status != "FINISHED":
        raise RuntimeError(f"query {info.status}: {info.error}")
    return time.perf_counter() - began, info.total


def query_part(built: dict[str, Any], queries: list[Query], runs: int,
               reference_runs: int, group_files: int) -> dict[str, dict[str, Any]]:
    from opentrail.clock import SystemClock
    from opentrail.lake import QueryRunner, open_engine

    store, data = built["store"], built["data"]
    engine = open_engine("duckdb", store_files(data), temp_dir=data / "lake-tmp")
    runner = QueryRunner(data, SystemClock(), engine,
                         lambda ref, owner, region: _resolve(store, ref))
    out: dict[str, dict[str, Any]] = {}
    for q in queries:
        ours, full = Timing(), Timing()
        run_engine(engine, store, q.lake)  # warm-up: the files' pages in the OS cache
        for _ in range(runs):
            seconds, rows = run_engine(engine, store, q.lake)
            ours.seconds.append(seconds)
            ours.rows = len(rows)
        for _ in range(2):
            seconds, full.rows = run_runner(runner, store, q.lake)
            full.seconds.append(seconds)
        out[q.name] = {"ours": ours, "runner": full, "answer": rows}
        say(f"Lake {q.name}: p50 {secs(ours.p(50))} ({ours.rows:,} rows); "
            f"QueryRunner {secs(full.p(50))}")
    runner._pool.shutdown(wait=True)
    reference_part(built, queries, reference_runs, group_files, out)
    return out


def reference_part(built: dict[str, Any], queries: list[Query], runs: int,
                   group_files: int, out: dict[str, dict[str, Any]]) -> None:
    """Each query over the gzipped log files (`GroupedReference`), its answer compared
    with the Lake's in `out` (when there). Each query's runs and answer are kept in
    WORK/reference.json as soon as measured; a later run over the same log files (same
    SQL) reuses them instead of scanning again, and says so in its JSON."""
    cache = built["data"].parent / "reference.json"
    saved: dict[str, Any] = orjson.loads(cache.read_bytes()) if cache.exists() else {}
    spill = built["data"].parent / "reference-tmp"
    duck: GroupedReference | None = None
    try:
        for q in queries:
            key = f"{q.reference}\n{q.merge}"
            if key in saved and len(saved[key]["seconds"]) >= runs:
                say(f"reference {q.name}: reusing the runs of {saved[key]['measured_at']}")
            else:
                duck = duck or GroupedReference(
                    sorted(built["files"].glob("*.json.gz")), SHAPE,
                    group_files=group_files, memory_limit="8GB", temp_dir=spill)
                saved[key] = _reference_runs(duck, q, runs)
                cache.write_bytes(orjson.dumps(saved))
            entry = saved[key]
            if q.name in out:
                answer = [tuple(row) for row in entry["answer"]]
                out[q.name].update(reference=Timing(entry["seconds"], len(answer)),
                                   same=same_answer(out[q.name]["answer"], answer),
                                   reference_measured_at=entry["measured_at"],
                                   reference_load=entry["load"])
    finally:
        if duck is not None:
            duck.close()


def _reference_runs(duck: GroupedReference, q: Query, runs: int) -> dict[str, Any]:
    load = os.getloadavg()[0]
    seconds = []
    for _ in range(runs):
        took, rows = duck.sql(q.reference, q.merge)
        seconds.append(took)
    say(f"reference {q.name}: p50 {secs(percentile(seconds, 50))} ({len(rows):,} rows, "
        f"{len(duck.groups)} groups)")
    return {"seconds": seconds, "answer": rows, "load": [load, os.getloadavg()[0]],
            "measured_at": _stamp(time.time(), True)}


def reference_only(work: Path, events: int, seed: int, runs: int, group_files: int) -> None:
    """--reference-only: wait for a --logs-only run's log files (build.json), then
    measure the reference alone into WORK/reference.json for a later full run."""
    while not (work / "build.json").exists():
        time.sleep(5)
    logs = _logs_and_ledger(work, events, seed)
    reference_part(logs, sample_queries(logs["start"], logs["end"]), runs, group_files, {})


def same_answer(ours: list[tuple[Any, ...]], theirs: list[tuple[Any, ...]]) -> bool:
    """Same row count; for narrow answers (no SELECT *) the same values too."""
    if len(ours) != len(theirs):
        return False
    if ours and len(ours[0]) > 12:
        return True  # SELECT *: the reference returns each record's JSON text

    def norm(rows: list[tuple[Any, ...]]) -> list[tuple[str, ...]]:
        return sorted(tuple(_text(v) for v in row) for row in rows)

    return norm(ours) == norm(theirs)


def _text(value: Any) -> str:
    if hasattr(value, "strftime"):
        return str(value.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return str(value)


def spark_part(built: dict[str, Any], queries: list[Query], runs: int) -> dict[str, Any]:
    from opentrail.lake import SparkEngine

    store = built["store"]
    engine = SparkEngine(store_files(built["data"]))
    out: dict[str, Any] = {}
    try:
        began = time.perf_counter()
        engine.session()
        out["session_start_seconds"] = time.perf_counter() - began
        for q in queries:
            t = Timing()
            run_engine(engine, store, q.lake)  # warm-up (JIT, file listing caches)
            for _ in range(runs):
                seconds, rows = run_engine(engine, store, q.lake)
                t.seconds.append(seconds)
                t.rows = len(rows)
            out[q.name] = t
            say(f"Spark {q.name}: p50 {secs(t.p(50))} ({t.rows:,} rows)")
    finally:
        engine.close()
    return out


# -- 3. bytes ---------------------------------------------------------------------------

def parquet_paths(built: dict[str, Any]) -> list[Path]:
    return sorted((built["data"] / "lake" / built["store"].id).rglob("*.parquet"))


def column_sizes(paths: list[Path]) -> dict[str, int]:
    """Compressed bytes per top-level column, from every file's footer."""
    import pyarrow.parquet as pq

    sizes: dict[str, int] = {}
    for path in paths:
        meta = pq.ParquetFile(path).metadata
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            for c in range(group.num_columns):
                column = group.column(c)
                top = column.path_in_schema.split(".")[0]
                sizes[top] = sizes.get(top, 0) + column.total_compressed_size
    return dict(sorted(sizes.items(), key=lambda kv: -kv[1]))


VARIANTS: dict[str, dict[str, Any]] = {
    # (zstd level 19 was 0.87x at 1M events but wrote ~20x slower than the writer's
    # level: the writer could not keep up with ingest; not tried by default)
    "zstd level 3": {"compression": "zstd", "compression_level": 3},
    "zstd level 9": {"compression": "zstd", "compression_level": 9},
    "no dictionary for eventjson/eventjsonchecksum/eventid/requestid":
        {"compression": "zstd", "use_dictionary": ["__others__"]},
    "row groups of 131,072 rows (one per file)": {"compression": "zstd",
                                                  "row_group_size": 131_072},
    "one file of all sampled rows": {"compression": "zstd", "concat": True},
}


SORT = [("eventsource", "ascending"), ("eventname", "ascending"), ("eventtime", "ascending")]


def variants(paths: list[Path], limit_rows: int = 200_000) -> dict[str, Any]:
    """Other writer settings on a sample of the store's files: bytes vs as written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from opentrail.lake._writer import ROW_GROUP

    sample, rows = [], 0
    for path in paths:
        sample.append(path)
        rows += pq.ParquetFile(path).metadata.num_rows
        if rows >= limit_rows:
            break
    written = sum(p.stat().st_size for p in sample)
    tables = [pq.read_table(p, partitioning=None) for p in sample]
    unique = {"eventjson", "eventjsonchecksum", "eventid", "requestid"}
    out: dict[str, Any] = {"sample_files": len(sample), "sample_rows": rows,
                           "as_written_bytes": written, "variants": {}}
    for name, settings in VARIANTS.items():
        options = {k: v for k, v in settings.items() if k not in ("sort", "concat")}
        if options.get("use_dictionary") == ["__others__"]:
            options["use_dictionary"] = [c for c in tables[0].column_names if c not in unique]
        began = time.perf_counter()
        total = 0
        parts = [pa.concat_tables(tables)] if settings.get("concat") else tables
        for part in parts:
            table = part.sort_by(SORT) if settings.get("sort") or settings.get("concat") \
                else part
            buf = io.BytesIO()
            pq.write_table(table, buf, **{"row_group_size": ROW_GROUP, **options})
            total += buf.tell()
        out["variants"][name] = {"bytes": total, "vs_written": total / written,
                                 "write_seconds": time.perf_counter() - began}
        say(f"variant {name}: {total / written:.3f}x the bytes as written")
    return out


# -- 4. lag -----------------------------------------------------------------------------

def lag_part(work: Path, seconds: float, seed: int, events: int) -> dict[str, Any]:
    """Ingest through the HTTP batch API at full rate for `seconds` while a poller asks
    StartQuery for the probe events of acknowledged batches until it sees them."""
    import boto3
    from botocore.config import Config

    from bench.server import BenchServer

    now = time.time()
    bodies = probe_batches(seed=seed + 7, count=events, start=now - 3600, end=now)
    server = BenchServer(work / "lag-data", work / "lag.log")
    server.start()
    try:
        key = server.create_key()
        ct = boto3.client("cloudtrail", endpoint_url=server.endpoint, region_name=REGION,
                          aws_access_key_id=key.access_key_id,
                          aws_secret_access_key=key.secret,
                          config=Config(retries={"max_attempts": 2}))
        arn = ct.create_event_data_store(Name="lag", RetentionPeriod=3653)["EventDataStoreArn"]
        store_id = arn.rsplit("/", 1)[1]
        while ct.get_event_data_store(EventDataStore=store_id)["Status"] != "ENABLED":
            time.sleep(0.2)
        return _lag_run(server.endpoint, key, ct, store_id, bodies, seconds)
    finally:
        server.stop()


def _lag_run(endpoint: str, key: Key, ct: Any, store_id: str, bodies: list[Any],
             seconds: float) -> dict[str, Any]:
    acked: dict[str, float] = {}  # probe eventID -> ack time (perf_counter)
    visible: dict[str, float] = {}
    lock = threading.Lock()
    stop_sending = threading.Event()
    sent = [0, 0.0, 0.0]  # events, first send, last ack
    queue = list(reversed(bodies))

    def send() -> None:
        client = ApiClient(endpoint, key)
        try:
            while not stop_sending.is_set():
                with lock:
                    if not queue:
                        return
                    batch = queue.pop()
                client.ingest(batch.body)
                t = time.perf_counter()
                with lock:
                    acked[batch.probe_id] = t
                    sent[0] += batch.count
                    sent[2] = t
        finally:
            client.close()

    threads = [threading.Thread(target=send, daemon=True) for _ in range(2)]
    sent[1] = time.perf_counter()
    for t in threads:
        t.start()
    timer = threading.Timer(seconds, stop_sending.set)
    timer.start()
    queries = 0
    deadline = None
    while True:
        with lock:
            waiting = [i for i in acked if i not in visible]
        done_sending = not any(t.is_alive() for t in threads)
        if done_sending and deadline is None:
            deadline = time.perf_counter() + 5 * LAG_TARGET
        if done_sending and not waiting:
            break
        if deadline is not None and time.perf_counter() > deadline:
            break
        if not waiting:
            time.sleep(0.2)
            continue
        found = _query_ids(ct, store_id, waiting[:200])
        queries += 1
        t = time.perf_counter()
        with lock:
            for i in found:
                visible[i] = t
    timer.cancel()
    lags = [visible[i] - acked[i] for i in acked if i in visible]
    missing = len(acked) - len(lags)
    ingest_s = sent[2] - sent[1]
    last = max(visible.values(), default=sent[2])
    return {"events": sent[0], "ingest_seconds": ingest_s, "ingest_rate": sent[0] / ingest_s,
            "writer_rate": sent[0] / (last - sent[1]),
            "catch_up_seconds": last - sent[2], "probes": len(acked), "missing": missing,
            "lags": lags + [float("inf")] * missing, "queries": queries}


def _query_ids(ct: Any, store_id: str, ids: list[str]) -> set[str]:
    listed = ", ".join(f"'{i}'" for i in ids)
    query_id = ct.start_query(
        QueryStatement=f"SELECT eventid FROM {store_id} WHERE eventid IN ({listed})")["QueryId"]
    while True:
        answer = ct.get_query_results(QueryId=query_id)
        if answer["QueryStatus"] not in ("QUEUED", "RUNNING"):
            break
        time.sleep(0.05)
    if answer["QueryStatus"] != "FINISHED":
        raise RuntimeError(f"lag query {answer['QueryStatus']}: {answer.get('ErrorMessage')}")
    found = set()
    while True:
        for row in answer.get("QueryResultRows", []):
            found.add(row[0]["eventid"])
        if not (token := answer.get("NextToken")):
            return found
        answer = ct.get_query_results(QueryId=query_id, NextToken=token)


# -- the table --------------------------------------------------------------------------

def table(built: dict[str, Any], timings: dict[str, dict[str, Any]],
          spark: dict[str, Any] | None, sizes: dict[str, Any],
          lag: dict[str, Any] | None) -> list[Row]:
    rows = [Row(f"Lake writer following the ledger, {built['events']:,} events (events/s)",
                f"{built['writer_rate']:,.0f}",
                f"ledger append {built['ledger_rate']:,.0f} (in-process)",
                f"{built['writer_rate'] / built['ledger_rate']:.2f}", "keeps up with ingest",
                built["writer_rate"] >= built["ledger_rate"])]
    for name, t in timings.items():
        ours, ref = t["ours"], t["reference"]
        ratio = ref.p(50) / ours.p(50)
        rows.append(Row(
            f"{name}, DuckDB p50 / p95", f"{secs(ours.p(50))} / {secs(ours.p(95))} "
            f"(n={len(ours.seconds)}, {ours.rows:,} rows; QueryRunner "
            f"{secs(t['runner'].p(50))})",
            f"gzip JSON p50 {secs(ref.p(50))} (n={len(ref.seconds)}"
            f"{', same answer' if t['same'] else ', ANSWER DIFFERS'})",
            f"{ratio:,.0f}x faster", f"p50 <= {P50_TARGET:.0f} s, >= {RATIO_TARGET:.0f}x",
            ours.p(50) <= P50_TARGET and ratio >= RATIO_TARGET and t["same"]))
        if spark is not None and name in spark:
            s = spark[name]
            rows.append(Row("  the same on Spark local[2], p50 / p95",
                            f"{secs(s.p(50))} / {secs(s.p(95))} (n={len(s.seconds)})",
                            f"DuckDB {secs(ours.p(50))}", f"{s.p(50) / ours.p(50):,.1f}x DuckDB"))
    ratio = sizes["parquet_bytes"] / sizes["gzip_bytes"]
    rows.append(Row("bytes on disk: Parquet (all columns) vs gzipped log files",
                    mb(sizes["parquet_bytes"]), f"{mb(sizes['gzip_bytes'])} (gzip -6)",
                    f"{ratio:.2f}x", f"<= {BYTES_TARGET:.2f}x (issue: 1.0x)",
                    ratio <= BYTES_TARGET))
    total = sum(sizes["columns"].values())
    top = list(sizes["columns"].items())[:4]
    rows.append(Row("  columns that dominate (compressed)", ", ".join(
        f"{c} {100 * b / total:.0f}%" for c, b in top)))
    for name, v in sizes.get("variants", {}).get("variants", {}).items():
        rows.append(Row(f"  writer variant: {name}", f"{v['vs_written']:.3f}x as written",
                        ratio=f"{ratio * v['vs_written']:.2f}x gzip (est.)"))
    if lag is not None:
        lags = lag["lags"]
        p99 = percentile(lags, 99)
        rows.append(Row("Lake lag, ack -> visible in a query, p50 / p99",
                        f"{secs(percentile(lags, 50))} / {secs(p99)} (n={len(lags)}, "
                        f"{lag['missing']} never seen)", target=f"p99 <= {LAG_TARGET:.0f} s",
                        met=p99 <= LAG_TARGET))
        rows.append(Row("  HTTP ingest vs Lake writer during it (events/s)",
                        f"writer {lag['writer_rate']:,.0f}",
                        f"ingest {lag['ingest_rate']:,.0f}",
                        f"{lag['writer_rate'] / lag['ingest_rate']:.2f}",
                        target="keeps up", met=lag["catch_up_seconds"] <= LAG_TARGET))
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.lake", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=1_000_000,
                   help="events in the store (default 1,000,000; the full run: 10,000,000)")
    p.add_argument("--runs", type=int, default=5, help="timed runs per query (>= 5)")
    p.add_argument("--reference-runs", type=int, default=3,
                   help="runs per query of the gzip JSON reference (each a full scan)")
    p.add_argument("--reference-group-files", type=int, default=40,
                   help="log files per group of the reference's DuckDB scans (default 40, "
                   "~200k events): bounds its memory; every query still reads every file")
    p.add_argument("--lag-seconds", type=float, default=30.0,
                   help="seconds of full-rate HTTP ingest in the lag run (0 skips it)")
    p.add_argument("--skip-spark", action="store_true")
    p.add_argument("--skip-variants", action="store_true",
                   help="do not try other Parquet writer settings")
    p.add_argument("--seed", type=int, default=20261125)
    p.add_argument("--work", type=Path, help="build here (kept) instead of a temp dir; "
                   "its log files and ledger are reused by a later run with the same "
                   "--events and --seed")
    p.add_argument("--reuse-store", action="store_true",
                   help="with --work: query the store the last run there wrote (same "
                   "--events and --seed) instead of writing it anew")
    p.add_argument("--follow", action="store_true",
                   help="with --work, beside a --logs-only run: write the store as the "
                   "ledger grows, compact it and keep it for --reuse-store")
    p.add_argument("--reference-only", action="store_true",
                   help="with --work, beside or after a --logs-only run: measure the gzip "
                   "JSON reference alone and keep it (WORK/reference.json) for a later run")
    p.add_argument("--logs-only", action="store_true",
                   help="with --work: make the log files and the ledger, then stop")
    p.add_argument("--no-write", action="store_true", help="print only, no JSON (tests)")
    return p.parse_args(argv)


def run(args: argparse.Namespace, work: Path) -> tuple[list[Row], dict[str, Any]]:
    load = [os.getloadavg()[0]]
    say(f"building {args.events:,} events: gzip log files, ledger, Lake store in {work}")
    built = build(work, args.events, args.seed, args.reuse_store)
    queries = sample_queries(built["start"], built["end"])
    timings = query_part(built, queries, args.runs, args.reference_runs,
                         args.reference_group_files)
    spark = None if args.skip_spark else spark_part(built, queries, args.runs)
    paths = parquet_paths(built)
    sizes: dict[str, Any] = {
        "parquet_bytes": sum(p.stat().st_size for p in paths),
        "gzip_bytes": sum(p.stat().st_size for p in built["files"].glob("*.json.gz")),
        "json_bytes": built["json_bytes"], "columns": column_sizes(paths)}
    if not args.skip_variants and sizes["parquet_bytes"] > sizes["gzip_bytes"]:
        sizes["variants"] = variants(paths)
    lag = None
    if args.lag_seconds > 0:
        # enough bodies for the run at up to 15,000 events/s (this machine's HTTP ingest
        # is well below; sending stops early if they run out, which the JSON shows)
        count = max(5_000, int(args.lag_seconds * 15_000)) if args.events >= 100_000 \
            else args.events
        lag = lag_part(work, args.lag_seconds, args.seed, count)
    load.append(os.getloadavg()[0])
    rows = table(built, timings, spark, sizes, lag)
    details = {"args": {k: str(v) for k, v in vars(args).items()},
               "load_average_before_after": load,
               "build": {k: v for k, v in built.items()
                         if k not in ("store", "data", "files", "requested", "seed")},
               "queries": {q.name: {"lake_sql": q.lake, "reference_sql": q.reference,
                                    "reference_merge_sql": q.merge,
                                    **_timing_json(q.name, timings[q.name], spark)}
                           for q in queries},
               "bytes": sizes, "lag": lag,
               "spark_session_start_seconds": spark and spark.get("session_start_seconds")}
    return rows, details


def _timing_json(name: str, t: dict[str, Any], spark: dict[str, Any] | None
                 ) -> dict[str, Any]:
    out: dict[str, Any] = {k: {"seconds": v.seconds, "rows": v.rows}
                           for k, v in t.items() if isinstance(v, Timing)}
    out["same_answer"] = t["same"]
    out["reference_measured_at"] = t["reference_measured_at"]
    out["reference_load_before_after"] = t["reference_load"]
    if spark is not None and isinstance(spark.get(name), Timing):
        out["spark"] = {"seconds": spark[name].seconds, "rows": spark[name].rows}
    return out


def write(rows: list[Row], details: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    data = {"time": stamp, "machine": machine(), "source": source_state(),
            "rows": [r.__dict__ for r in rows], **details}
    text = orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode()
    path = RESULTS / f"lake-{stamp}.json"
    path.write_text(text)
    (RESULTS / "lake.json").write_text(text)
    return path


def main(argv: list[str] | None = None, out: Callable[[list[Row]], None] = print_table
         ) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="opentrail-bench-lake-") as tmp:
        work = args.work or Path(tmp)
        if args.logs_only:
            _logs_and_ledger(work, args.events, args.seed)
            return 0
        if args.follow:
            follow(work, args.events)
            return 0
        if args.reference_only:
            reference_only(work, args.events, args.seed, args.reference_runs,
                           args.reference_group_files)
            return 0
        rows, details = run(args, work)
    out(rows)
    if not args.no_write:
        say(f"wrote {write(rows, details)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
