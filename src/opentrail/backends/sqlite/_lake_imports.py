"""Lake imports' state in DATA_DIR/lake-imports.db: `ImportRows` (lake/_import_rows.py) on
SQLite, the file and schema imports always used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opentrail.backends.sqlite._db import SqliteDb
from opentrail.lake._import_rows import Failure, Import, NewImport, import_of
from opentrail.lake._imports import IMPORTS_FILE

__all__ = ["IMPORTS_FILE", "SqliteImportRows"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS imports (
    id          TEXT PRIMARY KEY,
    account     TEXT NOT NULL,
    store_id    TEXT NOT NULL,
    store_arn   TEXT NOT NULL,
    source      TEXT NOT NULL,        -- ImportSource as given (JSON)
    start_time  REAL,
    end_time    REAL,
    status      TEXT NOT NULL,
    created     REAL NOT NULL,
    updated     REAL NOT NULL,
    prefixes_found     INTEGER NOT NULL DEFAULT 0,
    prefixes_completed INTEGER NOT NULL DEFAULT 0,
    files_completed    INTEGER NOT NULL DEFAULT 0,
    events_completed   INTEGER NOT NULL DEFAULT 0,
    next_file   INTEGER NOT NULL DEFAULT 0   -- n of the next import-<id>-<n>.parquet
);
CREATE INDEX IF NOT EXISTS imports_account ON imports (account, created);
CREATE TABLE IF NOT EXISTS done (     -- source files whose events are durable in the store
    import_id TEXT NOT NULL,
    location  TEXT NOT NULL,
    PRIMARY KEY (import_id, location)
);
CREATE TABLE IF NOT EXISTS failures (
    import_id  TEXT NOT NULL,
    location   TEXT NOT NULL,
    status     TEXT NOT NULL,         -- FAILED | RETRY | SUCCEEDED
    error_type TEXT NOT NULL,
    message    TEXT NOT NULL,
    updated    REAL NOT NULL,
    PRIMARY KEY (import_id, location)
);
"""
SELECT = ("SELECT id, account, store_id, store_arn, source, start_time, end_time, status, "
          "created, updated, prefixes_found, prefixes_completed, files_completed, "
          "events_completed, (SELECT COUNT(*) FROM failures f WHERE f.import_id = imports.id "
          "AND f.status != 'SUCCEEDED') FROM imports")
ONGOING_SQL = "status IN ('INITIALIZING', 'IN_PROGRESS')"


class SqliteImportRows:
    def __init__(self, data_dir: Path) -> None:
        self._db = SqliteDb(Path(data_dir) / IMPORTS_FILE, SCHEMA, timeout=10)

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._db.read() as conn:
            return conn.execute(sql, args).fetchall()

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> None:
        with self._db.write() as conn:
            conn.execute(sql, args)

    def _ongoing(self, account: str) -> str | None:
        rows = self._all(f"SELECT id FROM imports WHERE account = ? AND {ONGOING_SQL}",
                         (account,))
        return str(rows[0][0]) if rows else None

    def add(self, new: NewImport) -> str | None:
        with self._db.write() as conn:
            if (ongoing := self._ongoing(new.account)) is not None:
                return ongoing
            conn.execute("INSERT INTO imports (id, account, store_id, store_arn, source, "
                         "start_time, end_time, status, created, updated) "
                         "VALUES (?,?,?,?,?,?,?,'INITIALIZING',?,?)", (*new, new.created))
        return None

    def retry(self, account: str, import_id: str, now: float) -> str | None:
        with self._db.write() as conn:
            if (ongoing := self._ongoing(account)) is not None:
                return ongoing
            conn.execute("UPDATE imports SET status='INITIALIZING', updated=? WHERE id=?",
                         (now, import_id))
            conn.execute("UPDATE failures SET status='RETRY', updated=? WHERE import_id=? "
                         "AND status='FAILED'", (now, import_id))
        return None

    def get(self, import_id: str, account: str | None = None) -> Import | None:
        rows = self._all(SELECT + " WHERE id=? AND (? IS NULL OR account=?)",
                         (import_id, account, account))
        return import_of(rows[0]) if rows else None

    def stop(self, import_id: str, now: float) -> None:
        self._run(f"UPDATE imports SET status='STOPPED', updated=? WHERE id=? AND "
                  f"{ONGOING_SQL}", (now, import_id))

    def find(self, account: str, store_id: str | None, status: str | None) -> list[Import]:
        return [import_of(r) for r in self._all(
            SELECT + " WHERE account=? AND (? IS NULL OR store_id=?) AND "
            "(? IS NULL OR status=?) ORDER BY created, id",
            (account, store_id, store_id, status, status))]

    def failures(self, account: str, import_id: str) -> list[Failure]:
        return [Failure(*r) for r in self._all(
            "SELECT f.location, f.status, f.error_type, f.message, f.updated FROM "
            "failures f JOIN imports i ON i.id = f.import_id WHERE f.import_id=? AND "
            "i.account=? ORDER BY f.location", (import_id, account))]

    def ongoing_in(self, store_id: str) -> str | None:
        rows = self._all(f"SELECT id FROM imports WHERE store_id=? AND {ONGOING_SQL}",
                         (store_id,))
        return str(rows[0][0]) if rows else None

    def next_ongoing(self) -> Import | None:
        rows = self._all(SELECT + f" WHERE {ONGOING_SQL} ORDER BY updated, id LIMIT 1")
        return import_of(rows[0]) if rows else None

    def status(self, import_id: str) -> str | None:
        rows = self._all("SELECT status FROM imports WHERE id=?", (import_id,))
        return str(rows[0][0]) if rows else None

    def fail(self, import_id: str, location: str, error_type: str, message: str,
             now: float) -> None:
        self._run("INSERT OR REPLACE INTO failures VALUES (?,?,'FAILED',?,?,?)",
                  (import_id, location, error_type, message, now))

    def finish(self, import_id: str, now: float) -> None:
        with self._db.write() as conn:
            failed = conn.execute("SELECT COUNT(*) FROM failures WHERE import_id=? AND "
                                  "status!='SUCCEEDED'", (import_id,)).fetchone()[0]
            conn.execute("UPDATE failures SET status='FAILED' WHERE import_id=? AND "
                         "status='RETRY'", (import_id,))
            conn.execute(f"UPDATE imports SET status=?, updated=? WHERE id=? AND "
                         f"{ONGOING_SQL}", ("FAILED" if failed else "COMPLETED", now,
                                            import_id))

    def done(self, import_id: str) -> set[str]:
        return {str(loc) for (loc,) in self._all(
            "SELECT location FROM done WHERE import_id=?", (import_id,))}

    def begin(self, import_id: str, prefixes_found: int, prefixes_completed: int,
              now: float) -> None:
        self._run(f"UPDATE imports SET status='IN_PROGRESS', prefixes_found=?, "
                  f"prefixes_completed=?, updated=? WHERE id=? AND {ONGOING_SQL}",
                  (prefixes_found, prefixes_completed, now, import_id))

    def prefix_done(self, import_id: str, now: float) -> None:
        self._run("UPDATE imports SET prefixes_completed=prefixes_completed+1, updated=? "
                  "WHERE id=?", (now, import_id))

    def flush(self, import_id: str, locations: list[str], events: int, now: float) -> None:
        with self._db.write() as conn:
            files = 0
            for location in locations:
                files += conn.execute("INSERT OR IGNORE INTO done VALUES (?,?)",
                                      (import_id, location)).rowcount
            conn.executemany("UPDATE failures SET status='SUCCEEDED', updated=? WHERE "
                             "import_id=? AND location=?",
                             [(now, import_id, loc) for loc in locations])
            conn.execute("UPDATE imports SET files_completed=files_completed+?, "
                         "events_completed=events_completed+?, updated=? WHERE id=?",
                         (files, events, now, import_id))

    def take_file_number(self, import_id: str) -> int:
        with self._db.write() as conn:
            (n,) = conn.execute("SELECT next_file FROM imports WHERE id=?",
                                (import_id,)).fetchone()
            conn.execute("UPDATE imports SET next_file=? WHERE id=?", (n + 1, import_id))
            return int(n)

    def close(self) -> None:
        self._db.close()

