"""`python -m bench.cluster`: `opentrail serve` nodes on PostgreSQL beside one on SQLite,
and how fast a cluster fails over when a node is killed with SIGKILL.

Ingest: the same signed batches sent through 1 embedded node (SQLite) and through 1, 2
and 3 nodes on one PostgreSQL database (fsync on, as SQLite's commits are), SENDERS
client threads spread over the nodes ("the same": the same demo generator, one seed per
run). events/s counts acknowledgements; CPU µs/event is every node's process tree plus
PostgreSQL's, from the first request until the nodes are back to their idle rate (the
history index caught up, so the indexing behind the acks counts), less that idle rate
(measured for 5 s before: role checks and followers polling) over the same time.
On a 2-core machine more nodes cannot add cores: what matters is CPU per event and that
nothing serialises beyond the sequencer's lock. A last run sends every request to one
of 3 nodes: the other two's CPU is what following the shared ledger costs a node
(its Merkle tree, history indexer, rule engine), paid once per node.

Failover: 3 nodes delivering a trail to moto's S3 server, a writer per node (10 events
every 0.1 s); the nodes holding `checkpoint-signer` and `trail-delivery` (one node or
two, found with /readyz?verbose) are killed together, ROUNDS times (restarted in
between). Measured from the kill: the first acknowledgement, by a surviving node, of a
request sent after the kill; both roles held again by live nodes; and the next log file
delivered to the bucket.
"""

from __future__ import annotations

import argparse
import base64
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil

from bench.client import ApiClient, Key
from bench.events import batches
from bench.report import Row, print_table, write_json
from bench.server import ACCOUNT, BenchServer, _free_port

__all__ = ["main"]

SENDERS = 4  # client threads, spread over the nodes
BATCH = 1_000  # events per ingest request
ROUNDS = 3  # failovers measured
MASTER_KEY = base64.b64encode(bytes(32)).decode()  # of a database thrown away after
ROLES = ("checkpoint-signer", "trail-delivery")
BUCKET = "bench-cluster-trail"
WRITE_BATCH, WRITE_EVERY = 10, 0.1  # failover writers: events per request, seconds apart


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _bodies(events: int, seed: int, size: int = BATCH) -> list[bytes]:
    """Ingest bodies of `size` demo records each, serialised before any clock starts."""
    now = time.time()
    return [orjson.dumps({"Records": big[i:i + size]})
            for big in batches(seed=seed, count=events, start=now - 86400, end=now)
            for i in range(0, len(big), size)]


def _tree_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                times = proc.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def _settle(cpu: Any, idle: float, limit: float = 120.0) -> float:
    """Wait until the nodes are back to their idle rate (+10% of a core) over a second."""
    deadline, last = time.monotonic() + limit, cpu()
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = cpu()
        if now - last < idle + 0.1:
            return now
        last = now
    return cpu()


def _send(endpoints: list[str], key: Key, bodies: list[bytes]) -> float:
    """Seconds to have every body acknowledged, SENDERS threads over the endpoints."""
    lanes = [bodies[n::SENDERS] for n in range(SENDERS)]

    def run(n: int) -> None:
        client = ApiClient(endpoints[n % len(endpoints)], key)
        try:
            for body in lanes[n]:
                client.ingest(body)
        finally:
            client.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(SENDERS)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def _key(data_dir: Path, env: dict[str, str]) -> Key:
    proc = subprocess.run([sys.executable, "-m", "opentrail", "keys", "create", "--data-dir",
                           str(data_dir), "--account", ACCOUNT, "--role", "admin"],
                          capture_output=True, text=True, env=env, timeout=120, check=True)
    data = orjson.loads(proc.stdout)
    return Key(data["AccessKeyId"], data["SecretAccessKey"])


class _Env:
    """os.environ with the cluster's settings while the nodes start (they inherit it)."""

    def __init__(self, **values: str) -> None:
        self.values, self.saved = values, dict(os.environ)

    def __enter__(self) -> dict[str, str]:
        os.environ.update(self.values)
        return dict(os.environ)

    def __exit__(self, *exc: object) -> None:
        os.environ.clear()
        os.environ.update(self.saved)


def _ingest_run(name: str, folder: Path, bodies: list[bytes], flags: tuple[str, ...],
                nodes: int, server_cpu: Any, *, through: int = 0) -> dict[str, Any]:
    """Send `bodies` through the first `through` nodes (0: all), measure every node."""
    servers = [BenchServer(folder / f"{name}-{n}", folder / f"{name}-{n}.log", flags)
               for n in range(nodes)]
    for server in servers:
        server.start()
    try:
        key = _key(servers[0].data_dir, dict(os.environ))
        pids = [s.proc.pid for s in servers if s.proc is not None]

        def parts() -> list[float]:  # each node's process tree, then the database
            return [*(_tree_cpu([pid]) for pid in pids), server_cpu()]

        time.sleep(3.0)  # past the start's own work
        first = parts()
        time.sleep(5.0)
        idle = [(b - a) / 5.0 for a, b in zip(first, parts(), strict=True)]
        before, start = parts(), time.monotonic()
        seconds = _send([s.endpoint for s in servers[:through or nodes]], key, bodies)
        _settle(lambda: sum(parts()), sum(idle))
        spent = time.monotonic() - start
        used = [b - a - i * spent for a, b, i in zip(before, parts(), idle, strict=True)]
    finally:
        for server in servers:
            server.stop()
    events = sum(b.count(b'"eventID"') for b in bodies)
    say(f"{name}: {events / seconds:,.0f} events/s, {1e6 * sum(used) / events:.1f} µs/event "
        f"(per node, then database: {', '.join(f'{1e6 * u / events:.1f}' for u in used)})")
    return {"run": name, "nodes": nodes, "through": through or nodes, "events": events,
            "seconds": seconds, "events_per_s": events / seconds,
            "cpu_us_per_event": 1e6 * sum(used) / events,
            "cpu_us_per_event_by_process": [1e6 * u / events for u in used],
            "idle_cpu_per_s": idle}


def _ingest(args: argparse.Namespace, pg: Any, folder: Path) -> list[dict[str, Any]]:
    bodies = _bodies(args.events, 1)
    results = [_ingest_run("sqlite", folder, bodies, (), 1, lambda: 0.0)]
    for nodes, through in ((1, 0), (2, 0), (3, 0), (3, 1)):
        with _Env(OPENTRAIL_DATABASE_URL=pg.new_database(), OPENTRAIL_MASTER_KEY=MASTER_KEY):
            flags = ("--trail-storage", "s3", "--lake-location", str(folder / f"lake{nodes}"))
            results.append(_ingest_run(f"postgresql-{nodes}-{through or nodes}", folder,
                                       _bodies(args.events, 1 + nodes + through), flags,
                                       nodes, pg.cpu_seconds, through=through))
    return results


# -- failover -------------------------------------------------------------------------------

def _roles(endpoint: str) -> list[str]:
    try:
        roles: list[str] = httpx.get(f"{endpoint}/readyz?verbose", timeout=2).json()["roles"]
        return roles
    except (httpx.HTTPError, ValueError, KeyError):
        return []


def _alive(servers: list[BenchServer]) -> list[BenchServer]:
    return [s for s in servers if s.proc is not None and s.proc.poll() is None]


def _holder(servers: list[BenchServer], role: str) -> BenchServer | None:
    """The live node holding `role`, or None while none (or, for a moment, two) does."""
    holders = [s for s in _alive(servers) if role in _roles(s.endpoint)]
    return holders[0] if len(holders) == 1 else None


def _all_held(servers: list[BenchServer]) -> bool:
    return all(_holder(servers, role) is not None for role in ROLES)


class _Writers:
    """One thread per node sending a 10-event batch every 0.1 s; records each acknowledgement's time
    and node, and goes on to the next node when its own is gone."""

    def __init__(self, servers: list[BenchServer], key: Key) -> None:
        self.servers, self.key = servers, key
        self.acks: list[tuple[float, float, int]] = []  # (sent, acknowledged, port)
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True)
                        for n in range(len(servers))]
        self.bodies = iter(_bodies(200_000, 99, size=WRITE_BATCH))  # shared by the threads

    def _run(self, n: int) -> None:
        while not self.stop.is_set():
            server = self.servers[n % len(self.servers)]
            sent = time.monotonic()
            body = next(self.bodies)
            try:
                client = ApiClient(server.endpoint, self.key)
                client.ingest(body)
                client.close()
                self.acks.append((sent, time.monotonic(), server.port))
            except (httpx.HTTPError, RuntimeError):
                n += 1
            self.stop.wait(WRITE_EVERY)


def _log_files(s3: Any) -> set[str]:
    keys: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        keys |= {o["Key"] for o in page.get("Contents", []) if "/CloudTrail/" in o["Key"]}
    return keys


def _until(check: Any, limit: float = 60.0) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > limit:
            return float("inf")
        time.sleep(0.05)
    return time.monotonic()


def _one_failover(servers: list[BenchServer], writers: _Writers, s3: Any) -> dict[str, float]:
    """Kill the holders of ROLES (one node or two) together; times from the kill."""
    _until(lambda: _all_held(servers))
    victims = {s.port: s for s in (_holder(servers, role) for role in ROLES) if s is not None}
    seen = _log_files(s3)
    killed = time.monotonic()
    for victim in victims.values():
        assert victim.proc is not None
        victim.proc.send_signal(signal.SIGKILL)
    for victim in victims.values():
        assert victim.proc is not None
        victim.proc.wait()

    def new_acks() -> list[float]:
        return [a for s, a, p in writers.acks if s > killed and p not in victims]

    _until(lambda: bool(new_acks()))
    roles = _until(lambda: _all_held(servers))
    log_file = _until(lambda: bool(_log_files(s3) - seen))
    first_ack = min(new_acks(), default=float("inf"))
    for victim in victims.values():
        victim.start()
    return {"nodes_killed": float(len(victims)), "first_ack_s": first_ack - killed,
            "roles_s": roles - killed, "next_log_file_s": log_file - killed}


def _failover(folder: Path, pg: Any, moto: str) -> list[dict[str, float]]:
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    s3.create_bucket(Bucket=BUCKET)
    flags = ("--s3-endpoint-url", moto, "--lake-location", str(folder / "lake-failover"),
             "--delivery-interval", "1", "--digest-interval", "5", "--checkpoint-interval",
             "1")
    with _Env(OPENTRAIL_DATABASE_URL=pg.new_database(), OPENTRAIL_MASTER_KEY=MASTER_KEY,
              AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing"):
        servers = [BenchServer(folder / f"fo-{n}", folder / f"fo-{n}.log", flags)
                   for n in range(3)]
        for server in servers:
            server.start()
        try:
            return _failovers(servers, s3, _key(servers[0].data_dir, dict(os.environ)))
        finally:
            for server in servers:
                server.stop()


def _failovers(servers: list[BenchServer], s3: Any, key: Key) -> list[dict[str, float]]:
    import boto3

    ct = boto3.client("cloudtrail", endpoint_url=servers[0].endpoint,
                      region_name="us-east-1", aws_access_key_id=key.access_key_id,
                      aws_secret_access_key=key.secret)
    ct.create_trail(Name="bench", S3BucketName=BUCKET, EnableLogFileValidation=True)
    ct.start_logging(Name="bench")
    writers = _Writers(servers, key)
    for thread in writers.threads:
        thread.start()
    try:
        out = []
        for n in range(ROUNDS):
            time.sleep(3)
            out.append(_one_failover(servers, writers, s3))
            say(f"failover {n + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in out[-1].items()))
        return out
    finally:
        writers.stop.set()
        for thread in writers.threads:
            thread.join(timeout=30)


# -- the report -----------------------------------------------------------------------------

def _rows(ingest: list[dict[str, Any]], failovers: list[dict[str, float]]) -> list[Row]:
    base = ingest[0]
    rows = [Row("ingest events/s, SQLite (1 node)", f"{base['events_per_s']:,.0f}"),
            Row("CPU µs/event, SQLite (1 node)", f"{base['cpu_us_per_event']:.1f}")]
    for run in ingest[1:]:
        ratio = run["events_per_s"] / base["events_per_s"]
        what = f"PostgreSQL {run['nodes']} node(s)" + (
            f", requests to {run['through']}" if run["through"] != run["nodes"] else "")
        rows.append(Row(f"ingest events/s, {what}", f"{run['events_per_s']:,.0f}",
                        f"{base['events_per_s']:,.0f}", f"{ratio:.2f}x", ">= 0.7x",
                        ratio >= 0.7))
        rows.append(Row(f"CPU µs/event, {what}", f"{run['cpu_us_per_event']:.1f}",
                        f"{base['cpu_us_per_event']:.1f}",
                        f"{run['cpu_us_per_event'] / base['cpu_us_per_event']:.2f}x"))
    if ingest[-1]["through"] < ingest[-1]["nodes"]:
        idle_nodes = ingest[-1]["cpu_us_per_event_by_process"][1:-1]
        rows.append(Row("CPU µs/event of a node sent no requests (its followers)",
                        " / ".join(f"{u:.1f}" for u in idle_nodes)))
    for name, label, target in (("first_ack_s", "failover: first new ack, s", 10.0),
                                ("roles_s", "failover: roles held again, s", 10.0),
                                ("next_log_file_s", "failover: next log file, s", None)):
        values = [f[name] for f in failovers]
        worst = max(values)
        rows.append(Row(f"{label} (median/max of {len(values)})",
                        f"{statistics.median(values):.2f} / {worst:.2f}",
                        target=f"<= {target:.0f} s" if target else "-",
                        met=worst <= target if target else None))
    return rows


def _moto() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    _until(lambda: _reachable(url))
    return proc, url


def _reachable(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
        return True
    except httpx.HTTPError:
        return False


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__)
    p.add_argument("--events", type=int, default=60_000, help="events per ingest run")
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from postgres_server import PostgresServer

    loads = [os.getloadavg()]
    pg = PostgresServer(durable=True)
    pg.start()
    moto, moto_url = _moto()
    try:
        with tempfile.TemporaryDirectory() as name:
            ingest = _ingest(args, pg, Path(name))
            loads.append(os.getloadavg())
            failovers = _failover(Path(name), pg, moto_url)
            loads.append(os.getloadavg())
    finally:
        moto.terminate()
        pg.stop()
    rows = _rows(ingest, failovers)
    print_table(rows)
    print("load average (1, 5, 15 min) at start, after ingest, at end: "
          + "; ".join(", ".join(f"{x:.1f}" for x in load) for load in loads))
    path = write_json(rows, {"bench": "cluster", "events": args.events, "ingest": ingest,
                             "failovers": failovers, "load_average": loads})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
