"""`python -m bench.sigma`: Sigma rule evaluation throughput beside a plain-dict floor.

50 rules are evaluated over the invictus CloudTrail sample (2,900 real events, repeated),
single-threaded, in the same run as the floor: the same rules written by hand as Python
dict look-ups (exact, case-sensitive comparisons; no parsing, no wildcards, no per-value
case folding). The rules are generated in the shape of SigmaHQ's CloudTrail rules
(eventSource + a list of eventNames, some with a `contains` filter on userAgent or a
`null` errorCode), since SigmaHQ's rules are not shipped; `--rules DIR` also times real
ones (a SigmaHQ checkout's rules/cloud/aws/cloudtrail), beside the same floor.

    python -m bench.sigma [--rules DIR] [--events 30000] [--json out.json]
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


def _names(records: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """(eventSource, its eventNames) of the sample, most common sources first."""
    by_source: dict[str, set[str]] = {}
    for r in records:
        by_source.setdefault(r["eventSource"], set()).add(r["eventName"])
    return sorted(((s, sorted(n)) for s, n in by_source.items()), key=lambda x: -len(x[1]))


def synthetic(records: list[dict[str, Any]], folder: Path
              ) -> tuple[list[Floor], dict[str, list[Floor]]]:
    """RULES rule files in SigmaHQ's CloudTrail shape, and each one's hand-written floor
    (also indexed by exact eventName, as OpenTrail indexes rules)."""
    floors: list[Floor] = []
    by_name: dict[str, list[Floor]] = {}
    sources = _names(records)
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


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=Path, help="also time these rules (first 50 files)")
    parser.add_argument("--events", type=int, default=30_000)
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


if __name__ == "__main__":
    main()
