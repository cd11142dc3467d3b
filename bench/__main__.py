"""`python -m bench`: run every target beside its reference, print a table, write JSON."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.client import ApiClient
from bench.duck import DuckReference
from bench.events import Batch, probe_batches
from bench.floor import FloorResult, run_floor
from bench.ingest import IngestResult, run_ingest
from bench.lookups import ATTRIBUTES, AttrResult, draw_queries, label, time_opentrail
from bench.report import Row, percentile, print_table, write_json
from bench.server import BenchServer, TreeMonitor
from bench.store import (
    StoreInfo,
    build_files,
    fill_server,
    load_manifest,
    prepare_dir,
    wait_indexed,
)

INGEST_TARGET = 30_000.0
VISIBLE_TARGET = 1.0
LOOKUP_TARGET = 0.020
DUCK_RATIO_TARGET = 100.0
RSS_TARGET = 500 * 2**20
DUCK_MAX_PER_ATTR = 5


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small sizes: about 3 minutes")
    p.add_argument("--events", type=int, help="events sent in the ingest run "
                   "(default 1,000,000; --quick 100,000)")
    p.add_argument("--lookup-events", type=int, help="events in the lookup store "
                   "(default 10,000,000; --quick 200,000)")
    p.add_argument("--queries", type=int, default=200, help="lookups per attribute")
    p.add_argument("--lookup-budget", type=float, help="seconds per attribute before "
                   "stopping early (default 120; --quick 15)")
    p.add_argument("--duckdb-budget", type=float, help="seconds for all DuckDB queries "
                   "(default 900; --quick 60); 1 to 5 per attribute fit in it; 0 skips "
                   "DuckDB (a rerun of OpenTrail's lookups on a reused store)")
    p.add_argument("--reuse-store", type=Path, metavar="DIR", help="keep the lookup "
                   "store here and reuse it when it matches --lookup-events")
    p.add_argument("--skip-ingest", action="store_true")
    p.add_argument("--skip-lookup", action="store_true")
    p.add_argument("--seed", type=int, default=20261125)
    p.add_argument("--parse-in-server-too", action="store_true", help="also ingest with "
                   "--parse-workers 0 (parsing in the server's process, as before parse "
                   "workers), after the default run and before the second floors: the "
                   "two side by side in one run")
    args = p.parse_args(argv)
    quick = args.quick
    args.events = args.events or (100_000 if quick else 1_000_000)
    args.lookup_events = args.lookup_events or (200_000 if quick else 10_000_000)
    args.lookup_budget = args.lookup_budget or (15.0 if quick else 120.0)
    if args.duckdb_budget is None:
        args.duckdb_budget = 60.0 if quick else 900.0
    return args


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def mb(size: int) -> str:
    return f"{size / 2**20:,.0f} MB"


def ingest_part(args: argparse.Namespace, work: Path) -> tuple[list[Row], dict[str, Any]]:
    """Targets 1, 2 and 4 (during ingest): the floor just before and just after the
    server, over the same bodies, so that a machine busy with other work shows."""
    now = time.time()
    say(f"generating {args.events:,} events for the ingest run")
    bodies = probe_batches(seed=args.seed, count=args.events, start=now - 86400, end=now)
    size = sum(len(b.body) for b in bodies) / args.events
    say(f"floor: bare loop over the same {len(bodies)} bodies ({size:,.0f} bytes/event)")
    floors = [run_floor(bodies, work)]
    say("floor with the history's postings")
    indexed = [run_floor(bodies, work, index=True)]
    load = [os.getloadavg()[0]]
    result, monitor = serve_ingest(bodies, work)
    load.append(os.getloadavg()[0])
    in_server = None
    if args.parse_in_server_too:
        say("ingest again, parsing in the server (--parse-workers 0)")
        in_server = serve_ingest(bodies, work, ("--parse-workers", "0"))
    say("floors again")
    floors.append(run_floor(bodies, work))
    indexed.append(run_floor(bodies, work, index=True))
    details = {"events": result.events, "seconds": result.seconds, "rate": result.rate,
               "floor_rates": [f.rate for f in floors], "accepted": result.accepted,
               "server_cpu_seconds": monitor.cpu_seconds, "bytes_per_event": size,
               "floor_cpu_seconds": [f.cpu_seconds for f in floors],
               "indexed_floor_rates": [f.rate for f in indexed],
               "indexed_floor_cpu_seconds": [f.cpu_seconds for f in indexed],
               "load_average_before_after": load, "visibility_seconds": result.visibility,
               "peak_rss_bytes": monitor.peak, "peak_rss_by_process": monitor.peaks,
               "peak_pss_bytes": monitor.peak_pss,
               "cpu_seconds_by_process": monitor.cpu_by_process}
    rows = ingest_rows(result, floors, indexed, monitor)
    if in_server is not None:
        rows += ingest_rows(in_server[0], floors, indexed, in_server[1],
                            label=" [--parse-workers 0]")
        details["parse_in_server"] = {
            "rate": in_server[0].rate, "server_cpu_seconds": in_server[1].cpu_seconds,
            "cpu_seconds_by_process": in_server[1].cpu_by_process,
            "peak_rss_bytes": in_server[1].peak}
    return rows, details


def serve_ingest(bodies: list[Batch], work: Path,
                 extra_args: tuple[str, ...] = ()) -> tuple[IngestResult, TreeMonitor]:
    server = BenchServer(work / "ingest-data", work / "ingest.log", extra_args)
    server.start()
    try:
        key = server.create_key()
        say(f"ingest: {len(bodies):,} batches through {server.endpoint}")
        with TreeMonitor(server_pid(server)) as monitor:
            result = run_ingest(server.endpoint, key, bodies)
    finally:
        server.stop()
    shutil.rmtree(work / "ingest-data", ignore_errors=True)
    if result.accepted != result.events:
        say(f"WARNING: {result.accepted:,} of {result.events:,} events accepted")
    return result, monitor


def ingest_rows(result: IngestResult, floors: list[FloorResult], indexed: list[FloorResult],
                monitor: TreeMonitor, label: str = "") -> list[Row]:
    floor = statistics.mean(f.rate for f in floors)
    ours_cpu = monitor.cpu_seconds / result.events * 1e6
    floor_cpu = statistics.mean(f.cpu_seconds for f in floors) / result.events * 1e6
    with_index = statistics.mean(f.rate for f in indexed)
    index_cpu = statistics.mean(f.cpu_seconds for f in indexed) / result.events * 1e6
    cores = len(os.sched_getaffinity(0))  # the cores this run may use, not the host's
    rows = [Row("durable ingest, HTTP batch API (events/s)", f"{result.rate:,.0f}",
                f"floor {floor:,.0f} ({' / '.join(f'{f.rate:,.0f}' for f in floors)})",
                f"{result.rate / floor:.2f}", f">= {INGEST_TARGET:,.0f}",
                result.rate >= INGEST_TARGET),
            Row("  the same vs floor + history postings (events/s)", f"{result.rate:,.0f}",
                f"{with_index:,.0f} ({' / '.join(f'{f.rate:,.0f}' for f in indexed)})",
                f"{result.rate / with_index:.2f}"),
            # What no implementation of floor + postings can beat here, however parallel:
            # every core busy with nothing but that work (no HTTP, validation, client).
            Row(f"  floor + postings on all {cores} cores, at best (events/s)",
                f"{cores / index_cpu * 1e6:,.0f}", f"{index_cpu:,.0f} us CPU/event",
                f"{cores / index_cpu * 1e6 / INGEST_TARGET:.2f}x the target"),
            Row("ingest CPU per event (server's process tree vs floor)", f"{ours_cpu:,.0f} us",
                f"{floor_cpu:,.0f} us", f"{ours_cpu / floor_cpu:.1f}x the CPU")]
    for name, seconds in sorted(monitor.cpu_by_process.items(), key=lambda kv: -kv[1]):
        each = seconds / result.events * 1e6
        rows.append(Row(f"  CPU per event, {name} process", f"{each:,.1f} us",
                        f"{floor_cpu:,.0f} us", f"{each / floor_cpu:.1f}x the CPU"))
    rows += visibility_rows(result)
    rows.append(Row("peak memory during ingest, PSS (server's process tree)",
                    mb(monitor.peak_pss), target=f"<= {mb(RSS_TARGET)}",
                    met=monitor.peak_pss <= RSS_TARGET))
    rows.append(Row("  the same as a sum of RSS (shared pages once per process)",
                    mb(monitor.peak)))
    if label:
        rows = [dataclasses.replace(r, metric=r.metric + label) for r in rows
                if not r.metric.strip().startswith(("the same vs", "floor + postings"))]
    return rows


def server_pid(server: BenchServer) -> int:
    assert server.proc is not None
    return server.proc.pid


def visibility_rows(result: IngestResult) -> list[Row]:
    rows = []
    what = {"EventId": "EventId (ledger)", "ResourceName": "ResourceName (index)"}
    for name, samples in result.visibility.items():
        if not samples:
            continue
        p99 = percentile(samples, 99)
        rows.append(Row(f"visibility after ack, {what[name]}, p50 / p99",
                        f"{ms(percentile(samples, 50))} / {ms(p99)} (n={len(samples)})",
                        target="p99 <= 1 s", met=p99 <= VISIBLE_TARGET))
    return rows


def open_store(args: argparse.Namespace, work: Path) -> tuple[Path, StoreInfo, bool]:
    """A reusable store when --reuse-store names a matching one, else a fresh build."""
    root = args.reuse_store or work / "store"
    info = load_manifest(root, args.lookup_events, args.seed)
    if info is not None:
        say(f"reusing the store in {root} ({info.events:,} events)")
        return root, info, False
    prepare_dir(root)
    say(f"generating {args.lookup_events:,} events as .json.gz files in {root}")
    return root, build_files(root, args.lookup_events, args.seed), True


def lookup_part(args: argparse.Namespace, work: Path) -> tuple[list[Row], dict[str, Any]]:
    """Targets 3 and 4 (during lookups): OpenTrail on the store, then DuckDB on the files."""
    root, info, build = open_store(args, work)
    server = BenchServer(root / "data", root / "server.log")
    server.start()
    details: dict[str, Any] = {"store_events": info.events, "reused": not build}
    try:
        key = server.create_key()
        with TreeMonitor(server_pid(server)) as rss:
            if build:
                say(f"store: sending {info.files:,} files through {server.endpoint}")
                details["store_ingest_rate"] = fill_server(root, info, server.endpoint, key)
            client = ApiClient(server.endpoint, key)
            details["index_catch_up_seconds"] = wait_indexed(info, client)
            results = query_opentrail(args, client, info, server_pid(server))
            client.close()
    finally:
        server.stop()
    details["peak_rss_bytes"], details["peak_rss_by_process"] = rss.peak, rss.peaks
    query_duckdb(args, root, results)
    rows = [lookup_row(r) for r in results]
    rows += store_rows(details)
    details["attributes"] = {r.name: attr_details(r) for r in results}
    if args.reuse_store is None:
        shutil.rmtree(root, ignore_errors=True)
    return rows, details


def query_opentrail(args: argparse.Namespace, client: ApiClient, info: StoreInfo,
                    pid: int) -> list[AttrResult]:
    say("warming up")
    for name in ATTRIBUTES:  # other values than the timed ones: no answer is pre-cached
        for query in draw_queries(info, name, 2, args.seed + 1):
            client.lookup({"LookupAttributes": [
                {"AttributeKey": k, "AttributeValue": v} for k, v in query]})
    results = []
    for name in ATTRIBUTES:
        result = AttrResult(name, draw_queries(info, name, args.queries, args.seed))
        with TreeMonitor(pid) as monitor:
            time_opentrail(client, info, result, args.lookup_budget)
        result.server_cpu = monitor.cpu_seconds
        say(f"OpenTrail {label(name)}: p50 {ms(result.pct(50))}, p99 {ms(result.pct(99))} "
            f"over {len(result.seconds)}")
        results.append(result)
    return results


def query_duckdb(args: argparse.Namespace, root: Path, results: list[AttrResult]) -> None:
    """Round-robin over the attributes, one query each per round, while the budget lasts
    (every DuckDB query scans all files, so each costs about the same)."""
    if args.duckdb_budget <= 0:
        say("DuckDB skipped (--duckdb-budget 0): no reference in this run")
        return
    duck = DuckReference(root / "files" / "*.json.gz")
    began = time.perf_counter()
    try:
        for n in range(DUCK_MAX_PER_ATTR):
            round_began = time.perf_counter()
            for result in results:
                if (seconds := duck.run(result, n)) is not None:
                    say(f"DuckDB {label(result.name)}: {ms(seconds)}")
            took = time.perf_counter() - round_began
            say(f"DuckDB round {n + 1}: {took:,.1f} s")
            if time.perf_counter() - began + took > args.duckdb_budget:
                break  # the next round would not fit
    finally:
        duck.close()


def lookup_row(r: AttrResult) -> Row:
    p50, p99 = r.pct(50), r.pct(99)
    cpu = r.server_cpu / len(r.seconds)
    ours = f"{ms(p50)} / {ms(p99)} (n={len(r.seconds)}; cpu {ms(cpu)}/query)"
    target = f"p99 <= 20 ms, >= {DUCK_RATIO_TARGET:.0f}x"
    if not r.duckdb_seconds:  # --duckdb-budget 0: the latency target alone is judged
        return Row(f"LookupEvents {label(r.name)}, p50 / p99", ours, "DuckDB skipped", "-",
                   target, p99 <= LOOKUP_TARGET)
    duck = percentile(r.duckdb_seconds, 50)
    ratio = duck / p50
    return Row(f"LookupEvents {label(r.name)}, p50 / p99", ours,
               f"DuckDB p50 {ms(duck)} (n={len(r.duckdb_seconds)}, "
               f"{r.agree}/{len(r.duckdb_seconds)} same page)",
               f"{ratio:,.0f}x faster", target,
               p99 <= LOOKUP_TARGET and ratio >= DUCK_RATIO_TARGET)


def store_rows(details: dict[str, Any]) -> list[Row]:
    rows = []
    if "store_ingest_rate" in details:
        rows.append(Row("store build ingest, gzip files (events/s)",
                        f"{details['store_ingest_rate']:,.0f}"))
    rows.append(Row("index catch-up after the store's last ack",
                    ms(details["index_catch_up_seconds"])))
    peak = details["peak_rss_bytes"]
    rows.append(Row("peak RSS during store build + lookups", mb(peak),
                    target=f"<= {mb(RSS_TARGET)}", met=peak <= RSS_TARGET))
    return rows


def attr_details(r: AttrResult) -> dict[str, Any]:
    return {"queries": len(r.seconds), "p50": r.pct(50), "p99": r.pct(99),
            "max": max(r.seconds), "median_hits": r.median_hits,
            "hits": [len(a) for a in r.answers],
            "server_cpu_seconds": r.server_cpu,
            "duckdb_seconds": r.duckdb_seconds, "duckdb_same_page": r.agree,
            "seconds": r.seconds}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rows: list[Row] = []
    details: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}
    with tempfile.TemporaryDirectory(prefix="opentrail-bench-") as tmp:
        if not args.skip_ingest:
            ingest_rows, details["ingest"] = ingest_part(args, Path(tmp))
            print_table(ingest_rows, sys.stderr)  # early news on a long run
            rows += ingest_rows
        if not args.skip_lookup:
            lookup_rows, details["lookup"] = lookup_part(args, Path(tmp))
            rows += lookup_rows
    print_table(rows)
    say(f"wrote {write_json(rows, details)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
