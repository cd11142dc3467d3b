"""`python -m bench.ledger_append`: the ledger's append path, SQLite beside PostgreSQL.

Measures the writer alone (no HTTP): `LedgerWriter` over `SqliteSequencer` and over
`PgSequencer` with 1 and 2 writers on one database (two nodes' writers in one process:
the figure that matters is CPU per event, client + server, and that nothing serialises
beyond the sequencer's lock). Each writer is fed by 4 threads submitting 100-event
batches, as API requests do. PostgreSQL is a private server with fsync on (SQLite's
commits are fsync'd too), started from tests/postgres_server.py.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from opentrail.clock import SystemClock
from opentrail.events import Record, parse_record
from opentrail.ledger import LedgerWriter
from opentrail.sources.demo import generate

THREADS = 4  # submitters per writer
BATCH = 100  # events per submit, as one PutAuditEvents / ingest request
ACCOUNT = "123456789012"
MASTER_KEY = bytes(32)  # of a database thrown away after the run


def _records(count: int, seed: int) -> list[Record]:
    return [parse_record(raw, default_account=ACCOUNT, default_region="us-east-1")
            for raw in generate(seed=seed, count=count, start=1.7e9, end=1.7e9 + 86400,
                                account=ACCOUNT)]


def _feed(writers: list[LedgerWriter], records: list[Record]) -> float:
    """Seconds to append `records` through `writers`, THREADS submitters each."""
    chunks = [records[i:i + BATCH] for i in range(0, len(records), BATCH)]
    lanes = [chunks[n::len(writers) * THREADS] for n in range(len(writers) * THREADS)]

    def run(writer: LedgerWriter, lane: list[list[Record]]) -> None:
        for chunk in lane:
            assert all(writer.submit(chunk).result(timeout=120))

    threads = [threading.Thread(target=run, args=(writers[n % len(writers)], lane))
               for n, lane in enumerate(lanes)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def _measure(name: str, writers: list[LedgerWriter], records: list[Record],
             server_cpu: Callable[[], float]) -> dict[str, float | str]:
    for writer in writers:
        writer.start()
    cpu0, server0 = time.process_time(), server_cpu()
    seconds = _feed(writers, records)
    cpu, server = time.process_time() - cpu0, server_cpu() - server0
    for writer in writers:
        writer.close()
    return {"run": name, "events/s": len(records) / seconds,
            "client µs/event": 1e6 * cpu / len(records),
            "server µs/event": 1e6 * server / len(records)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ledger_append", description=__doc__)
    p.add_argument("--events", type=int, default=100_000)
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from opentrail.backends.postgres import PostgresBackend
    from postgres_server import PostgresServer

    clock = SystemClock()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        records = _records(args.events, 1)
        results.append(_measure("sqlite", [LedgerWriter(Path(folder), clock)], records,
                                lambda: 0.0))
    server = PostgresServer(durable=True)
    server.start()
    try:
        for nodes in (1, 2):
            url = server.new_database()
            backends = [PostgresBackend.open(url, MASTER_KEY) for _ in range(nodes)]
            writers = [b.ledger_writer(clock) for b in backends]
            results.append(_measure(f"postgresql, {nodes} writer(s)", writers,
                                    _records(args.events, 1 + nodes), server.cpu_seconds))
            for backend in backends:
                backend.close()
    finally:
        server.stop()
    for row in results:
        print(f"{row['run']:<26} {row['events/s']:>10,.0f} events/s  "
              f"client {row['client µs/event']:6.1f} µs/event  "
              f"server {row['server µs/event']:6.1f} µs/event")
    return 0


if __name__ == "__main__":
    sys.exit(main())
