"""`python -m bench.insights_pg`: the Insights engine with its state on PostgreSQL beside
SQLite.

One run, the same events in both: the generated traffic of bench/insights_traffic.py
(its quieter series, with labelled anomalies, over `--days` days) appended to each
backend's ledger, then counted and decided by an `InsightsEngine` whose state is the
backend's `insights_store()` (insights.db, or the `insights_*` tables): counted
events/s, CPU µs per event in this process and, for PostgreSQL, in the server's
processes; the time to decide every minute; whether both wrote the same Insights
records. Then ListInsightsMetricData's read (`InsightsStore.metric`, one day of one
series per call, per-minute sums) on both, timed, answers compared. PostgreSQL 15 is a
private server with fsync on (tests/postgres_server.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench.insights_ledger import _event
from bench.insights_traffic import generate
from bench.report import percentile
from opentrail.clock import ManualClock
from opentrail.events import Category, Record, parse_record
from opentrail.insights import CALL_RATE, ERROR_RATE, InsightsEngine

__all__ = ["main"]

ACCOUNT = "123456789012"
MASTER_KEY = bytes(32)  # of a database thrown away after the run
CHUNK = 5_000


def records(days: int, skip_busiest: int) -> tuple[list[Record], list[str], int]:
    """The events, the series names, the first minute."""
    traffic = generate()  # 35 days; the first `days` are used
    chosen = sorted(traffic.series, key=lambda s: s.counts.mean())[:-skip_busiest]
    span = days * 1440
    objs = [_event(s.name, traffic.first_minute + int(m), i) for s in chosen
            for m in range(span) for i in range(int(s.counts[m]))]
    objs.sort(key=lambda o: str(o["eventTime"]))
    parsed = [parse_record(o, default_account=ACCOUNT, default_region="us-east-1")
              for o in objs]
    return parsed, [s.name for s in chosen], traffic.first_minute


def run_engine(backend: Any, clock: ManualClock, events: list[Record],
               server_cpu: Any) -> tuple[dict[str, float], list[bytes], Any]:
    writer = backend.ledger_writer(clock)
    writer.start()
    for i in range(0, len(events), CHUNK):
        writer.submit(events[i:i + CHUNK]).result()
    ledger = backend.ledger_reader()
    store = backend.insights_store()
    engine = InsightsEngine(Path(tempfile.gettempdir()), clock, writer, lambda *_: True,
                            ledger=ledger, store=store)
    began, cpu, server = time.perf_counter(), time.process_time(), server_cpu()
    while engine.count():
        pass
    seconds = time.perf_counter() - began
    row = {"events/s": engine.analysed / seconds,
           "client": (time.process_time() - cpu) / engine.analysed * 1e6,
           "server": (server_cpu() - server) / engine.analysed * 1e6}
    began = time.perf_counter()
    engine.detect()
    row["detect s"] = time.perf_counter() - began
    found = [r.body or b"" for r in ledger.rows(0, 1 << 62, category=int(Category.INSIGHT))]
    writer.close()
    return row, found, store


def metric_reads(store: Any, names: list[str], first: int, days: int
                 ) -> tuple[list[float], list[dict[int, int]]]:
    seconds, answers = [], []
    for day in range(days):
        for name in names:
            api, _, error = name.partition("/")
            service, event = api.split(":")
            key = (f"{service}.amazonaws.com", event, ERROR_RATE if error else CALL_RATE,
                   error or None)
            lo = first + day * 1440
            began = time.perf_counter()
            answers.append(store.metric(ACCOUNT, "us-east-1", key, lo, lo + 1440))
            seconds.append(time.perf_counter() - began)
    return seconds, answers


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.insights_pg", description=__doc__)
    p.add_argument("--days", type=int, default=10, help="at most 35")
    p.add_argument("--skip-busiest", type=int, default=4)
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from postgres_server import PostgresServer

    server = PostgresServer(durable=True)
    server.start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            _run(args, server, Path(folder))
    finally:
        server.stop()
    return 0


def _run(args: argparse.Namespace, server: Any, folder: Path) -> None:
    from opentrail.backends.postgres import PostgresBackend
    from opentrail.backends.sqlite import SqliteBackend

    events, names, first = records(args.days, args.skip_busiest)
    clock = ManualClock((first + args.days * 1440 + 120) * 60)
    loads = [os.getloadavg()]
    backends = {"sqlite": SqliteBackend(folder),
                "postgresql": PostgresBackend.open(server.new_database(), MASTER_KEY)}
    rows, found, reads = {}, {}, {}
    try:
        for name, backend in backends.items():
            print(f"{len(events):,} events on {name}", file=sys.stderr, flush=True)
            cpu = server.cpu_seconds if name == "postgresql" else (lambda: 0.0)
            rows[name], found[name], store = run_engine(backend, clock, events, cpu)
            metric_reads(store, names, first, 1)  # warm
            reads[name] = metric_reads(store, names, first, args.days)
            loads.append(os.getloadavg())
    finally:
        for backend in backends.values():
            backend.close()
    _report(args, len(events), rows, found, reads, loads)


def _report(args: argparse.Namespace, count: int, rows: dict[str, dict[str, float]],
            found: dict[str, list[bytes]], reads: dict[str, Any],
            loads: list[tuple[float, ...]]) -> None:
    same = [orjson.loads(b) for b in found["sqlite"]] == [
        orjson.loads(b) for b in found["postgresql"]]
    print(f"\n{count:,} events over {args.days} days, load average "
          + " → ".join(f"{a:.1f}/{b:.1f}/{c:.1f}" for a, b, c in loads) + "\n")
    print("| backend | counted events/s | client CPU µs/event | server CPU µs/event | "
          "decide s | Insights records | metric p50 ms | metric p99 ms |")
    print("|---|---|---|---|---|---|---|---|")
    for name, row in rows.items():
        server = f"{row['server']:.1f}" if name == "postgresql" else "—"
        seconds = reads[name][0]
        print(f"| {name} | {row['events/s']:,.0f} | {row['client']:.1f} | {server} | "
              f"{row['detect s']:.2f} | {len(found[name])} | "
              f"{1000 * percentile(seconds, 50):.2f} | {1000 * percentile(seconds, 99):.2f} |")
    equal = reads["sqlite"][1] == reads["postgresql"][1]
    print(f"\nSame Insights records on both: {same}; same metric answers: {equal} "
          f"({len(reads['sqlite'][1])} reads each)")


if __name__ == "__main__":
    sys.exit(main())
