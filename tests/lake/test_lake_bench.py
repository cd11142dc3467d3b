"""`python -m bench.lake` runs end to end on a tiny store and prints every row.

A smoke test of the bench's code path (build through the real ledger and LakeWriter, the
five sample queries through translate + DuckDB and the QueryRunner, the gzip JSON
reference, bytes, the lag run against a real server); it never looks at a timing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

ROWS = (
    "Lake writer following the ledger, 2,000 events",
    "time-bounded SELECT * (last hour), DuckDB p50 / p95",
    "console-login-with-no-mfa, DuckDB p50 / p95",
    "iam-idc-user-denied-activity (6 days), DuckDB p50 / p95",
    "top-iam-actions-by-principal (last 7 days), DuckDB p50 / p95",
    "UNION / UNION ALL of three stores, DuckDB p50 / p95",
    "bytes on disk: Parquet (all columns) vs gzipped log files",
    "columns that dominate (compressed)",
    "Lake lag, ack -> visible in a query, p50 / p99",
    "HTTP ingest vs Lake writer during it (events/s)",
)


@pytest.mark.slow
@pytest.mark.e2e
def test_bench_lake_prints_every_row(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [sys.executable, "-m", "bench.lake", "--events", "2000", "--runs", "5",
         "--reference-runs", "1", "--lag-seconds", "3", "--skip-spark", "--no-write",
         "--work", str(tmp_path / "work")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=280, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    for row in ROWS:
        assert any(line.lstrip().startswith(row) for line in lines), (row, proc.stdout)
    # the Lake and the gzip JSON reference agree on every sample query's answer
    assert "ANSWER DIFFERS" not in proc.stdout
    assert proc.stdout.count("same answer") == 5


def test_grouped_reference_merges_to_the_one_scan_answer(tmp_path: Path) -> None:
    """The reference's per-group runs merge to the same answer as one scan of all files:
    row queries concatenated, the GROUP BY's counts summed, the UNION's top rows
    re-ranked (12 files of 500 events, one group each vs all in one group)."""
    import gzip

    import orjson
    from bench.duck import GroupedReference
    from bench.events import ACCOUNT
    from bench.lake import SHAPE, same_answer, sample_queries

    from opentrail.sources.demo import generate

    end = 1_790_000_000.0
    start = end - 30 * 86400
    events = [e for e in generate(seed=7, count=6000, start=start, end=end, account=ACCOUNT)
              if e.get("eventCategory") != "Data"]
    files = []
    for n in range(12):
        path = tmp_path / f"{n:03d}.json.gz"
        path.write_bytes(gzip.compress(orjson.dumps({"Records": events[n * 500:][:500]})))
        files.append(path)
    one = GroupedReference(files, SHAPE, group_files=len(files))
    each = GroupedReference(files, SHAPE, group_files=1)
    assert len(each.groups) == 12
    try:
        for q in sample_queries(start, end):
            _, whole = one.sql(q.reference, q.merge)
            _, merged = each.sql(q.reference, q.merge)
            assert same_answer(whole, merged) and len(whole) == len(merged), q.name
            if q.merge != "SELECT * FROM partial":
                assert whole, q.name  # the merged queries have rows to merge
    finally:
        one.close()
        each.close()
