"""`python -m bench.insights_accuracy`: how well Insights finds labelled anomalies.

Runs the detector's core on generated per-minute series (bench/insights_traffic.py)
beside the naive reference (mean + 3 sigma of the trailing 7 days) on the same data, in
the same run; then the engine end to end through a real ledger (same Insights as on the
arrays; counting speed beside the ledger writer's commit speed); then the invictus-aws
dataset. Prints a table and writes bench/results/insights-latest.json.

Seed 7 is the seed the detector's parameters were first tuned on; seeds 11 and 13 were
not looked at then; 17, 23, 29 and 31 were first run after the weekday surges, and the
last change of method (smooth hourly curve, rate-dependent dispersion) was tuned on all
seven. Seeds 37, 41, 43 and 47 were first run after that tuning: they are the held-out
check. All are reported.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from typing import Any

from bench.insights_ledger import api_ingest_rate, engine_check, invictus_run
from bench.insights_scoring import Scores, naive_detect, opentrail_detect, score
from bench.insights_traffic import Traffic, generate
from bench.report import RESULTS, Row, machine, print_table

TUNED_SEED = 7
SEEDS = (7, 11, 13, 17, 23, 29, 31, 37, 41, 43, 47)
DAYS = 35
NAIVE_KS = (3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0)


def run_seed(traffic: Traffic) -> dict[str, Scores]:
    api_days = len(traffic.series) * (traffic.days - 7)
    ours, naive = [], []
    for s in traffic.series:
        ours += opentrail_detect(s.name, s.counts, traffic.first_minute)
        naive += naive_detect(s.name, s.counts)
    result = {"opentrail": score(ours, traffic.anomalies, api_days),
              "naive-3sigma": score(naive, traffic.anomalies, api_days)}
    result["naive-matched"] = _matched(traffic, result["opentrail"], api_days)
    return result


def _matched(traffic: Traffic, ours: Scores, api_days: float) -> Scores:
    """The naive detector with k raised until it alarms no more often than ours."""
    best = None
    for k in NAIVE_KS:
        found = [d for s in traffic.series for d in naive_detect(s.name, s.counts, k)]
        best = score(found, traffic.anomalies, api_days)
        if best.false_alarms_per_100_api_days <= ours.false_alarms_per_100_api_days:
            break
    assert best is not None
    return best


def _rows(seed: int, result: dict[str, Scores]) -> list[Row]:
    ours, naive = result["opentrail"], result["naive-3sigma"]
    tag = f"seed {seed}" + (" (tuned)" if seed == TUNED_SEED else "")

    def row(metric: str, a: float, b: float, target: str, met: bool, fmt: str) -> Row:
        ratio = f"{a / b:.2f}x" if b else "-"
        return Row(f"{tag}: {metric}", format(a, fmt), format(b, fmt), ratio, target, met)

    return [
        row("precision", ours.precision, naive.precision, "> naive", ours.precision >
            naive.precision, ".3f"),
        row("recall", ours.recall, naive.recall, "> naive", ours.recall > naive.recall, ".3f"),
        row("F1", ours.f1, naive.f1, ">= 0.9", ours.f1 >= 0.9 and ours.f1 > naive.f1, ".3f"),
        row("median delay (min)", ours.median_delay, naive.median_delay, "<= 2",
            ours.median_delay <= 2, ".1f"),
        row("p90 delay (min)", ours.p90_delay, naive.p90_delay, "-", True, ".1f"),
        row("false alarms / 100 API-days", ours.false_alarms_per_100_api_days,
            naive.false_alarms_per_100_api_days, "<= 1",
            ours.false_alarms_per_100_api_days <= 1, ".2f"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=list(SEEDS))
    args = parser.parse_args()
    rows: list[Row] = []
    details: dict[str, Any] = {"seeds": {}}
    for seed in args.seeds:
        t0 = time.perf_counter()
        traffic = generate(seed, DAYS)
        result = run_seed(traffic)
        rows += _rows(seed, result)
        details["seeds"][seed] = {
            "series": len(traffic.series), "days": traffic.days,
            "anomalies": len(traffic.anomalies), "seconds": time.perf_counter() - t0,
            **{name: asdict(s) for name, s in result.items()}}
        print(f"seed {seed}: {len(traffic.series)} series x {traffic.days} days, "
              f"{len(traffic.anomalies)} anomalies, {time.perf_counter() - t0:.0f} s")
    check = engine_check(generate(TUNED_SEED, DAYS))
    check["api_ingest_per_s"] = api_ingest_rate()
    details["engine"] = check
    analysed, api, bare = (check["analysed_per_s"], check["api_ingest_per_s"],
                           check["ingest_per_s"])
    rows.append(Row("engine: events analysed/s", f"{analysed:.0f}",
                    f"{api:.0f} (HTTP batch ingest/s)", f"{analysed / api:.2f}x", ">= 1x",
                    analysed >= api))
    rows.append(Row("  the same vs the bare ledger writer", f"{analysed:.0f}",
                    f"{bare:.0f} (commits/s, parsed records)", f"{analysed / bare:.2f}x"))
    rows.append(Row("engine: same Insights as on arrays", str(check["same_as_arrays"]),
                    target="True", met=bool(check["same_as_arrays"])))
    insights, info = invictus_run()
    details["invictus"] = {**info, "insights": insights}
    print_table(rows)
    _print_invictus(insights, info)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "insights-latest.json"
    out.write_text(json.dumps({"time": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
                               "machine": machine(), "rows": [asdict(r) for r in rows],
                               **details}, indent=2, default=str))
    print(f"wrote {out}")


def _print_invictus(insights: list[dict[str, Any]], info: dict[str, Any]) -> None:
    print(f"\ninvictus-aws: {info['events']} events, {info['history_minutes']} minutes of "
          "history; Insights (Start records):")
    for r in insights:
        d = r["insightDetails"]
        if d["state"] != "Start":
            continue
        stats = d["insightContext"]["statistics"]
        print(f"  {r['eventTime']}  {d['insightType']:<20} {d['eventSource']:<30} "
              f"{d['eventName']:<26} {d.get('errorCode', ''):<36} baseline "
              f"{stats['baseline']['average']:g}/min  insight {stats['insight']['average']:g}"
              f"/min  over {stats['baselineDuration']} min of history")


if __name__ == "__main__":
    main()
