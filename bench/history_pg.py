"""`python -m bench.history_pg`: the history index (LookupEvents) on PostgreSQL beside SQLite.

One run, the same events in both: demo CloudTrail records (one account, one region,
30 days ending now) appended to each backend's ledger, then indexed by each backend's
indexer from `Backend.history_index()` (index events/s, CPU µs per event in this
process and, for PostgreSQL, in the server's processes). Then the same queries on both,
one after another, in this process (no HTTP: the index and the ledger reads only):
per attribute, first pages (MaxResults 50, newest first), alternately a value weighted
by how often it occurs and one drawn uniformly from the distinct values, plus EventId,
an AND of three attributes, a one-day time range and the second page of a common value.
Both answers are compared (the same eventIDs in the same order). PostgreSQL 15 is a
private server with fsync on and its default settings (shared_buffers 128 MB), started
from tests/postgres_server.py; after indexing, VACUUM (ANALYZE) does what autovacuum
would do soon after such a load.

`--keep DIR` builds both stores in DIR (the server's cluster, the data dir, a
manifest.json written last) and a later run with the same --events reuses them: only
the lookups run, so a change to the read path is measured on the same events in minutes
(1 M events build in ~3 minutes on a quiet 2-core machine, 2 M in ~25 under load 20).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from bench.report import percentile
from opentrail.clock import ManualClock
from opentrail.events import Category, Record, parse_record
from opentrail.history import Attr, Indexer, LookupQuery, Lookups, lookup_terms
from opentrail.sources.demo import generate

ACCOUNT = "123456789012"
REGION = "us-east-1"
MASTER_KEY = bytes(32)  # of a database thrown away after the run
CHUNK = 5_000
SAMPLE_EVERY = 50
DAY = 86400
MANIFEST = "manifest.json"  # a kept store's description, written last
ATTRS = {"EventName": Attr.EVENT_NAME, "ReadOnly": Attr.READ_ONLY,
         "Username": Attr.USERNAME, "ResourceType": Attr.RESOURCE_TYPE,
         "ResourceName": Attr.RESOURCE_NAME, "EventSource": Attr.EVENT_SOURCE,
         "AccessKeyId": Attr.ACCESS_KEY_ID}
AND3 = (Attr.USERNAME, Attr.EVENT_SOURCE, Attr.READ_ONLY)


def _records(count: int, now: float) -> Iterator[list[Record]]:
    raws = generate(seed=12, count=count, start=now - 30 * DAY, end=now - 60,
                    account=ACCOUNT, regions=(REGION,))
    chunk: list[Record] = []
    for raw in raws:
        chunk.append(parse_record(raw, default_account=ACCOUNT, default_region=REGION))
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def load(writers: list[Any], count: int, now: float) -> list[dict[Attr | str, Any]]:
    """Append the events to every writer; returns a sample of their lookup terms."""
    sample: list[dict[Attr | str, Any]] = []
    for n, chunk in enumerate(_records(count, now)):
        futures = [w.submit(chunk) for w in writers]
        for future in futures:
            assert all(future.result(timeout=600))
        for r in chunk[n % SAMPLE_EVERY::SAMPLE_EVERY]:
            if r.category != Category.MANAGEMENT:
                continue
            terms: dict[Attr | str, Any] = {"EventId": r.event_id, "time": r.event_time}
            for attr, value in lookup_terms(orjson.loads(r.body)):
                terms.setdefault(attr, value)
            sample.append(terms)
        say(f"  appended {(n + 1) * CHUNK:,}")
    return sample


def index(indexer: Indexer, server_cpu: Callable[[], float]) -> dict[str, float]:
    cpu0, server0, began = time.process_time(), server_cpu(), time.perf_counter()
    done = 0
    while (n := indexer.step()) > 0:
        done += n
        if done % 100_000 < n:
            say(f"  indexed {done:,}")
    seconds = time.perf_counter() - began
    return {"events/s": done / seconds, "client": 1e6 * (time.process_time() - cpu0) / done,
            "server": 1e6 * (server_cpu() - server0) / done, "events": done}


def queries(sample: list[dict[Attr | str, Any]], per_attr: int, end: int
            ) -> dict[str, list[LookupQuery]]:
    rng = random.Random(12)
    out: dict[str, list[LookupQuery]] = {}

    def query(terms: tuple[tuple[Attr, str], ...], event_id: str | None = None,
              start: int | None = None, stop: int = end) -> LookupQuery:
        return LookupQuery((ACCOUNT,), REGION, Category.MANAGEMENT, terms, event_id, start,
                           stop, 50)

    for name, attr in ATTRS.items():
        weighted = [s[attr] for s in sample if attr in s]
        distinct = sorted(set(weighted))
        out[name] = [query(((attr, rng.choice(weighted if i % 2 == 0 else distinct)),))
                     for i in range(per_attr)]
    out["EventId"] = [query((), event_id=rng.choice(sample)["EventId"])
                      for _ in range(per_attr)]
    combos = [tuple((a, s[a]) for a in AND3) for s in sample if all(a in s for a in AND3)]
    out["AND3"] = [query(rng.choice(combos)) for _ in range(per_attr)]
    days = [int(s["time"]) for s in sample]
    out["one day"] = [query((), start=(t := rng.choice(days)) - DAY, stop=t)
                      for _ in range(per_attr)]
    return out


def timed(reader: Lookups, todo: dict[str, list[LookupQuery]]
          ) -> dict[str, tuple[list[float], list[list[str]]]]:
    out = {}
    for name, qs in todo.items():
        seconds, answers = [], []
        for q in qs:
            began = time.perf_counter()
            result = reader.lookup(q)
            seconds.append(time.perf_counter() - began)
            answers.append([e["EventId"] for e in result.events])
            if name == "EventName" and result.next_token:  # the second page, timed apart
                began = time.perf_counter()
                page2 = reader.lookup(LookupQuery(**{**q.__dict__,
                                                     "next_token": result.next_token}))
                out.setdefault("EventName page 2", ([], []))[0].append(
                    time.perf_counter() - began)
                out["EventName page 2"][1].append([e["EventId"] for e in page2.events])
        out[name] = (seconds, answers)
    return out


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _ms(values: list[float], q: float) -> str:
    return f"{1000 * percentile(values, q):.2f}"


def report(args: argparse.Namespace, built: dict[str, Any],
           results: dict[str, dict[str, tuple[list[float], list[list[str]]]]],
           loads: list[tuple[float, ...]]) -> None:
    indexing, sizes = built["indexing"], built["sizes"]
    print(f"\n{args.events:,} events, {args.queries} queries per row, load average "
          + " → ".join(f"{a:.1f}/{b:.1f}/{c:.1f}" for a, b, c in loads))
    print(f"store built {built['built']}: appended in {built['append seconds']:,.0f} s, "
          f"appended, indexed and vacuumed in {built['build seconds']:,.0f} s (VACUUM "
          f"{built.get('vacuum seconds', 0):,.0f} s)\n")
    print("| backend | index events/s | client CPU µs/event | server CPU µs/event "
          "| index size |")
    print("|---|---|---|---|---|")
    for name, row in indexing.items():
        server = f"{row['server']:.1f}" if name == "postgresql" else "—"
        print(f"| {name} | {row['events/s']:,.0f} | {row['client']:.1f} | {server} | "
              f"{sizes[name] / 1e6:,.0f} MB |")
    print("\n| lookup | SQLite p50 ms | SQLite p99 ms | PostgreSQL p50 ms | PostgreSQL p99 ms "
          "| answers equal |")
    print("|---|---|---|---|---|---|")
    for name, (pg_s, pg_a) in results["postgresql"].items():
        if name not in results["sqlite"]:  # the reference row
            print(f"| {name} | — | — | {_ms(pg_s, 50)} | {_ms(pg_s, 99)} | — |")
            continue
        sq_s, sq_a = results["sqlite"][name]
        same = sum(a == b for a, b in zip(sq_a, pg_a, strict=True))
        print(f"| {name} | {_ms(sq_s, 50)} | {_ms(sq_s, 99)} | {_ms(pg_s, 50)} | "
              f"{_ms(pg_s, 99)} | {same}/{len(pg_a)} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.history_pg", description=__doc__)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--queries", type=int, default=400, help="lookups per row")
    p.add_argument("--keep", type=Path, metavar="DIR",
                   help="build the two stores in DIR and keep them; a later run with the "
                        "same --events reuses them (only the lookups run)")
    p.add_argument("--pg-setting", action="append", default=[], metavar="NAME=VALUE",
                   help="a PostgreSQL server setting (repeatable), e.g. shared_buffers=1GB")
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from postgres_server import PostgresServer

    with contextlib.ExitStack() as stack:
        folder = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        built = _manifest(folder, args.events)
        if built is None and args.keep is not None and args.keep.exists() and any(
                args.keep.iterdir()):
            p.error(f"{args.keep} holds no complete store of {args.events:,} events: "
                    "empty it or name a new folder")
        server = PostgresServer(durable=True, settings=tuple(args.pg_setting),
                                root=folder / "pg" if args.keep else None)
        server.start()
        stack.callback(server.stop)
        _open_and_run(args, server, folder, built, stack)
    return 0


def _open_and_run(args: argparse.Namespace, server: Any, folder: Path,
                  built: dict[str, Any] | None, stack: contextlib.ExitStack) -> None:
    from opentrail.backends.postgres import PostgresBackend
    from opentrail.backends.sqlite import SqliteBackend

    url = server.url(built["database"]) if built else server.new_database()
    backends = {"sqlite": SqliteBackend(folder / "sqlite"),
                "postgresql": PostgresBackend.open(url, MASTER_KEY)}
    for backend in backends.values():
        stack.callback(backend.close)
    loads = [os.getloadavg()]
    if built is None:
        built = _build(args, backends, server, loads, folder)
        built["database"] = url.rsplit("/", 1)[1]
        if args.keep:
            # last: a store without it is not reused
            (folder / MANIFEST).write_bytes(orjson.dumps(built, option=orjson.OPT_NON_STR_KEYS))
    else:
        say(f"reusing the stores in {folder} (built {built['built']})")
    _lookups(args, backends, built, loads)


def _manifest(folder: Path, events: int) -> dict[str, Any] | None:
    """A kept store's description if its build finished and it has `events` events."""
    try:
        built: dict[str, Any] = orjson.loads((folder / MANIFEST).read_bytes())
    except OSError:
        return None
    return built if built.get("events") == events else None


def _build(args: argparse.Namespace, backends: dict[str, Any], server: Any,
           loads: list[tuple[float, ...]], folder: Path) -> dict[str, Any]:
    """Append the events to both ledgers and index them: what the lookups read."""
    now = float(int(time.time()))
    clock = ManualClock(now)
    began = time.perf_counter()
    writers = [b.ledger_writer(clock) for b in backends.values()]
    for writer in writers:
        writer.start()
    say(f"appending {args.events:,} events to both ledgers")
    sample = load(writers, args.events, clock.now())
    for writer in writers:
        writer.close()
    appended = time.perf_counter() - began
    loads.append(os.getloadavg())
    indexing = {}
    for name, backend in backends.items():
        say(f"indexing on {name}")
        indexer = backend.history_index().indexer(clock, 90, ledger=backend.ledger_reader())
        cpu = server.cpu_seconds if name == "postgresql" else (lambda: 0.0)
        indexing[name] = index(indexer, cpu)
        indexer.close()
    vacuumed = _vacuum(backends["postgresql"])
    loads.append(os.getloadavg())
    sizes = {"sqlite": (folder / "sqlite" / "history.db").stat().st_size,
             "postgresql": _pg_size(backends["postgresql"])}
    return {"events": args.events, "now": now, "sample": sample, "indexing": indexing,
            "sizes": sizes, "append seconds": appended, "vacuum seconds": vacuumed,
            "build seconds": time.perf_counter() - began,
            "built": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def _lookups(args: argparse.Namespace, backends: dict[str, Any], built: dict[str, Any],
             loads: list[tuple[float, ...]]) -> None:
    clock = ManualClock(built["now"])
    readers = {name: b.history_index().reader(clock, 90, ledger=b.ledger_reader())
               for name, b in backends.items()}
    sample = [{_attr(k): v for k, v in s.items()} for s in built["sample"]]
    todo = queries(sample, args.queries, int(clock.now()))
    results = {}
    for name in ("sqlite", "postgresql", "sqlite", "postgresql"):  # 2nd round is timed
        say(f"lookups on {name}")
        results[name] = timed(readers[name], todo)
        if name == "postgresql":
            results[name].update(_round_trips(backends[name], args.queries))
    loads.append(os.getloadavg())
    report(args, built, results, loads)


def _attr(key: Attr | str) -> Attr | str:
    """A sample's key as `load` made it (a kept store's JSON has the Attrs as numbers)."""
    return Attr(int(key)) if isinstance(key, str) and key.isdigit() else key


def _round_trips(backend: Any, count: int
                 ) -> dict[str, tuple[list[float], list[list[str]]]]:
    """Reference rows, the floors of a PostgreSQL read on this machine now: `SELECT 1` in
    a pooled transaction (a checked connection, BEGIN, the query, COMMIT: four round
    trips) and as a `PgDb.read` (one round trip, a lookup by terms' floor)."""

    def in_transaction() -> None:
        with backend.db.transaction() as conn:
            conn.execute("SELECT 1").fetchone()

    ways = {"(a SELECT 1 transaction)": in_transaction}
    if hasattr(backend.db, "read"):  # the code before it had no such path
        ways["(a SELECT 1 read)"] = lambda: backend.db.read(
            lambda conn: conn.execute("SELECT 1").fetchone())
    out = {}
    for name, way in ways.items():
        seconds = []
        for _ in range(count):
            began = time.perf_counter()
            way()
            seconds.append(time.perf_counter() - began)
        out[name] = (seconds, [[] for _ in seconds])
    return out


def _vacuum(backend: Any) -> float:
    """What autovacuum does soon after a bulk load, done now: the visibility map set
    (index-only scans read no heap) and fresh statistics. Returns the seconds taken."""
    import psycopg

    say("VACUUM (ANALYZE) on postgresql")
    began = time.perf_counter()
    with psycopg.connect(backend.db.url, autocommit=True) as conn:
        for table in ("history_postings", "history_terms", "events"):
            conn.execute(f"VACUUM (ANALYZE) {table}".encode())
    return time.perf_counter() - began


def _pg_size(backend: Any) -> int:
    with backend.db.transaction() as conn:
        row = conn.execute("SELECT pg_total_relation_size('history_postings') + "
                           "pg_total_relation_size('history_terms')").fetchone()
    return int(row[0])


if __name__ == "__main__":
    sys.exit(main())
