"""`python -m bench.sigma`: Sigma rule evaluation throughput beside a plain-dict floor.

50 rules are evaluated over the invictus CloudTrail sample (2,900 real events, repeated),
single-threaded, in the same run as the floor: the same rules written by hand as Python
dict look-ups (exact, case-sensitive comparisons; no parsing, no wildcards, no per-value
case folding). The rules are generated in the shape of SigmaHQ's CloudTrail rules
(eventSource + a list of eventNames, some with a `contains` filter on userAgent or a
`null` errorCode), since SigmaHQ's rules are not shipped; `--rules DIR` also times real
ones (a SigmaHQ checkout's rules/cloud/aws/cloudtrail), beside the same floor.

`--ingest N` also sends N demo events (bench.events, 8 client threads, as `python -m
bench` does) to a real `opentrail serve`, once without rules and once with the 50 rules
(`--sigma-rules`), and reports both ingest rates, and how long after the last
acknowledgement the detector had evaluated every event.

    python -m bench.sigma [--rules DIR] [--events 30000] [--ingest 200000] [--json out.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from opentrail.detect import RuleSet, load_rules

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
RULES = 50
Floor = Callable[[dict[str, Any]], bool]


def sample(count: int) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for path in sorted((DATASETS / "invictus-aws" / "CloudTrail").glob("*.json")):
        records += json.loads(path.read_text())["Records"]
    return (records * (count // len(records) + 1))[:count]


def _names(records: list[dict[str, Any]], rare: bool = False) -> list[tuple[str, list[str]]]:
    """(eventSource, its eventNames) of the sample, most common sources first; `rare`:
    only each source's rarest names, so that about 1 event in 100 is a finding, as with
    SigmaHQ's rules on the invictus attack sample (340 of 30,000)."""
    by_source: dict[str, dict[str, int]] = {}
    for r in records:
        names = by_source.setdefault(r["eventSource"], {})
        names[r["eventName"]] = names.get(r["eventName"], 0) + 1
    if rare:
        limit = len(records) // 2000 + 1
        by_source = {s: {n: c for n, c in names.items() if c <= limit}
                     for s, names in by_source.items()}
        by_source = {s: names for s, names in by_source.items() if names}
    return sorted(((s, sorted(n)) for s, n in by_source.items()), key=lambda x: -len(x[1]))


def synthetic(records: list[dict[str, Any]], folder: Path, rare: bool = False
              ) -> tuple[list[Floor], dict[str, list[Floor]]]:
    """RULES rule files in SigmaHQ's CloudTrail shape, and each one's hand-written floor
    (also indexed by exact eventName, as OpenTrail indexes rules)."""
    floors: list[Floor] = []
    by_name: dict[str, list[Floor]] = {}
    sources = _names(records, rare)
    for i in range(RULES):
        source, names = sources[i % len(sources)]
        chosen = names[i % len(names):][:3] or names[:3]
        kind = i % 3
        extra = ("  filter:\n    userAgent|contains: 'Terraform'\n  condition: sel and not filter\n"
                 if kind == 1 else "  filter:\n    errorCode: null\n  condition: sel and filter\n"
                 if kind == 2 else "  condition: sel\n")
        text = (f"title: bench rule {i}\nid: 00000000-0000-4000-8000-{i:012d}\nlogsource:\n"
                f"  product: aws\n  service: cloudtrail\ndetection:\n  sel:\n"
                f"    eventSource: {source}\n    eventName:\n"
                + "".join(f"      - {n}\n" for n in chosen) + extra + "level: low\n")
        (folder / f"rule{i:02d}.yml").write_text(text)
        floors.append(_floor(source, frozenset(chosen), kind))
        for name in chosen:
            by_name.setdefault(name, []).append(floors[-1])
    return floors, by_name


def _floor(source: str, names: frozenset[str], kind: int) -> Floor:
    if kind == 1:
        return lambda r: (r.get("eventSource") == source and r.get("eventName") in names
                          and "Terraform" not in str(r.get("userAgent", "")))
    if kind == 2:
        return lambda r: (r.get("eventSource") == source and r.get("eventName") in names
                          and r.get("errorCode") is None)
    return lambda r: r.get("eventSource") == source and r.get("eventName") in names


def time_rules(rules: RuleSet, records: list[dict[str, Any]]) -> tuple[float, int]:
    gc.disable()
    started = time.perf_counter()
    hits = sum(len(rules.match(r)) for r in records)
    elapsed = time.perf_counter() - started
    gc.enable()
    return len(records) / elapsed, hits


def time_floor(floors: list[Floor], records: list[dict[str, Any]]) -> tuple[float, int]:
    gc.disable()
    started = time.perf_counter()
    hits = sum(1 for r in records for f in floors if f(r))
    elapsed = time.perf_counter() - started
    gc.enable()
    return len(records) / elapsed, hits


def time_indexed_floor(by_name: dict[str, list[Floor]], records: list[dict[str, Any]]
                      ) -> tuple[float, int]:
    gc.disable()
    started = time.perf_counter()
    hits = sum(1 for r in records for f in by_name.get(r.get("eventName"), ()) if f(r))
    elapsed = time.perf_counter() - started
    gc.enable()
    return len(records) / elapsed, hits


def _detector_lag(data_dir: Path, acked: float, timeout: float = 300.0) -> tuple[float, int]:
    """Seconds from the last acknowledgement until the detector's cursor reached the
    ledger's head as it was then, and the findings it made."""
    import sqlite3

    ledger = sqlite3.connect(f"file:{data_dir / 'ledger.db'}?mode=ro", uri=True)
    head = ledger.execute("SELECT COALESCE(MAX(seq), -1) + 1 FROM events").fetchone()[0]
    ledger.close()
    while time.perf_counter() - acked < timeout:
        db = sqlite3.connect(f"file:{data_dir / 'findings.db'}?mode=ro", uri=True)
        row = db.execute("SELECT seq FROM cursor WHERE name = 'ledger'").fetchone()
        db.close()
        if row and row[0] >= head:
            lag = time.perf_counter() - acked
            db = sqlite3.connect(f"file:{data_dir / 'findings.db'}?mode=ro", uri=True)
            found = db.execute("SELECT COUNT(*) FROM findings").fetchone()[0]
            db.close()
            return lag, found
        time.sleep(0.05)
    raise RuntimeError("the detector did not catch up")


def ingest(events: int, rules_dir: Path | None, work: Path) -> dict[str, float]:
    """Ingest `events` demo events into a fresh server (with --sigma-rules rules_dir)."""
    from bench.events import probe_batches
    from bench.ingest import run_ingest
    from bench.server import BenchServer, TreeMonitor

    now = time.time()
    bodies = probe_batches(seed=7, count=events, start=now - 86400, end=now)
    data_dir = work / ("with" if rules_dir else "without")
    extra = ("--sigma-rules", str(rules_dir)) if rules_dir else ()
    server = BenchServer(data_dir, work / f"{data_dir.name}.log", extra)
    server.start()
    assert server.proc is not None
    try:
        key = server.create_key()
        with TreeMonitor(server.proc.pid) as tree:
            result = run_ingest(server.endpoint, key, bodies, probe=False)
            acked = time.perf_counter()
            lag, found = _detector_lag(data_dir, acked) if rules_dir else (0.0, 0)
    finally:
        server.stop()
    return {"events_per_s": round(result.rate), "detector_lag_s": round(lag, 2),
            "findings": found, "cpu_s": round(tree.cpu_seconds, 1)}


def _ingest_pair(events: int, work: Path) -> dict[str, Any]:
    """Demo events, with 50 rules in SigmaHQ's shape over the demo's own eventNames."""
    from bench.events import batches

    now = time.time()
    demo = [e for chunk in batches(seed=7, count=5_000, start=now - 86400, end=now)
            for e in chunk]
    rules_dir = work / "rules"
    rules_dir.mkdir()
    synthetic(demo, rules_dir, rare=True)
    without = ingest(events, None, work)
    with_rules = ingest(events, rules_dir, work)
    return {"events": events, "without": without, "with_50_rules": with_rules,
            "ratio": round(with_rules["events_per_s"] / without["events_per_s"], 3)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=Path, help="also time these rules (first 50 files)")
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--ingest", type=int, default=0,
                        help="also measure ingest into a real server with and without rules")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    records = sample(args.events)
    with tempfile.TemporaryDirectory() as tmp:
        floors, by_name = synthetic(records, Path(tmp))
        started = time.perf_counter()
        rules = load_rules([tmp])
        load_s = time.perf_counter() - started
    assert len(rules.rules) == RULES, rules.rejected
    floor_rate, floor_hits = time_floor(floors, records)
    indexed_rate, indexed_hits = time_indexed_floor(by_name, records)
    rate, hits = time_rules(rules, records)
    # the same findings, or a floor lies
    assert hits == floor_hits == indexed_hits, (hits, floor_hits, indexed_hits)
    result: dict[str, Any] = {
        "events": len(records), "rules": RULES, "load_seconds": round(load_s, 3),
        "synthetic": {"events_per_s": round(rate), "evaluations_per_s": round(rate * RULES),
                      "floor_events_per_s": round(floor_rate), "ratio": round(rate / floor_rate, 3),
                      "indexed_floor_events_per_s": round(indexed_rate),
                      "ratio_indexed": round(rate / indexed_rate, 3), "findings": hits},
    }
    if args.rules:
        real = load_rules([args.rules])
        real = RuleSet(real.rules[:RULES], real.rejected)
        real_rate, real_hits = time_rules(real, records)
        result["sigmahq"] = {"rules": len(real.rules), "events_per_s": round(real_rate),
                             "evaluations_per_s": round(real_rate * len(real.rules)),
                             "ratio_to_floor": round(real_rate / floor_rate, 3),
                             "findings": real_hits}
    if args.ingest:
        with tempfile.TemporaryDirectory() as tmp:
            result["ingest"] = _ingest_pair(args.ingest, Path(tmp))
    _print(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


def _print(result: dict[str, Any]) -> None:
    syn = result["synthetic"]
    print(f"{result['events']} events, {result['rules']} rules (loaded and compiled in "
          f"{result['load_seconds']} s)")
    print(f"{'':24} {'events/s':>10} {'evals/s':>12} {'vs floor':>9} {'findings':>9}")
    print(f"{'floor (dict look-ups)':24} {syn['floor_events_per_s']:>10} "
          f"{syn['floor_events_per_s'] * result['rules']:>12} {'1.000':>9} {syn['findings']:>9}")
    print(f"{'floor, by eventName':24} {syn['indexed_floor_events_per_s']:>10} "
          f"{syn['indexed_floor_events_per_s'] * result['rules']:>12} "
          f"{syn['indexed_floor_events_per_s'] / syn['floor_events_per_s']:>9.3f} "
          f"{syn['findings']:>9}")
    print(f"{'OpenTrail, 50 synthetic':24} {syn['events_per_s']:>10} "
          f"{syn['evaluations_per_s']:>12} {syn['ratio']:>9} {syn['findings']:>9}")
    if "sigmahq" in result:
        real = result["sigmahq"]
        print(f"{'OpenTrail, SigmaHQ ' + str(real['rules']):24} {real['events_per_s']:>10} "
              f"{real['evaluations_per_s']:>12} {real['ratio_to_floor']:>9} "
              f"{real['findings']:>9}")
    if "ingest" in result:
        ing = result["ingest"]
        print(f"ingest of {ing['events']} demo events: {ing['without']['events_per_s']}/s "
              f"without rules, {ing['with_50_rules']['events_per_s']}/s with 50 rules "
              f"({ing['ratio']}x); detector caught up "
              f"{ing['with_50_rules']['detector_lag_s']} s after the last ack, "
              f"{ing['with_50_rules']['findings']} findings; server CPU "
              f"{ing['without']['cpu_s']} s without, {ing['with_50_rules']['cpu_s']} s with")


if __name__ == "__main__":
    main()
