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
from typing import Any

import orjson

from bench.events import Batch
from opentrail.history._fields import lookup_terms

__all__ = ["FloorResult", "run_floor"]

POSTINGS = ("CREATE TABLE postings (term INTEGER NOT NULL, time INTEGER NOT NULL, "
            "seq INTEGER NOT NULL, PRIMARY KEY (term, time, seq)) WITHOUT ROWID")


def _open(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA page_size=16384")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL, "
                 "leaf BLOB NOT NULL, body BLOB NOT NULL)")
    return conn


def _store(conn: sqlite3.Connection, body: bytes, seq: int) -> list[bytes]:
    """One batch into the ledger table; returns the canonical bytes stored."""
    rows = []
    for record in orjson.loads(body)["Records"]:
        canonical = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
        leaf = hashlib.sha256(b"\x00" + canonical).digest()
        rows.append((seq, record["eventID"], leaf, canonical))
        seq += 1
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO events VALUES (?,?,?,?)", rows)
    conn.execute("COMMIT")
    return [row[3] for row in rows]


def _index(conn: sqlite3.Connection, stored: list[bytes], seq: int,
           terms: dict[Any, int]) -> None:
    """The least a searchable history adds: the stored bytes parsed again (the index
    follows the ledger), the lookup terms of each record (OpenTrail's definition, no
    term table: ids from a dict), one posting per term, one commit per batch."""
    postings = []
    for i, canonical in enumerate(stored):
        for key in lookup_terms(orjson.loads(canonical)):
            term = terms.setdefault(key, len(terms))
            postings.append((term, seq + i, seq + i))  # time grows with seq, as live
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO postings VALUES (?,?,?)", postings)
    conn.execute("COMMIT")


@dataclass(frozen=True)
class FloorResult:
    rate: float  # events per second, wall clock
    cpu_seconds: float  # CPU time of the loop (this process)


def run_floor(bodies: Sequence[Batch], workdir: Path, *, index: bool = False
              ) -> FloorResult:
    """The bare loop over the same bodies, into a fresh database; with `index`, each
    batch's postings too, into a second database (as history.db is)."""
    path, index_path = workdir / "floor.db", workdir / "floor-index.db"
    conn = _open(path)
    postings = sqlite3.connect(index_path, isolation_level=None) if index else None
    seq = 0
    terms: dict[Any, int] = {}
    if postings is not None:
        postings.execute("PRAGMA journal_mode=WAL")
        postings.execute("PRAGMA synchronous=NORMAL")
        postings.execute(POSTINGS)
    start, cpu = time.perf_counter(), time.process_time()
    try:
        for batch in bodies:
            gc.disable()
            try:
                stored = _store(conn, batch.body, seq)
                if postings is not None:
                    _index(postings, stored, seq, terms)
                seq += len(stored)
            finally:
                gc.enable()
        return FloorResult(seq / (time.perf_counter() - start), time.process_time() - cpu)
    finally:
        conn.close()
        if postings is not None:
            postings.close()
        for name in (path, index_path):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{name}{suffix}").unlink(missing_ok=True)
