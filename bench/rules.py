"""`python -m bench.rules`: event rules under load, each beside its reference, same run.

1. Matcher throughput: 100 exact-value patterns (source + detail.eventName, as alerts are
   written) over enveloped demo events, as events x rules per second, beside a floor that
   answers the same patterns with plain dict look-ups and set membership.
2. Ingest with 100 rules (plus a probe rule), each with an API-destination target, beside
   ingest without rules: two fresh servers, the same batches.
3. Ack -> webhook received: every batch carries one probe event; a webhook receiver on
   loopback notes when its delivery arrives; p50/p99 over the batches of run 2.
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
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
from bench.server import BenchServer
from opentrail.rules import compile_pattern, envelope, matches

LATENCY_TARGET = 2.0
INGEST_RATIO_TARGET = 0.9
PROBE = "OpenTrailBenchProbe"
RULES = 100
START = 1_764_547_200.0  # 2025-12-01


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.rules", description=__doc__)
    p.add_argument("--events", type=int, default=200_000, help="events per ingest run")
    p.add_argument("--match-events", type=int, default=20_000,
                   help="events for the matcher throughput")
    p.add_argument("--seed", type=int, default=20261202)
    return p.parse_args(argv)


# -- the rules -------------------------------------------------------------------------------

ALERT_SHARE = 0.02  # alerts fire on about 2% of the traffic


def alert_patterns(events: list[dict[str, Any]], count: int = RULES) -> list[dict[str, Any]]:
    """`count` alert-like patterns: real (source, eventName) pairs, rarest first, while
    together they match at most ALERT_SHARE of the traffic; the rest name calls that do
    not occur in it (most alerts, most of the time, do not fire)."""
    pairs = collections.Counter((e["eventSource"], e["eventName"]) for e in events)
    chosen: list[tuple[str, str]] = []
    covered = 0
    for pair in sorted(pairs, key=lambda p: (pairs[p], p)):
        if len(chosen) == count or covered + pairs[pair] > ALERT_SHARE * len(events):
            break
        chosen.append(pair)
        covered += pairs[pair]
    chosen += [("iam.amazonaws.com", f"BenchQuietAlert{i}")
               for i in range(count - len(chosen))]
    return [{"source": [_source(src)], "detail": {"eventName": [name]}}
            for src, name in chosen]


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
    """Notes the arrival time of every probe event's delivery, by eventID."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.count = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                now = time.perf_counter()
                receiver.count += 1
                detail = orjson.loads(body).get("detail") or {}
                if detail.get("eventName") == PROBE:
                    receiver.arrived.setdefault(detail["eventID"], now)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def install_rules(server: BenchServer, key: Key, url: str,
                  patterns: list[dict[str, Any]]) -> None:
    import boto3

    events = boto3.client("events", endpoint_url=server.endpoint, region_name="us-east-1",
                          aws_access_key_id=key.access_key_id,
                          aws_secret_access_key=key.secret)
    conn = events.create_connection(Name="bench", AuthorizationType="API_KEY", AuthParameters={
        "ApiKeyAuthParameters": {"ApiKeyName": "X-Key", "ApiKeyValue": "bench"}})
    dest = events.create_api_destination(Name="bench", ConnectionArn=conn["ConnectionArn"],
                                         InvocationEndpoint=url, HttpMethod="POST")
    probe = {"detail": {"eventName": [PROBE]}}
    for i, pattern in enumerate([probe, *patterns]):
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


def run_plain(root: Path, payloads: list[bytes]) -> float:
    """The reference: the same batches into a server without rules."""
    server = BenchServer(root / "plain", root / "plain.log")
    server.start()
    try:
        return ingest(server, server.create_key(), payloads)[0]
    finally:
        server.stop()


def latencies(probes: list[str], acked: list[float], receiver: Receiver,
              timeout: float = 60.0) -> list[float]:
    deadline = time.perf_counter() + timeout
    while len(receiver.arrived) < len(probes) and time.perf_counter() < deadline:
        time.sleep(0.1)
    return [receiver.arrived.get(p, float("inf")) - a for p, a in zip(probes, acked,
                                                                      strict=True)]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    payloads, probes, sample = bodies(args.seed, args.events)
    patterns = alert_patterns(sample)
    match_events = [envelope(e) for e in sample[: args.match_events]]
    ours, floor, matched = throughput(match_events, patterns)
    engine = engine_rate(sample[: args.match_events], patterns)
    root = Path(tempfile.mkdtemp(prefix="bench-rules-"))
    receiver = Receiver()
    try:
        plain_s = run_plain(root, payloads)
        rules_s, acked = run_with_latency(root, payloads, patterns, probes, receiver)
    finally:
        receiver.close()
        shutil.rmtree(root, ignore_errors=True)
    report(args, (ours, floor, engine), matched, len(match_events), plain_s, rules_s, acked,
           receiver)


def run_with_latency(root: Path, payloads: list[bytes], patterns: list[dict[str, Any]],
                     probes: list[str], receiver: Receiver) -> tuple[float, list[float]]:
    """The rules run; latencies are read while its server still runs (deliveries land)."""
    server = BenchServer(root / "rules", root / "rules.log")
    server.start()
    try:
        key = server.create_key()
        install_rules(server, key, receiver.url, patterns)
        time.sleep(1.5)  # the engine arms the new rules
        seconds, acked = ingest(server, key, payloads)
        return seconds, latencies(probes, acked, receiver)
    finally:
        server.stop()


def report(args: argparse.Namespace, rates: tuple[float, float, float], matched: int, n: int,
           plain_s: float, rules_s: float, lat: list[float], receiver: Receiver) -> None:
    ours, floor, engine = rates
    events = args.events
    ratio = (events / rules_s) / (events / plain_s)
    p50, p99 = percentile(lat, 50), percentile(lat, 99)
    rows = [
        Row(f"matcher, {RULES} rules x {n} events (events x rules/s)", f"{ours:,.0f}",
            f"{floor:,.0f} (dict floor)", f"{ours / floor:.2f}x"),
        Row("matches found (both agree)", f"{matched:,}"),
        Row(f"engine path, {RULES} rules: index, parse, envelope, match (events/s)",
            f"{engine:,.0f}", f"{floor / RULES:,.0f} (dict floor, parsed)",
            f"{engine / (floor / RULES):.2f}x"),
        Row(f"ingest with {RULES + 1} rules (events/s)", f"{events / rules_s:,.0f}",
            f"{events / plain_s:,.0f} (no rules)", f"{ratio:.2f}x",
            f">= {INGEST_RATIO_TARGET}x", ratio >= INGEST_RATIO_TARGET),
        Row("ack -> webhook received p50 (s)", f"{p50:.3f}"),
        Row("ack -> webhook received p99 (s)", f"{p99:.3f}", target=f"<= {LATENCY_TARGET}",
            met=p99 <= LATENCY_TARGET),
        Row("webhook deliveries received", f"{receiver.count:,}"),
    ]
    print_table(rows)
    save(rows, {"events": events, "rules": RULES + 1, "probes": len(lat),
                "latencies": lat, "plain_seconds": plain_s, "rules_seconds": rules_s})


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
