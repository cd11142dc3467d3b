"""The ledger's SQLite schema and how its connections are opened.

Durability: WAL with synchronous=FULL, so a commit returns only after the WAL is
fsync'd; an event is acknowledged only after the commit that holds it.
Immutability: triggers refuse UPDATE and DELETE of events. The one exception is the
retention purge, which may set `body` to NULL (keeping the leaf hash) for events older
by event time and by ingest time than the cutoff in the one-row `purge` table. That
cutoff is 0 at rest: the purge raises it, drops the bodies and sets it back to 0 in one
transaction, so no other connection ever sees a non-zero cutoff. (The trigger once asked
a SQL function only the purge registered; any client can register a function of that
name, so it trusted nothing.) Neither stops someone who can write the file: they can
write the cutoff or drop the triggers. `opentrail verify` is what detects that: it
checks every leaf against the signed checkpoints and flags every body missing before
the retention period (each setting the writer ran with is in `retention`) was over.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["LEDGER_FILE", "guards", "open_ledger", "open_reader", "recorded_retention"]

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

CREATE TABLE IF NOT EXISTS purge (
    id     INTEGER PRIMARY KEY CHECK (id = 0),
    cutoff INTEGER NOT NULL      -- epoch seconds; 0 outside the purge's own transaction
);
INSERT OR IGNORE INTO purge VALUES (0, 0);
UPDATE purge SET cutoff = 0 WHERE cutoff <> 0;

CREATE TABLE IF NOT EXISTS retention (
    since INTEGER PRIMARY KEY,   -- epoch seconds the writer started with this setting
    days  INTEGER NOT NULL       -- history_retention_days; 0 keeps bodies forever
);

CREATE TRIGGER IF NOT EXISTS purge_no_delete BEFORE DELETE ON purge
BEGIN
    SELECT RAISE(ABORT, 'the purge cutoff row cannot be deleted');
END;

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
    AND old.event_time < (SELECT cutoff FROM purge WHERE id = 0)
    AND old.ingested < (SELECT cutoff FROM purge WHERE id = 0)
)
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only: events cannot be changed');
END;
"""

TRIGGERS = ("events_no_delete", "events_no_update", "purge_no_delete")
OLD_GUARD = "opentrail_purge_cutoff"  # the function the update trigger used to trust


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
    # 64 MiB: each event lands on a random page of the (account, eventID) index, so past
    # ~1 M events a small cache misses on most inserts (server CPU per event at 1 M:
    # 29.7 us with 16 MiB, 25.0 with 64; docs/benchmarks.md, issue 15).
    conn.execute("PRAGMA cache_size=-65536")
    conn.executescript(f"BEGIN IMMEDIATE;\n{_drop_old_guard(conn)}{SCHEMA}COMMIT;")
    return conn


def _drop_old_guard(conn: sqlite3.Connection) -> str:
    """Ledgers made before the purge table carry an update trigger that trusts a SQL
    function: the statement that drops it (SCHEMA then recreates it, in one transaction)."""
    row = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' "
                       "AND name = 'events_no_update'").fetchone()
    old = row is not None and OLD_GUARD in row[0]
    return "DROP TRIGGER events_no_update;\n" if old else ""


def guards(conn: sqlite3.Connection) -> dict[str, str]:
    """The append-only triggers a ledger holds, by name, as SQLite stored them."""
    marks = ",".join("?" * len(TRIGGERS))
    rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                        f"AND name IN ({marks})", TRIGGERS)
    return dict(rows.fetchall())


def expected_guards() -> dict[str, str]:
    """The triggers SCHEMA makes, as SQLite stores them (to spot a swapped-in one)."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(SCHEMA)
        return guards(conn)
    finally:
        conn.close()


def record_retention(conn: sqlite3.Connection, days: int, now: float) -> None:
    """Write down the retention the writer runs with from `now` on (when it changed), so
    `opentrail verify` knows how long each body had to be kept."""
    row = conn.execute("SELECT days FROM retention ORDER BY since DESC LIMIT 1").fetchone()
    if row is None or row[0] != days:
        conn.execute("INSERT OR REPLACE INTO retention VALUES (?, ?)", (int(now), days))


def recorded_retention(conn: sqlite3.Connection) -> list[tuple[int, int]]:
    """Every (since, days) the writer ran with, oldest first; empty for older ledgers."""
    try:
        rows = conn.execute("SELECT since, days FROM retention ORDER BY since").fetchall()
    except sqlite3.OperationalError:  # a ledger from before the retention table
        return []
    return [(int(since), int(days)) for since, days in rows]


def open_reader(data_dir: Path) -> sqlite3.Connection:
    """A read-only connection for a reader (history, verify, trails)."""
    conn = _connect(data_dir / LEDGER_FILE, readonly=True)
    conn.execute("PRAGMA cache_size=-16384")
    return conn
