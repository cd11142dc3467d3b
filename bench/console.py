"""`python -m bench.console`: the web console's page times on a large store.

Each page is fetched signed in, over loopback, with one keep-alive connection, and timed
from request to last byte (that is the server's time plus a loopback round trip). The
reference, measured in the same run, is the LookupEvents API call for the same filter:
the ratio says what rendering a page costs on top of the lookup it makes. Target: the
first page of a filtered history in at most 300 ms on a 10 M-event store.

  python -m bench.console                       # builds a 200k-event store (demo data)
  python -m bench.console --store DIR           # DIR/data from `python -m bench --reuse-store DIR`
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.client import ApiClient, Key
from bench.report import RESULTS, Row, print_table
from bench.server import BenchServer

PAGE_TARGET = 0.300
BATCH = 5000


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _fill(client: ApiClient, events: int) -> str:
    """Send `events` demo records; returns the eventID of the last management event."""
    from opentrail.sources.demo import generate

    now = time.time()
    batch: list[dict[str, Any]] = []
    last = ""
    for record in generate(seed=20261125, count=events, start=now - 20 * 86400, end=now - 60):
        batch.append(record)
        if record.get("eventCategory", "Management") == "Management":
            last = record["eventID"]
        if len(batch) == BATCH:
            client.ingest(orjson.dumps({"Records": batch}))
            batch = []
    if batch:
        client.ingest(orjson.dumps({"Records": batch}))
    return last


def _wait_indexed(client: ApiClient, event_id: str, timeout: float = 1800) -> None:
    deadline = time.monotonic() + timeout
    query = {"LookupAttributes": [{"AttributeKey": "EventId", "AttributeValue": event_id}]}
    while not client.lookup(query).events:
        if time.monotonic() > deadline:
            raise RuntimeError("the index did not catch up in time")
        time.sleep(0.5)


def _values(data_dir: Path) -> dict[str, tuple[str, str]]:
    """(common, rare) values per attribute, from the index's term counts."""
    conn = sqlite3.connect(f"file:{data_dir / 'history.db'}?mode=ro", uri=True)
    out = {}
    for name, attr in (("EventName", 1), ("Username", 3), ("EventSource", 6),
                       ("ResourceName", 5)):
        rows = conn.execute("SELECT value FROM terms WHERE attr=? AND region='us-east-1' "
                            "AND category=0 ORDER BY n DESC", (attr,)).fetchall()
        out[name] = (rows[0][0], rows[-1][0])
    conn.close()
    return out


def _sign_in(endpoint: str, key: Key) -> httpx.Client:
    http = httpx.Client(base_url=endpoint, timeout=120, follow_redirects=True)
    token = re.search(r'name="signin_token" value="([^"]+)"', http.get("/signin").text)
    assert token, "no sign-in form"
    answer = http.post("/signin", data={"signin_token": token[1], "next": "/events",
                                        "access_key_id": key.access_key_id,
                                        "secret": key.secret})
    assert answer.status_code == 200 and "Event history" in answer.text, answer.text[:500]
    return http


def _time(fetch: Callable[[int], object], rounds: int) -> list[float]:
    fetch(-1)  # warm: connections, template compilation
    out = []
    for i in range(rounds):
        start = time.perf_counter()
        fetch(i)
        out.append(time.perf_counter() - start)
    return out


def _page(http: httpx.Client, path: str) -> Callable[[int], object]:
    def fetch(i: int) -> object:
        answer = http.get(path.replace("{at}", str(int(time.time()) - 60 * (i + 2))))
        assert answer.status_code == 200, f"{path}: {answer.status_code}"
        return answer

    return fetch


def _api(client: ApiClient, pairs: list[tuple[str, str]]) -> Callable[[int], object]:
    params = {"LookupAttributes": [{"AttributeKey": k, "AttributeValue": v} for k, v in pairs]}
    return lambda i: client.lookup(params)


def _older_link(http: httpx.Client, path: str) -> str:
    match = re.search(r'href="(/events\?[^"]*page=[^"]*)" rel="next"', http.get(path).text)
    assert match, "no next page"
    return match[1].replace("&amp;", "&")


def _cases(values: dict[str, tuple[str, str]]) -> list[tuple[str, str, list[tuple[str, str]]]]:
    (name, rare), (user, _), (source, _) = (values["EventName"], values["Username"],
                                            values["EventSource"])
    resource = values["ResourceName"][0]
    return [
        ("history, no filter", "/events", []),
        ("history, EventName (common)", f"/events?k=EventName&v={name}", [("EventName", name)]),
        ("history, EventName (rare)", f"/events?k=EventName&v={rare}", [("EventName", rare)]),
        ("history, Username AND EventSource",
         f"/events?k=Username&v={user}&k=EventSource&v={source}",
         [("Username", user), ("EventSource", source)]),
        ("resource timeline (common)", f"/resources?range=7d&name={resource}",
         [("ResourceName", resource)]),
    ]


def _row(label: str, seconds: list[float], reference: list[float] | None,
         target: float | None) -> Row:
    p50, p95 = statistics.median(seconds), sorted(seconds)[int(0.95 * (len(seconds) - 1))]
    ours = f"p50 {p50 * 1000:,.1f} ms, p95 {p95 * 1000:,.1f} ms"
    ref = statistics.median(reference) if reference else None
    return Row(label, ours, f"{ref * 1000:,.1f} ms" if ref else "-",
               f"{p50 / ref:,.1f}x" if ref else "-",
               f"<= {target * 1000:.0f} ms" if target else "-",
               (p95 <= target) if target else None)


def measure(endpoint: str, key: Key, data_dir: Path, rounds: int) -> list[Row]:
    client = ApiClient(endpoint, key)
    http = _sign_in(endpoint, key)
    rows = []
    for label, path, pairs in _cases(_values(data_dir)):
        say(f"timing {label}")
        page = _time(_page(http, path), rounds)
        target = PAGE_TARGET if path.startswith("/events") else None
        rows.append(_row(label, page, _time(_api(client, pairs), rounds), target))
    older = _older_link(http, "/events")
    rows.append(_row("history, page 2 (keyset)", _time(_page(http, older), rounds), None,
                     PAGE_TARGET))
    for span in ("24h", "7d"):
        say(f"timing activity {span}")
        path = f"/activity?range={span}&at={{at}}"  # a new minute each time: no cache
        rows.append(_row(f"activity overview {span} (uncached)",
                         _time(_page(http, path), max(3, rounds // 5)), None, None))
    client.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.console", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", type=Path, help="a bench store: uses DIR/data as it is, or "
                   "builds one there (and keeps it) when DIR/data does not exist")
    p.add_argument("--events", type=int, default=200_000, help="events in a new store")
    p.add_argument("--rounds", type=int, default=30, help="requests per page")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-console-"))
    data_dir = args.store / "data" if args.store else work / "data"
    build = not data_dir.exists()
    server = BenchServer(data_dir, work / "server.log")
    server.start()
    try:
        key = server.create_key()
        if build:
            say(f"building a store of {args.events:,} demo events")
            client = ApiClient(server.endpoint, key)
            _wait_indexed(client, _fill(client, args.events))
            client.close()
        rows = measure(server.endpoint, key, data_dir, args.rounds)
    finally:
        server.stop()
    print_table(rows)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"console-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.write_text(json.dumps({"store": str(data_dir), "rows": [r.__dict__ for r in rows]},
                              indent=2))
    say(f"wrote {out}")


if __name__ == "__main__":
    main()
