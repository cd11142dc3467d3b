"""The Lake writer beside ingest (issue 11's "Lake lag" target).

1. Its own rate: a ledger filled with the bench's generated events, then one store's
   Parquet files written from it, events/s, beside the rate the ledger writer appended
   the same events in this run.
2. A real server ingesting over HTTP at full rate (`run_ingest`, the ingest target's
   client), once without a store (the reference) and once with one store receiving every
   management event: ingest events/s of both, and the Lake lag, from each event's
   acknowledgement (the ledger's `ingested` second) to the moment the writer's cursor
   (lake-writer.db) passed it, sampled every 0.1 s: p50, p99, max.

3. With --postgres, the writer's own rate again with its state (and the ledger) in
   PostgreSQL (a private durable server from tests/postgres_server.py), beside SQLite's
   in the same run, with CPU per event in this process and in the server's.

    python -m bench.lake_writer [--events 200000] [--postgres] [--writer-only]
"""

from __future__ import annotations

import argparse
import gc
import json
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

from bench.events import Batch, probe_batches
from bench.ingest import run_ingest
from bench.report import percentile
from bench.server import BenchServer
from opentrail.clock import ManualClock
from opentrail.events import parse_record
from opentrail.lake import EventDataStore, FolderLocation, LakeWriter, receives
from opentrail.ledger import LedgerWriter, load_signer

__all__ = ["server_run", "writer_rate"]

LAG_TARGET = 60.0


def _records(bodies: list[Batch]) -> list[Any]:
    import orjson

    return [parse_record(obj, default_account="123456789012", default_region="us-east-1")
            for batch in bodies for obj in orjson.loads(batch.body)["Records"]]


def writer_rate(bodies: list[Batch], backend: Any = None,
                server_cpu: Callable[[], float] = lambda: 0.0) -> dict[str, float]:
    """The writer's own rate over a filled ledger: in a data dir, or with the ledger and
    the writer's state in `backend` (PostgreSQL)."""
    records = _records(bodies)
    now = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        clock = ManualClock(now)
        ledger = LedgerWriter(data, clock) if backend is None else backend.ledger_writer(clock)
        ledger.start()
        t0 = time.perf_counter()
        for i in range(0, len(records), 5000):
            ledger.submit(records[i:i + 5000]).result()
        appended = len(records) / (time.perf_counter() - t0)
        ledger.close()
        store = EventDataStore(
            "bench-store", "123456789012", "us-east-1", "bench", "ENABLED",
            ({"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]},),
            True, True, 3653, False, "EXTENDABLE_RETENTION_PRICING", None, now, now, 0)
        shared = {} if backend is None else {
            "ledger": backend.ledger_reader(), "rows": backend.lake_writer_rows()}
        signer = load_signer(data) if backend is None else backend.checkpoint_signer()
        writer = LakeWriter(data, clock, FolderLocation(data / "lake"), lambda: [store],
                            receives, signer, **shared)
        t1, cpu0, server0 = time.perf_counter(), time.process_time(), server_cpu()
        while writer.cursor < len(records):
            writer.step(force=True)
        seconds = time.perf_counter() - t1
        cpu, server = time.process_time() - cpu0, server_cpu() - server0
        written = writer.written
        size = writer.status(store.id).bytes
        writer.close()
    return {"events": len(records), "ledger_append_per_s": appended,
            "lake_write_per_s": written / seconds,
            "client_cpu_us_per_event": 1e6 * cpu / written,
            "server_cpu_us_per_event": 1e6 * server / written,
            "parquet_bytes_per_event": size / len(records)}


def postgres_writer_rate(bodies: list[Batch]) -> dict[str, float]:
    """writer_rate on a fresh database of a private PostgreSQL (fsync on)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from opentrail.backends.postgres import PostgresBackend
    from postgres_server import PostgresServer

    server = PostgresServer(durable=True)
    server.start()
    try:
        backend = PostgresBackend.open(server.new_database(), bytes(32))
        try:
            return writer_rate(bodies, backend, server.cpu_seconds)
        finally:
            backend.close()
    finally:
        server.stop()


def _cursor_marks(data: Path, stop: threading.Event, out: list[tuple[float, int]]) -> None:
    conn: sqlite3.Connection | None = None
    while not stop.is_set():
        try:
            conn = conn or sqlite3.connect(f"file:{data}/lake-writer.db?mode=ro", uri=True)
            row = conn.execute("SELECT seq FROM cursor WHERE name = 'ledger'").fetchone()
            if row:
                out.append((time.time(), row[0]))
        except sqlite3.Error:
            conn = None
        time.sleep(0.1)


def _lags(data: Path, marks: list[tuple[float, int]]) -> list[float]:
    ledger = sqlite3.connect(f"file:{data}/ledger.db?mode=ro", uri=True)
    acked = ledger.execute("SELECT seq, ingested FROM events ORDER BY seq").fetchall()
    lags, j = [], 0
    for seq, ingested in acked:
        while j < len(marks) and marks[j][1] <= seq:
            j += 1
        lags.append(marks[j][0] - ingested if j < len(marks) else float("inf"))
    return sorted(lags)


def server_run(bodies: list[Batch], with_store: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        server = BenchServer(data, Path(tmp) / "server.log")
        server.start()
        marks: list[tuple[float, int]] = []
        stop = threading.Event()
        try:
            key = server.create_key()
            if with_store:
                boto3.client("cloudtrail", endpoint_url=server.endpoint,
                             region_name="us-east-1", aws_access_key_id=key.access_key_id,
                             aws_secret_access_key=key.secret).create_event_data_store(
                                 Name="bench-all")
            monitor = threading.Thread(target=_cursor_marks, args=(data, stop, marks))
            monitor.start()
            result = run_ingest(server.endpoint, key, bodies, probe=False)
            deadline = time.monotonic() + 300
            total = sum(b.count for b in bodies)
            while with_store and time.monotonic() < deadline and (
                    not marks or marks[-1][1] < total):
                time.sleep(0.2)
        finally:
            stop.set()
            server.stop()
        out: dict[str, Any] = {"ingest_per_s": result.rate, "events": result.events}
        if with_store:
            lags = _lags(data, marks)
            out.update(lag_p50=percentile(lags, 50), lag_p99=percentile(lags, 99),
                       lag_max=lags[-1])
        return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.lake_writer", description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--postgres", action="store_true",
                        help="also the writer's rate with its state in PostgreSQL")
    parser.add_argument("--writer-only", action="store_true",
                        help="skip the two server runs")
    args = parser.parse_args(argv)
    gc.freeze()  # as `opentrail serve` does (cli/serve.py): batches of fresh dicts
    gc.set_threshold(100_000, 50, 100)
    now = time.time()
    bodies = probe_batches(seed=11, count=args.events, start=now - 3600, end=now)
    report: dict[str, Any] = {"writer": writer_rate(bodies)}
    if args.postgres:
        report["writer_postgres"] = postgres_writer_rate(bodies)
        report["postgres_to_sqlite"] = (report["writer_postgres"]["lake_write_per_s"]
                                        / report["writer"]["lake_write_per_s"])
    if not args.writer_only:
        report["server_without_store"] = server_run(bodies, with_store=False)
        report["server_with_store"] = server_run(bodies, with_store=True)
        report["lag_p99_within_target"] = report["server_with_store"]["lag_p99"] <= LAG_TARGET
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
