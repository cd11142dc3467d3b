"""Proofs at 10 M events: inclusion proof generation and verification, target <= 5 ms each.

The store is built directly, not through HTTP: N synthetic events (small JSON bodies,
sequential ids) are written straight into the ledger's events table with its real schema
and indexes, then `TreeFollower` folds them into tree.db exactly as the server's tree
thread does. Proofs only read leaf hashes and tree.db, so how the events arrived does not
change what is measured. The store is kept under --dir and reused when it matches.

Reference, measured in the same run: recomputing the root from all N leaf hashes
(`ledger.tree_head`), i.e. checking an event without stored nodes.

Run alone: `python -m bench.proofs [--events N] [--dir DIR]`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.report import RESULTS, Row, machine, print_table

__all__ = ["build_store", "run_proofs"]

TARGET = 0.005
INSERT_BATCH = 100_000
MANIFEST = "proofs-manifest.json"


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _rows(start: int, count: int) -> list[tuple[Any, ...]]:
    rows = []
    for seq in range(start, start + count):
        body = (b'{"eventID":"e%010d","eventName":"DescribeInstances","eventSource":'
                b'"ec2.amazonaws.com","eventTime":"2026-11-20T10:00:00Z"}' % seq)
        leaf = hashlib.sha256(b"\x00" + body).digest()
        rows.append((seq, "123456789012", "us-east-1", 0, 1_763_632_800, 1_763_632_800,
                     f"e{seq:010d}", leaf, body))
    return rows


def _fill_ledger(data_dir: Path, events: int) -> float:
    from opentrail.ledger._schema import open_ledger

    conn = open_ledger(data_dir)
    conn.execute("PRAGMA synchronous=OFF")  # a bench fixture, not acknowledged events
    start = time.perf_counter()
    done = conn.execute("SELECT COALESCE(MAX(seq) + 1, 0) FROM events").fetchone()[0]
    while done < events:
        count = min(INSERT_BATCH, events - done)
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?)", _rows(done, count))
        conn.execute("COMMIT")
        done += count
        if done % 1_000_000 == 0:
            say(f"ledger: {done:,} events")
    conn.close()
    return time.perf_counter() - start


def _fold_tree(data_dir: Path) -> dict[str, float]:
    """Fold the whole ledger into a fresh tree.db, as the server's tree thread does."""
    from opentrail.ledger import TREE_FILE, TreeFollower

    for suffix in ("", "-wal", "-shm"):
        (data_dir / f"{TREE_FILE}{suffix}").unlink(missing_ok=True)
    follower = TreeFollower(data_dir)
    wall, cpu, folded = time.perf_counter(), time.thread_time(), 0
    while consumed := follower.step():
        folded += consumed
    wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
    follower.close()
    return {"tree_seconds": wall, "tree_leaves_per_second": folded / wall,
            "tree_cpu_us_per_leaf": cpu / folded * 1e6}


def build_store(data_dir: Path, events: int) -> dict[str, Any]:
    """The ledger and tree.db of `events` leaves, reused when the manifest matches."""
    manifest = data_dir / MANIFEST
    info: dict[str, Any] = {}
    if manifest.exists():
        info = json.loads(manifest.read_text())
        if info.get("events") == events and "tree_cpu_us_per_leaf" in info:
            say(f"reusing the proof store of {events:,} events in {data_dir}")
            return info
    if info.get("events") != events:
        data_dir.mkdir(parents=True, exist_ok=True)
        say(f"building a ledger of {events:,} synthetic events in {data_dir}")
        info = {"events": events, "fill_seconds": _fill_ledger(data_dir, events)}
    say("folding the ledger into tree.db")
    info.update(_fold_tree(data_dir))
    manifest.write_text(json.dumps(info))
    return info


def _percentiles(samples: list[tuple[float, float]]) -> dict[str, float]:
    """Wall-clock percentiles, and the CPU time's: on a shared machine the wall-clock
    tail measures the other processes, the CPU time what a proof costs."""
    cpu = sorted(c for _, c in samples)
    ordered = sorted(w for w, _ in samples)
    def at(q: float) -> float:
        return ordered[round(q * (len(ordered) - 1))]

    return {"p50": statistics.median(ordered), "p90": at(0.9), "p99": at(0.99),
            "max": ordered[-1], "cpu_p50": statistics.median(cpu),
            "cpu_p99": cpu[round(0.99 * (len(cpu) - 1))]}


def _measure(data_dir: Path, events: int, samples: int) -> dict[str, Any]:
    from opentrail.clock import SystemClock
    from opentrail.ledger import Checkpointer, open_checkpoint, verify_inclusion

    checkpoints = Checkpointer(data_dir, SystemClock(), interval=3600)
    checkpoint = checkpoints.make_checkpoint()
    assert checkpoint.size == events, checkpoint.size
    rng = random.Random(20261125)
    prove: list[tuple[float, float]] = []  # (wall seconds, CPU seconds of this thread)
    verify: list[tuple[float, float]] = []
    for index in (rng.randrange(events) for _ in range(samples)):
        w0, c0 = time.perf_counter(), time.thread_time()
        path = checkpoints.tree.inclusion(index, events)
        leaf = checkpoints.tree.leaves(index, index + 1)[0]
        w1, c1 = time.perf_counter(), time.thread_time()
        opened = open_checkpoint(checkpoint.note, checkpoints.public_key)
        verify_inclusion(index, events, leaf, path, opened.root)
        w2, c2 = time.perf_counter(), time.thread_time()
        prove.append((w1 - w0, c1 - c0))
        verify.append((w2 - w1, c2 - c1))
    consistency = []
    for first in (rng.randrange(1, events) for _ in range(max(20, samples // 10))):
        w0, c0 = time.perf_counter(), time.thread_time()
        checkpoints.tree.consistency(first, events)
        consistency.append((time.perf_counter() - w0, time.thread_time() - c0))
    checkpoints.close()
    return {"prove": _percentiles(prove), "verify": _percentiles(verify),
            "consistency": _percentiles(consistency), "root": checkpoint.root.hex()}


def _reference(data_dir: Path, root_hex: str) -> float:
    from opentrail.ledger import open_ledger_reader, tree_head

    reader = open_ledger_reader(data_dir)
    start = time.perf_counter()
    _size, root = tree_head(reader)
    elapsed = time.perf_counter() - start
    reader.close()
    assert root.hex() == root_hex, "tree.db and the ledger disagree on the root"
    return elapsed


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.2f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def _cell(stats: dict[str, float]) -> str:
    return (f"p50 {_ms(stats['p50'])}, p99 {_ms(stats['p99'])} wall; "
            f"p99 {_ms(stats['cpu_p99'])} CPU")


def _met(stats: dict[str, float]) -> bool:
    """The median wall time and the CPU time of nearly every proof are within target."""
    return stats["p50"] <= TARGET and stats["cpu_p99"] <= TARGET


def run_proofs(data_dir: Path, events: int = 10_000_000, samples: int = 1_000,
               reference: bool = True) -> tuple[list[Row], dict[str, Any]]:
    """Rows for the bench table, and the details for the JSON."""
    info = build_store(data_dir, events)
    say(f"timing {samples:,} inclusion proofs at {events:,} leaves")
    result = _measure(data_dir, events, samples)
    ref = _reference(data_dir, result["root"]) if reference else float("nan")
    p, v, c = result["prove"], result["verify"], result["consistency"]
    n = f"{events / 1e6:g} M"
    rows = [
        Row(f"inclusion proof, {n} events", _cell(p), f"{_ms(ref)} root from all leaves",
            f"{ref / p['p50']:,.0f}x", "<= 5 ms", _met(p)),
        Row(f"proof verification (signature + path), {n}", _cell(v), "-", "-", "<= 5 ms",
            _met(v)),
        Row(f"consistency proof, {n} events", _cell(c)),
        Row("tree.db follower (leaves/s; CPU per leaf)",
            f"{info['tree_leaves_per_second']:,.0f}; {info['tree_cpu_us_per_leaf']:.1f} µs"),
    ]
    return rows, {"proofs": {**info, **result, "reference_seconds": ref, "samples": samples}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.proofs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--samples", type=int, default=1_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/opentrail-bench-proofs"),
                        help="where the store is built and reused")
    args = parser.parse_args(argv)
    rows, details = run_proofs(args.dir / str(args.events), args.events, args.samples)
    print_table(rows)
    say(f"wrote {write_proofs_json(rows, details)}")


def write_proofs_json(rows: list[Row], details: dict[str, Any]) -> Path:
    """bench/results/proofs-<time>.json: run alone, this never replaces latest.json."""
    from dataclasses import asdict

    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = RESULTS / f"proofs-{stamp}.json"
    path.write_text(json.dumps({"time": stamp, "machine": machine(),
                                "rows": [asdict(r) for r in rows], **details},
                               indent=2, default=str))
    return path


if __name__ == "__main__":
    main()
