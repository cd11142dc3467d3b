"""The ingest floor: the same work as a durable ingest, done by a bare loop.

Per batch: parse the body with orjson; per event: canonical bytes (sorted keys, what the
ledger hashes), SHA-256 leaf hash, one row; one executemany and one fsync'd commit per
batch into SQLite WAL with synchronous=FULL and 16 KiB pages, as the ledger uses. No
HTTP, no SigV4, no validation, no dedup index, no history index: what is left once
everything OpenTrail adds is taken away. One thread, GC paused while a batch is in flight.
"""

from __future__ import annotations

import gc
import hashlib
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench.events import Batch

__all__ = ["FloorResult", "run_floor"]


def _open(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA page_size=16384")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL, "
                 "leaf BLOB NOT NULL, body BLOB NOT NULL)")
    return conn


def _store(conn: sqlite3.Connection, body: bytes, seq: int) -> int:
    rows = []
    for record in orjson.loads(body)["Records"]:
        canonical = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
        leaf = hashlib.sha256(b"\x00" + canonical).digest()
        rows.append((seq, record["eventID"], leaf, canonical))
        seq += 1
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO events VALUES (?,?,?,?)", rows)
    conn.execute("COMMIT")
    return seq


@dataclass(frozen=True)
class FloorResult:
    rate: float  # events per second, wall clock
    cpu_seconds: float  # CPU time of the loop (this process)


def run_floor(bodies: Sequence[Batch], workdir: Path) -> FloorResult:
    """The bare loop over the same bodies, into a fresh database."""
    path = workdir / "floor.db"
    conn = _open(path)
    seq = 0
    start, cpu = time.perf_counter(), time.process_time()
    try:
        for batch in bodies:
            gc.disable()
            try:
                seq = _store(conn, batch.body, seq)
            finally:
                gc.enable()
        return FloorResult(seq / (time.perf_counter() - start), time.process_time() - cpu)
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
