"""The ledger's SQLite schema and how its connections are opened.

Durability: WAL with synchronous=FULL, so a commit returns only after the WAL is
fsync'd; an event is acknowledged only after the commit that holds it.
Immutability: triggers refuse UPDATE and DELETE of events. The one exception is the
retention purge, which may set `body` to NULL (keeping the leaf hash) for events older
than the cutoff returned by `opentrail_purge_cutoff()`, a function only the purge
registers on its connection; on any other connection the trigger fails to run.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["LEDGER_FILE", "open_ledger", "open_reader"]

LEDGER_FILE = "ledger.db"
PAGE_SIZE = 16384

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq        INTEGER PRIMARY KEY,  -- leaf index, from 0, no gaps
    account    TEXT    NOT NULL,
    region     TEXT    NOT NULL,
    category   INTEGER NOT NULL,     -- events.Category
    event_time INTEGER NOT NULL,     -- epoch seconds of eventTime
    ingested   INTEGER NOT NULL,     -- epoch seconds of acknowledgement
    event_id   TEXT    NOT NULL,
    leaf       BLOB    NOT NULL,     -- SHA-256(0x00 || body), kept after expiry
    body       BLOB                  -- canonical record bytes; NULL once expired
);
CREATE UNIQUE INDEX IF NOT EXISTS events_by_id ON events(account, event_id);

CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only: events cannot be deleted');
END;

CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
WHEN NOT (
    new.body IS NULL
    AND new.seq IS old.seq AND new.account IS old.account AND new.region IS old.region
    AND new.category IS old.category AND new.event_time IS old.event_time
    AND new.ingested IS old.ingested AND new.event_id IS old.event_id
    AND new.leaf IS old.leaf
    AND old.event_time < opentrail_purge_cutoff()
    AND old.ingested < opentrail_purge_cutoff()
)
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only: events cannot be changed');
END;
"""

TRIGGERS = ("events_no_delete", "events_no_update")


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def open_ledger(data_dir: Path) -> sqlite3.Connection:
    """The single writer's connection: creates the schema on first use."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    conn = _connect(data_dir / LEDGER_FILE, readonly=False)
    conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA cache_size=-16384")  # 16 MiB: the id index's upper levels stay hot
    conn.executescript(SCHEMA)
    return conn


def open_reader(data_dir: Path) -> sqlite3.Connection:
    """A read-only connection for a reader (history, verify, trails)."""
    conn = _connect(data_dir / LEDGER_FILE, readonly=True)
    conn.execute("PRAGMA cache_size=-16384")
    return conn
