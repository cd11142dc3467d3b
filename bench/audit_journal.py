"""`python -m bench.audit_journal`: what the self-audit journal adds to each change call,
the data dir's folder (fsync'd file) beside PostgreSQL (a committed row, fsync on).

Each change call writes its record before it runs and removes it once the ledger holds
the outcome (ledger/_journal.py, backends/postgres/_journal.py); this times that pair
alone, `--calls` times per backend, and prints p50 and p99 in milliseconds. PostgreSQL
is a private server started from tests/postgres_server.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from opentrail.events import Record, parse_record
from opentrail.ledger import Journal

ACCOUNT = "123456789012"
MASTER_KEY = bytes(32)  # of a database thrown away after the run
WARMUP = 30


def _record() -> Record:
    return parse_record({"eventTime": "2026-12-02T10:00:00Z",
                         "eventSource": "cloudtrail.amazonaws.com", "eventName": "CreateTrail",
                         "eventID": str(uuid.uuid4()), "recipientAccountId": ACCOUNT,
                         "awsRegion": "us-east-1", "requestParameters": {"name": "x" * 200}},
                        default_account=ACCOUNT, default_region="us-east-1")


def _measure(journal: Journal, calls: int) -> tuple[float, float]:
    """p50 and p99 of write + remove, in milliseconds."""
    times = []
    for i in range(WARMUP + calls):
        record = _record()
        start = time.perf_counter()
        journal.write(record)
        journal.remove(record)
        if i >= WARMUP:
            times.append(time.perf_counter() - start)
    times.sort()
    return statistics.median(times) * 1e3, times[int(0.99 * (len(times) - 1))] * 1e3


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.audit_journal", description=__doc__)
    p.add_argument("--calls", type=int, default=300)
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from opentrail.backends.postgres import PostgresBackend
    from opentrail.backends.sqlite import SqliteBackend
    from postgres_server import PostgresServer

    results = []
    with tempfile.TemporaryDirectory() as folder:
        journal = SqliteBackend(Path(folder)).audit_journal()
        results.append(("folder (fsync)", _measure(journal, args.calls)))
        journal.close()
    server = PostgresServer(durable=True)
    server.start()
    try:
        backend = PostgresBackend.open(server.new_database(), MASTER_KEY, pool_size=2)
        journal = backend.audit_journal()
        results.append(("postgresql (fsync on)", _measure(journal, args.calls)))
        backend.close()
    finally:
        server.stop()
    for name, (p50, p99) in results:
        print(f"{name:<24} write+remove p50 {p50:6.2f} ms  p99 {p99:6.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
