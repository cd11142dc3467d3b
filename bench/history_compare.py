"""`python -m bench.history_compare`: LookupEvents of two versions of the code, each over
its own history.db of the same ledger, in process (no HTTP), with the same queries.

A store kept by `python -m bench.history_pg --keep DIR` (its manifest.json holds the
sample the queries are drawn from) gives the ledger and one history.db; `--build DIR`
first indexes that ledger into DIR/history.db with the code of this checkout (CPU µs
and history.db bytes per event). Each `--side NAME=SRC:DIR` then runs in a child process
with PYTHONPATH=SRC (its `opentrail`, e.g. /work/main/src beside this checkout's src),
reading DIR/history.db read-only and every body from the one `--ledger` directory, so
both sides read the same ledger file. The queries are bench.history_pg's (seed 12): per
attribute a value weighted by how often it occurs ("common") and one drawn uniformly
from the distinct values ("rare"), EventId, the AND of Username, EventSource and
ReadOnly, a one-day window and the second page of an EventName, first pages of
MaxResults 50, newest first; plus ("AND2 apart", 20 lookups) ANDs of a common EventName
and a common EventSource never seen together in the sample. The sides run in turn,
twice (A B A B); each child runs the set once untimed, then timed: wall time and CPU
time (process_time) per lookup, then the console's activity overview of the last 1, 7
and 30 days, once each. The tables give p50/p99 of both from the second turn and
whether every side answered every query alike (the same eventIDs in the same order;
the same counts, errors and top names and users); --json writes all of it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
RETENTION_DAYS = 90  # as bench.history_pg's readers
DISJOINT = 20  # "AND2 apart" lookups (each reads every bucket of its terms)
OVERVIEW_DAYS = (1, 7, 30)  # the console's activity overview, once per range


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.history_compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest", type=Path, required=True,
                   help="manifest.json of a bench.history_pg --keep store")
    p.add_argument("--ledger", type=Path, required=True, help="the folder of ledger.db")
    p.add_argument("--side", action="append", default=[], metavar="NAME=SRC:DIR",
                   help="a version to time: its source folder and its history.db's folder")
    p.add_argument("--build", type=Path, metavar="DIR",
                   help="first index DIR/ledger.db into DIR/history.db with this checkout")
    p.add_argument("--queries", type=int, default=400, help="lookups per kind")
    p.add_argument("--json", type=Path, help="write every figure here")
    p.add_argument("--child", nargs=2, metavar=("DIR", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return _child(args, Path(args.child[0]), Path(args.child[1]))
    out: dict[str, Any] = {"load": [os.getloadavg()]}
    if args.build:
        out["build"] = build(args.build)
        _say(f"built: {out['build']}")
    sides = dict(_side(s) for s in args.side)
    if not sides:
        if args.json:
            args.json.write_bytes(orjson.dumps(out, option=orjson.OPT_INDENT_2))
        return 0
    out["turns"] = [{name: _run(args, src, folder) for name, (src, folder) in sides.items()}
                    for _ in range(2)]
    out["load"].append(os.getloadavg())
    manifest = orjson.loads(args.manifest.read_bytes())
    out["baseline build"] = manifest.get("indexing", {}).get("sqlite")
    report(out, manifest["events"])
    if args.json:
        args.json.write_bytes(orjson.dumps(out, option=orjson.OPT_INDENT_2))
    return 0


def _side(text: str) -> tuple[str, tuple[Path, Path]]:
    name, _, paths = text.partition("=")
    src, _, folder = paths.partition(":")
    return name, (Path(src).resolve(), Path(folder))


def build(folder: Path) -> dict[str, float]:
    """Index folder/ledger.db from the start into a new folder/history.db (this process,
    this checkout's code): events, wall s, CPU µs per event, history.db bytes per event."""
    import gc
    import sqlite3

    from opentrail.clock import SystemClock
    from opentrail.history import HISTORY_FILE, HistoryIndexer

    assert not (folder / HISTORY_FILE).exists(), f"{folder} has a history.db already"
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)  # as the indexer process does
    indexer = HistoryIndexer(folder, SystemClock(), 0)
    events, cpu, began = 0, time.process_time(), time.perf_counter()
    while n := indexer.step():
        events += n
        if events % 500_000 < n:
            _say(f"  indexed {events:,}")
    cpu, wall = time.process_time() - cpu, time.perf_counter() - began
    indexer.close()
    conn = sqlite3.connect(folder / HISTORY_FILE)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    size = (folder / HISTORY_FILE).stat().st_size
    return {"events": events, "wall s": wall, "CPU us/event": 1e6 * cpu / events,
            "bytes": size, "bytes/event": size / events}


def _run(args: argparse.Namespace, src: Path, folder: Path) -> dict[str, Any]:
    """One side's turn in a child process importing `opentrail` from `src`."""
    handle, name = tempfile.mkstemp(prefix="history_compare.", suffix=".json")
    os.close(handle)
    out = Path(name)
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{ROOT}"}
    cmd = [sys.executable, "-m", "bench.history_compare", "--manifest", str(args.manifest),
           "--ledger", str(args.ledger), "--queries", str(args.queries),
           "--child", str(folder), str(out)]
    _say(f"lookups with {src} over {folder}")
    subprocess.run(cmd, env=env, check=True, cwd=ROOT)
    try:
        result: dict[str, Any] = orjson.loads(out.read_bytes())
    finally:
        out.unlink(missing_ok=True)
    return result


def _child(args: argparse.Namespace, folder: Path, out: Path) -> int:
    import opentrail
    from bench.history_pg import _attr, queries
    from opentrail.clock import ManualClock
    from opentrail.history import HistoryReader
    from opentrail.history._query import READER_CACHE_KIB
    from opentrail.ledger import open_ledger_reader

    manifest = orjson.loads(args.manifest.read_bytes())
    clock = ManualClock(manifest["now"])
    sample = [{_attr(k): v for k, v in s.items()} for s in manifest["sample"]]
    todo = _kinds(queries(sample, args.queries, int(clock.now())))
    todo["AND2 apart"] = _apart(sample, min(args.queries, DISJOINT), int(clock.now()))
    ledger = open_ledger_reader(args.ledger, READER_CACHE_KIB)
    # HistoryReader opens history.db read-only (Backend.history_index().reader() would
    # first open it for writing: create_history).
    reader = HistoryReader(folder, clock, RETENTION_DAYS, ledger=ledger)
    _timed(reader, todo)  # untimed: page caches
    result = {"code": str(Path(opentrail.__file__).parent), "kinds": _timed(reader, todo),
              "overview": _overviews(folder, clock, ledger)}
    ledger.close()
    out.write_bytes(orjson.dumps(result))
    return 0


def _overviews(folder: Path, clock: Any, ledger: Any) -> dict[str, dict[str, Any]]:
    """The console's activity overview of the last OVERVIEW_DAYS (a fresh index each, so
    nothing is cached): CPU and wall seconds and what it shows."""
    from bench.history_pg import ACCOUNT, REGION
    from opentrail.history import ActivityIndex, HistoryDbActivityRows

    out = {}
    for days in OVERVIEW_DAYS:
        index = ActivityIndex(folder, clock, ledger=ledger, rows=HistoryDbActivityRows(folder))
        hi = int(clock.now())
        cpu, began = time.process_time(), time.perf_counter()
        view = index.overview((ACCOUNT,), REGION, hi - days * 86400, hi)
        out[f"{days} d"] = {"wall": time.perf_counter() - began,
                            "cpu": time.process_time() - cpu,
                            "shows": [view.counts, view.errors, view.top_names, view.top_users]}
    return out


def _kinds(todo: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """bench.history_pg's queries with each attribute's split into its common values
    (even positions: weighted by occurrence) and rare ones (odd: uniform over values)."""
    out: dict[str, list[Any]] = {}
    for name, qs in todo.items():
        if qs and len(qs[0].terms) == 1:
            out[f"{name} common"], out[f"{name} rare"] = qs[0::2], qs[1::2]
        else:
            out[name] = qs
    return out


def _apart(sample: list[dict[Any, Any]], count: int, end: int) -> list[Any]:
    """ANDs of a common EventName and a common EventSource never seen together in the
    sample: the worst case of an AND, whose terms' postings are read to their end."""
    from collections import Counter

    from bench.history_pg import ACCOUNT, REGION
    from opentrail.events import Category
    from opentrail.history import Attr, LookupQuery

    name, source = Attr.EVENT_NAME, Attr.EVENT_SOURCE
    seen = {(s.get(name), s.get(source)) for s in sample}
    names = Counter(s[name] for s in sample if name in s).most_common(3)
    sources = Counter(s[source] for s in sample if source in s).most_common(6)
    pairs = [((name, n), (source, v)) for n, _ in names for v, _ in sources
             if (n, v) not in seen]
    return [LookupQuery((ACCOUNT,), REGION, Category.MANAGEMENT, pairs[i % len(pairs)], None,
                        None, end, 50) for i in range(count)]


def _timed(reader: Any, todo: dict[str, list[Any]]) -> dict[str, dict[str, list[Any]]]:
    """Per kind: wall and CPU seconds and the eventIDs of each lookup; the second page of
    each common EventName lookup that has one, as its own kind."""
    from dataclasses import replace

    out: dict[str, dict[str, list[Any]]] = {}
    for name, qs in todo.items():
        for q in qs:
            result = _one(reader, q, out.setdefault(name, {"wall": [], "cpu": [], "ids": []}))
            if name == "EventName common" and result.next_token:
                _one(reader, replace(q, next_token=result.next_token),
                     out.setdefault("EventName page 2", {"wall": [], "cpu": [], "ids": []}))
    return out


def _one(reader: Any, query: Any, into: dict[str, list[Any]]) -> Any:
    cpu, began = time.process_time(), time.perf_counter()
    result = reader.lookup(query)
    into["wall"].append(time.perf_counter() - began)
    into["cpu"].append(time.process_time() - cpu)
    into["ids"].append([e["EventId"] for e in result.events])
    return result


def report(out: dict[str, Any], events: int) -> None:
    from bench.report import percentile

    turn = out["turns"][-1]
    names = list(turn)
    print(f"\n{events:,} events; load average "
          + " → ".join(f"{a:.1f}/{b:.1f}/{c:.1f}" for a, b, c in out["load"]))
    if "build" in out:
        b = out["build"]
        print(f"built with this checkout: {b['CPU us/event']:.1f} µs CPU per event, "
              f"{b['wall s']:,.0f} s, history.db {b['bytes/event']:.1f} B per event")
    head = " | ".join(f"{n} wall p50 / p99 ms | {n} CPU p50 / p99 ms" for n in names)
    print(f"\n| lookup | n | {head} | answers equal |")
    print("|" + "---|" * (3 + 2 * len(names)))
    for kind in turn[names[0]]["kinds"]:
        rows = [turn[n]["kinds"].get(kind, {"wall": [], "cpu": [], "ids": []}) for n in names]
        cells = []
        for row in rows:
            for key in ("wall", "cpu"):
                v = row[key]
                cells.append(f"{1e3 * percentile(v, 50):.2f} / {1e3 * percentile(v, 99):.2f}"
                             if v else "—")
        same = sum(all(r["ids"][i] == rows[0]["ids"][i] for r in rows[1:])
                   for i in range(len(rows[0]["ids"]))) if all(
            len(r["ids"]) == len(rows[0]["ids"]) for r in rows) else "sizes differ"
        print(f"| {kind} | {len(rows[0]['ids'])} | {' | '.join(cells)} | "
              f"{same}/{len(rows[0]['ids'])} |")
    _report_overviews(turn, names)


def _report_overviews(turn: dict[str, Any], names: list[str]) -> None:
    print("\n| activity overview | " + " | ".join(f"{n} CPU / wall s" for n in names)
          + " | same counts, errors, tops |")
    print("|" + "---|" * (2 + len(names)))
    for span, first in turn[names[0]]["overview"].items():
        rows = [turn[n]["overview"][span] for n in names]
        cells = " | ".join(f"{r['cpu']:.3f} / {r['wall']:.3f}" for r in rows)
        same = all(r["shows"] == first["shows"] for r in rows)
        print(f"| {span} | {cells} | {'yes' if same else 'NO'} |")


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
