"""`python -m bench.rules`: event rules under load, each beside its reference, same run.

1. Matcher throughput: 100 exact-value patterns (source + detail.eventName, as alerts are
   written) over enveloped demo events, as events x rules per second, beside a floor that
   answers the same patterns with plain dict look-ups and set membership.
2. Ingest with 100 rules (plus a probe rule), each with an API-destination target, beside
   ingest without rules: two fresh servers, the same batches.
3. Ack -> webhook received: every batch carries one probe event; a webhook receiver on
   loopback notes when its delivery arrives; p50/p99 over the batches of run 2.

`--sigma-rules N` makes run 2 the issue's combined target: the server also runs N Sigma
rules (bench.sigma's set in SigmaHQ's CloudTrail shape, about 1% of events matching) plus
a Sigma probe rule on the probe event, and an event rule sends every finding ("Sigma Rule
Match") to the same webhook, so ack -> finding's webhook is measured too. `--rounds R`
repeats the pair R times, alternating which server runs first (the machine is shared and
noisy); every round is reported, and the median ratio.

`--alert-share F` sets how much of the traffic the event rules match (default 0.02) and,
with `--sigma-rules`, makes the 50 Sigma rules (same shape) match about F too instead of
bench.sigma's rare names (~1.7%): 0.001 is a realistic alert rate.
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson

from bench.client import ApiClient, Key
from bench.events import ACCOUNT, batches
from bench.parallel import run_threads
from bench.report import RESULTS, Row, machine, percentile, print_table, source_state
from bench.server import BenchServer, TreeMonitor
from opentrail.rules import compile_pattern, envelope, matches

LATENCY_TARGET = 2.0
INGEST_RATIO_TARGET = 0.9
PROBE = "OpenTrailBenchProbe"
RULES = 100
SIGMA_RULES = 50
SIGMA_PROBE = """title: bench probe
id: 00000000-0000-4000-8000-999999999999
logsource:
  product: aws
  service: cloudtrail
detection:
  sel:
    eventName: OpenTrailBenchProbe
  condition: sel
level: high
"""
START = 1_764_547_200.0  # 2025-12-01


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.rules", description=__doc__)
    p.add_argument("--events", type=int, default=200_000, help="events per ingest run")
    p.add_argument("--match-events", type=int, default=20_000,
                   help="events for the matcher throughput")
    p.add_argument("--seed", type=int, default=20261202)
    p.add_argument("--sigma-rules", type=int, default=0, choices=(0, SIGMA_RULES),
                   help=f"also load {SIGMA_RULES} Sigma rules (bench.sigma's set) and a probe")
    p.add_argument("--rounds", type=int, default=1, help="with/without pairs, alternated")
    p.add_argument("--alert-share", type=float, default=None,
                   help=f"share of events the event rules match (default {ALERT_SHARE}); "
                        "with --sigma-rules also the Sigma rules' (default: bench.sigma's "
                        "rare names, about 0.017)")
    return p.parse_args(argv)


# -- the rules -------------------------------------------------------------------------------

ALERT_SHARE = 0.02  # alerts fire on about 2% of the traffic


def alert_patterns(events: list[dict[str, Any]], count: int = RULES,
                   share: float = ALERT_SHARE) -> list[dict[str, Any]]:
    """`count` alert-like patterns: real (source, eventName) pairs, rarest first, while
    together they match at most `share` of the traffic; the rest name calls that do
    not occur in it (most alerts, most of the time, do not fire)."""
    return [{"source": [_source(src)], "detail": {"eventName": [name]}}
            for src, name in alert_pairs(events, count, share)]


def alert_pairs(events: list[dict[str, Any]], count: int, share: float
                ) -> list[tuple[str, str]]:
    """(eventSource, eventName) pairs, rarest first, covering at most `share` of
    `events`; then pairs that never occur, up to `count`."""
    pairs = collections.Counter((e["eventSource"], e["eventName"]) for e in events)
    chosen: list[tuple[str, str]] = []
    covered = 0
    for pair in sorted(pairs, key=lambda p: (pairs[p], p)):
        if len(chosen) == count or covered + pairs[pair] > share * len(events):
            break
        chosen.append(pair)
        covered += pairs[pair]
    return chosen + [("iam.amazonaws.com", f"BenchQuietAlert{i}")
                     for i in range(count - len(chosen))]


def _source(event_source: str) -> str:
    from opentrail.rules import source_of

    return source_of(event_source)


def floor_matcher(pattern: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
    """The same exact-value pattern as plain dict look-ups: the cheapest correct answer."""
    sources = frozenset(pattern["source"])
    names = frozenset(pattern["detail"]["eventName"])

    def test(event: dict[str, Any]) -> bool:
        detail = event.get("detail")
        return event.get("source") in sources and isinstance(detail, dict) \
            and detail.get("eventName") in names

    return test


def engine_rate(records: list[dict[str, Any]], patterns: list[dict[str, Any]]) -> float:
    """Events/s through the engine's own path: the eventName index over canonical bytes,
    then parse, envelope and match the candidate rules."""
    from opentrail.rules._engine import Armed, Armory
    from opentrail.rules._model import Rule

    armory = Armory()
    for i, p in enumerate(patterns):
        text = json.dumps(p)
        armory.add(Armed(Rule(ACCOUNT, "us-east-1", f"r{i}", text, "ENABLED"),
                         compile_pattern(text), []))
    canon = [orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in records]
    start = time.perf_counter()
    for body in canon:
        candidates = armory.candidates(body)
        if candidates:
            event = envelope(orjson.loads(body))
            for arm in candidates:
                matches(arm.pattern, event)
    return len(canon) / (time.perf_counter() - start)


def throughput(events: list[dict[str, Any]], patterns: list[dict[str, Any]]
               ) -> tuple[float, float, int]:
    """(ours, floor) in events x rules per second; and the matches (both must agree)."""
    compiled = [compile_pattern(json.dumps(p)) for p in patterns]
    floors = [floor_matcher(p) for p in patterns]
    start = time.perf_counter()
    ours = sum(matches(c, e) for e in events for c in compiled)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    floor = sum(f(e) for e in events for f in floors)
    floor_s = time.perf_counter() - start
    if ours != floor:
        raise AssertionError(f"matcher found {ours} matches, the floor {floor}")
    work = len(events) * len(patterns)
    return work / ours_s, work / floor_s, ours


# -- the webhook receiver --------------------------------------------------------------------

class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # http.server's 5 drops bursts of connections (1 s SYN retry)
    daemon_threads = True


class Receiver:
    """Notes the arrival time of every probe event's delivery, by eventID, and of every
    finding about a probe event (by the probe's eventID)."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.findings: dict[str, float] = {}
        self.count = 0
        self.finding_count = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as webhook receivers allow

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                receiver.note(orjson.loads(body), time.perf_counter())
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def note(self, event: dict[str, Any], now: float) -> None:
        self.count += 1
        detail = event.get("detail") or {}
        if event.get("source") == "opentrail.detect":
            self.finding_count += 1
            found = detail.get("serviceEventDetails") or {}
            if found.get("eventName") == PROBE:
                self.findings.setdefault(found["eventId"], now)
        elif detail.get("eventName") == PROBE:
            self.arrived.setdefault(detail["eventID"], now)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def install_rules(server: BenchServer, key: Key, url: str,
                  patterns: list[dict[str, Any]], findings: bool = False) -> None:
    """The probe rule and `patterns`, each with the webhook as target; `findings`: also a
    rule sending every Sigma finding there."""
    import boto3

    events = boto3.client("events", endpoint_url=server.endpoint, region_name="us-east-1",
                          aws_access_key_id=key.access_key_id,
                          aws_secret_access_key=key.secret)
    conn = events.create_connection(Name="bench", AuthorizationType="API_KEY", AuthParameters={
        "ApiKeyAuthParameters": {"ApiKeyName": "X-Key", "ApiKeyValue": "bench"}})
    dest = events.create_api_destination(Name="bench", ConnectionArn=conn["ConnectionArn"],
                                         InvocationEndpoint=url, HttpMethod="POST")
    probe = {"detail": {"eventName": [PROBE]}}
    sigma = [{"source": ["opentrail.detect"], "detail-type": ["Sigma Rule Match"]}]
    for i, pattern in enumerate([probe, *patterns, *(sigma if findings else [])]):
        events.put_rule(Name=f"rule-{i}", EventPattern=json.dumps(pattern))
        events.put_targets(Rule=f"rule-{i}", Targets=[
            {"Id": "hook", "Arn": dest["ApiDestinationArn"]}])


# -- ingest runs -----------------------------------------------------------------------------

def bodies(seed: int, count: int) -> tuple[list[bytes], list[str], list[dict[str, Any]]]:
    """Batches with one probe event each (its eventID), and a sample of the records."""
    out, probes, sample = [], [], []
    for chunk in batches(seed=seed, count=count, start=START, end=START + 86_400):
        probe = dict(chunk[-1], eventName=PROBE, eventID=str(uuid.uuid4()),
                     eventSource="cloudtrail.amazonaws.com", readOnly=False)
        probes.append(probe["eventID"])
        out.append(orjson.dumps({"Records": [*chunk, probe]}))
        sample.extend(chunk[:: max(1, len(chunk) // 500)])
    return out, probes, sample


def ingest(server: BenchServer, key: Key, payloads: list[bytes]) -> tuple[float, list[float]]:
    """Send every batch from 2 threads; (seconds, ack time per batch)."""
    acked = [0.0] * len(payloads)
    work = list(enumerate(payloads))[::-1]
    lock = threading.Lock()

    def send() -> None:
        client = ApiClient(server.endpoint, key)
        try:
            while True:
                with lock:
                    if not work:
                        return
                    index, body = work.pop()
                client.ingest(body)
                acked[index] = time.perf_counter()
        finally:
            client.close()

    start = time.perf_counter()
    run_threads([send, send])
    return time.perf_counter() - start, acked


def latencies(probes: list[str], acked: list[float], arrived: dict[str, float],
              timeout: float = 60.0) -> list[float]:
    deadline = time.perf_counter() + timeout
    while len(arrived) < len(probes) and time.perf_counter() < deadline:
        time.sleep(0.1)
    return [arrived.get(p, float("inf")) - a for p, a in zip(probes, acked, strict=True)]


def sigma_folder(root: Path, sample: list[dict[str, Any]], share: float | None = None
                 ) -> Path:
    """bench.sigma's 50 rules in SigmaHQ's CloudTrail shape over this traffic's own rare
    eventNames (or, with `share`, 50 rules of the same shape over pairs covering that
    share of the traffic), and a probe rule matching each batch's probe event."""
    from bench.sigma import synthetic

    folder = root / "sigma"
    folder.mkdir()
    if share is None:
        synthetic(sample, folder, rare=True)
    else:
        for i, (source, name) in enumerate(alert_pairs(sample, SIGMA_RULES, share)):
            (folder / f"rule{i:02d}.yml").write_text(_sigma_rule(i, source, name))
    (folder / "probe.yml").write_text(SIGMA_PROBE)
    return folder


def _sigma_rule(i: int, source: str, name: str) -> str:
    """bench.sigma's shape: eventSource and eventName, a third with a userAgent filter,
    a third with a null errorCode."""
    extra = ("  filter:\n    userAgent|contains: 'Terraform'\n  condition: sel and not filter\n"
             if i % 3 == 1 else "  filter:\n    errorCode: null\n  condition: sel and filter\n"
             if i % 3 == 2 else "  condition: sel\n")
    return (f"title: bench rule {i}\nid: 00000000-0000-4000-8000-{i:012d}\nlogsource:\n"
            f"  product: aws\n  service: cloudtrail\ndetection:\n  sel:\n"
            f"    eventSource: {source}\n    eventName: {name}\n{extra}level: low\n")


def run_plain(root: Path, name: str, payloads: list[bytes]) -> dict[str, Any]:
    """The reference: the same batches into a fresh server without rules."""
    server = BenchServer(root / name, root / f"{name}.log")
    server.start()
    assert server.proc is not None
    try:
        key = server.create_key()
        with TreeMonitor(server.proc.pid) as tree:
            seconds = ingest(server, key, payloads)[0]
        return {"seconds": seconds, "cpu_seconds": tree.cpu_seconds,
                "cpu_by_process": tree.cpu_by_process}
    finally:
        server.stop()


def run_rules(root: Path, name: str, payloads: list[bytes], patterns: list[dict[str, Any]],
              probes: list[str], sigma: Path | None) -> dict[str, Any]:
    """The rules run (and Sigma rules when `sigma`); latencies are read while its server
    still runs (deliveries land)."""
    extra = ("--sigma-rules", str(sigma)) if sigma else ()
    server = BenchServer(root / name, root / f"{name}.log", extra)
    receiver = Receiver()
    server.start()
    try:
        key = server.create_key()
        install_rules(server, key, receiver.url, patterns, findings=sigma is not None)
        time.sleep(1.5)  # the engine arms the new rules
        assert server.proc is not None
        with TreeMonitor(server.proc.pid) as tree:
            seconds, acked = ingest(server, key, payloads)
        lat = latencies(probes, acked, receiver.arrived)
        found = latencies(probes, acked, receiver.findings) if sigma else []
        return {"seconds": seconds, "cpu_seconds": tree.cpu_seconds,
                "cpu_by_process": tree.cpu_by_process, "latencies": lat,
                "finding_latencies": found,
                "deliveries": receiver.count, "finding_deliveries": receiver.finding_count}
    finally:
        server.stop()
        receiver.close()


def rounds(args: argparse.Namespace, payloads: list[bytes], patterns: list[dict[str, Any]],
           probes: list[str], sample: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`args.rounds` with/without pairs on fresh servers, alternating which goes first."""
    out = []
    root = Path(tempfile.mkdtemp(prefix="bench-rules-"))
    try:
        sigma = sigma_folder(root, sample, args.alert_share) if args.sigma_rules else None
        for n in range(args.rounds):
            first_plain = n % 2 == 0
            if first_plain:
                plain = run_plain(root, f"plain{n}", payloads)
            rules = run_rules(root, f"rules{n}", payloads, patterns, probes, sigma)
            if not first_plain:
                plain = run_plain(root, f"plain{n}", payloads)
            out.append({"round": n + 1, "first": "without" if first_plain else "with",
                        "plain_seconds": plain["seconds"], "rules_seconds": rules.pop("seconds"),
                        "plain_cpu_seconds": plain["cpu_seconds"],
                        "plain_cpu_by_process": plain["cpu_by_process"],
                        "rules_cpu_seconds": rules.pop("cpu_seconds"),
                        "rules_cpu_by_process": rules.pop("cpu_by_process"), **rules})
            _progress(args, out[-1])
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out


def _progress(args: argparse.Namespace, r: dict[str, Any]) -> None:
    def each(cpu: dict[str, float]) -> str:
        return ", ".join(f"{name} {t:.1f}" for name, t in sorted(cpu.items()) if t >= 0.05)

    print(f"round {r['round']}: without {args.events / r['plain_seconds']:,.0f}/s "
          f"(server CPU {r['plain_cpu_seconds']:.1f} s: {each(r['plain_cpu_by_process'])}), "
          f"with {args.events / r['rules_seconds']:,.0f}/s ({r['rules_cpu_seconds']:.1f} s: "
          f"{each(r['rules_cpu_by_process'])})", flush=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    payloads, probes, sample = bodies(args.seed, args.events)
    patterns = alert_patterns(sample, share=args.alert_share or ALERT_SHARE)
    match_events = [envelope(e) for e in sample[: args.match_events]]
    ours, floor, matched = throughput(match_events, patterns)
    engine = engine_rate(sample[: args.match_events], patterns)
    results = rounds(args, payloads, patterns, probes, sample)
    report(args, (ours, floor, engine), matched, len(match_events), results)


def _loaded(args: argparse.Namespace) -> str:
    sigma = f" + {args.sigma_rules + 1} Sigma rules" if args.sigma_rules else ""
    return f"{RULES + 1 + bool(args.sigma_rules)} rules{sigma}"


def round_rows(args: argparse.Namespace, results: list[dict[str, Any]]) -> list[Row]:
    """One row per round: both ingest rates, the ratio, the round's p50/p99."""
    rows = []
    for r in results:
        with_, without = args.events / r["rules_seconds"], args.events / r["plain_seconds"]
        lat = r["latencies"]
        extra = ""
        if r["finding_latencies"]:
            extra = f", finding p99 {percentile(r['finding_latencies'], 99):.2f} s"
        rows.append(Row(f"round {r['round']} ({r['first']} first): ingest/s; ack->webhook "
                        f"p50/p99 {percentile(lat, 50):.2f}/{percentile(lat, 99):.2f} s{extra}",
                        f"{with_:,.0f}", f"{without:,.0f} (no rules)", f"{with_ / without:.2f}x"))
    return rows


def report(args: argparse.Namespace, rates: tuple[float, float, float], matched: int, n: int,
           results: list[dict[str, Any]]) -> None:
    ours, floor, engine = rates
    ratios = [r["plain_seconds"] / r["rules_seconds"] for r in results]
    ratio = statistics.median(ratios)
    lat = [x for r in results for x in r["latencies"]]
    rows = [
        Row(f"matcher, {RULES} rules x {n} events (events x rules/s)", f"{ours:,.0f}",
            f"{floor:,.0f} (dict floor)", f"{ours / floor:.2f}x"),
        Row("matches found (both agree)", f"{matched:,}"),
        Row(f"engine path, {RULES} rules: index, parse, envelope, match (events/s)",
            f"{engine:,.0f}", f"{floor / RULES:,.0f} (dict floor, parsed)",
            f"{engine / (floor / RULES):.2f}x"),
        *round_rows(args, results),
        Row(f"ingest with {_loaded(args)}, median of {len(results)} rounds (ratio)",
            f"{ratio:.2f}x", "1.00x (no rules)", f"{ratio:.2f}x",
            f">= {INGEST_RATIO_TARGET}x", ratio >= INGEST_RATIO_TARGET),
        *latency_rows(results, lat),
        cpu_row(args, results),
    ]
    print_table(rows)
    save(rows, {"events": args.events, "rules": RULES + 1 + bool(args.sigma_rules),
                "sigma_rules": args.sigma_rules + bool(args.sigma_rules),
                "alert_share": args.alert_share, "rounds": results, "ratios": ratios,
                "median_ratio": ratio})


def cpu_row(args: argparse.Namespace, results: list[dict[str, Any]]) -> Row:
    """CPU the server's process tree used while ingesting: steadier than wall time."""
    with_ = statistics.median(r["rules_cpu_seconds"] for r in results)
    without = statistics.median(r["plain_cpu_seconds"] for r in results)
    ratio = statistics.median(r["rules_cpu_seconds"] / r["plain_cpu_seconds"]
                              for r in results)
    return Row(f"server CPU (process tree) during ingest with {_loaded(args)}, median (s)",
               f"{with_:.1f}", f"{without:.1f} (no rules)", f"{ratio:.2f}x")


def latency_rows(results: list[dict[str, Any]], lat: list[float]) -> list[Row]:
    found = [x for r in results for x in r["finding_latencies"]]
    rows = [
        Row("ack -> webhook received p50 (s), all rounds", f"{percentile(lat, 50):.3f}"),
        Row("ack -> webhook received p99 (s), all rounds", f"{percentile(lat, 99):.3f}",
            target=f"<= {LATENCY_TARGET}", met=percentile(lat, 99) <= LATENCY_TARGET),
        Row("webhook deliveries received, all rounds",
            f"{sum(r['deliveries'] for r in results):,}"),
    ]
    if found:
        rows += [
            Row("ack -> Sigma finding's webhook p50 (s)", f"{percentile(found, 50):.3f}"),
            Row("ack -> Sigma finding's webhook p99 (s)", f"{percentile(found, 99):.3f}"),
            Row("finding deliveries received, all rounds",
                f"{sum(r['finding_deliveries'] for r in results):,}"),
        ]
    return rows


def save(rows: list[Row], details: dict[str, Any]) -> Path:
    """bench/results/rules.json and a timestamped copy."""
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    data = {"time": stamp, "machine": machine(), "source": source_state(),
            "rows": [asdict(r) for r in rows], **details}
    text = orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode()
    path = RESULTS / f"rules-{stamp}.json"
    path.write_text(text)
    (RESULTS / "rules.json").write_text(text)
    return path


if __name__ == "__main__":
    main()
