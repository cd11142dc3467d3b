"""Lake imports' state in PostgreSQL: `ImportRows` (lake/_import_rows.py) over the
`lake_imports`, `lake_import_done` and `lake_import_failures` tables (migration 0016),
shared by every node. Starting or retrying an import holds LAKE_IMPORT_LOCK, so "one
ongoing import per account" holds with every node taking StartImport; file numbers are
taken with one atomic UPDATE, and a file marked done twice (two nodes that both believed
they ran the import) is counted once."""

from __future__ import annotations

from typing import Any

from opentrail.backends.postgres._db import LAKE_IMPORT_LOCK, Conn, PgDb
from opentrail.lake._import_rows import Failure, Import, NewImport, import_of

__all__ = ["PgImportRows"]

SELECT = ("SELECT id, account, store_id, store_arn, source, start_time, end_time, status, "
          "created, updated, prefixes_found, prefixes_completed, files_completed, "
          "events_completed, (SELECT count(*) FROM lake_import_failures f WHERE "
          "f.import_id = i.id AND f.status != 'SUCCEEDED') FROM lake_imports i")
ONGOING_SQL = "status IN ('INITIALIZING', 'IN_PROGRESS')"


def _ongoing(conn: Conn, account: str) -> str | None:
    row = conn.execute(f"SELECT id FROM lake_imports WHERE account = %s AND {ONGOING_SQL} "
                       "LIMIT 1", (account,)).fetchone()
    return None if row is None else str(row[0])


class PgImportRows:
    def __init__(self, db: PgDb) -> None:
        self._db = db

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._db.transaction() as conn:
            return conn.execute(sql, args).fetchall()

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> None:
        with self._db.transaction() as conn:
            conn.execute(sql, args)

    def add(self, new: NewImport) -> str | None:
        with self._db.transaction(LAKE_IMPORT_LOCK) as conn:
            if (ongoing := _ongoing(conn, new.account)) is not None:
                return ongoing
            conn.execute("INSERT INTO lake_imports (id, account, store_id, store_arn, "
                         "source, start_time, end_time, status, created, updated) VALUES "
                         "(%s, %s, %s, %s, %s, %s, %s, 'INITIALIZING', %s, %s)",
                         (*new, new.created))
        return None

    def retry(self, account: str, import_id: str, now: float) -> str | None:
        with self._db.transaction(LAKE_IMPORT_LOCK) as conn:
            if (ongoing := _ongoing(conn, account)) is not None:
                return ongoing
            conn.execute("UPDATE lake_imports SET status = 'INITIALIZING', updated = %s "
                         "WHERE id = %s", (now, import_id))
            conn.execute("UPDATE lake_import_failures SET status = 'RETRY', updated = %s "
                         "WHERE import_id = %s AND status = 'FAILED'", (now, import_id))
        return None

    def get(self, import_id: str, account: str | None = None) -> Import | None:
        rows = self._all(SELECT + " WHERE id = %s AND (%s::text IS NULL OR account = %s)",
                         (import_id, account, account))
        return import_of(rows[0]) if rows else None

    def stop(self, import_id: str, now: float) -> None:
        self._run(f"UPDATE lake_imports SET status = 'STOPPED', updated = %s WHERE id = %s "
                  f"AND {ONGOING_SQL}", (now, import_id))

    def find(self, account: str, store_id: str | None, status: str | None) -> list[Import]:
        return [import_of(r) for r in self._all(
            SELECT + " WHERE account = %s AND (%s::text IS NULL OR store_id = %s) AND "
            "(%s::text IS NULL OR status = %s) ORDER BY created, id",
            (account, store_id, store_id, status, status))]

    def failures(self, account: str, import_id: str) -> list[Failure]:
        return [Failure(*r) for r in self._all(
            "SELECT f.location, f.status, f.error_type, f.message, f.updated FROM "
            "lake_import_failures f JOIN lake_imports i ON i.id = f.import_id WHERE "
            "f.import_id = %s AND i.account = %s ORDER BY f.location", (import_id, account))]

    def ongoing_in(self, store_id: str) -> str | None:
        rows = self._all(f"SELECT id FROM lake_imports WHERE store_id = %s AND {ONGOING_SQL}"
                         " LIMIT 1", (store_id,))
        return str(rows[0][0]) if rows else None

    def next_ongoing(self) -> Import | None:
        rows = self._all(SELECT + f" WHERE {ONGOING_SQL} ORDER BY updated, id LIMIT 1")
        return import_of(rows[0]) if rows else None

    def status(self, import_id: str) -> str | None:
        rows = self._all("SELECT status FROM lake_imports WHERE id = %s", (import_id,))
        return str(rows[0][0]) if rows else None

    def fail(self, import_id: str, location: str, error_type: str, message: str,
             now: float) -> None:
        self._run("INSERT INTO lake_import_failures (import_id, location, status, "
                  "error_type, message, updated) VALUES (%s, %s, 'FAILED', %s, %s, %s) "
                  "ON CONFLICT (import_id, location) DO UPDATE SET status = 'FAILED', "
                  "error_type = excluded.error_type, message = excluded.message, "
                  "updated = excluded.updated", (import_id, location, error_type, message, now))

    def finish(self, import_id: str, now: float) -> None:
        with self._db.transaction() as conn:
            row = conn.execute("SELECT count(*) FROM lake_import_failures WHERE import_id = %s"
                               " AND status != 'SUCCEEDED'", (import_id,)).fetchone()
            failed = bool(row and row[0])
            conn.execute("UPDATE lake_import_failures SET status = 'FAILED' WHERE "
                         "import_id = %s AND status = 'RETRY'", (import_id,))
            conn.execute(f"UPDATE lake_imports SET status = %s, updated = %s WHERE id = %s "
                         f"AND {ONGOING_SQL}", ("FAILED" if failed else "COMPLETED", now,
                                                import_id))

    def done(self, import_id: str) -> set[str]:
        return {str(loc) for (loc,) in self._all(
            "SELECT location FROM lake_import_done WHERE import_id = %s", (import_id,))}

    def begin(self, import_id: str, prefixes_found: int, prefixes_completed: int,
              now: float) -> None:
        self._run(f"UPDATE lake_imports SET status = 'IN_PROGRESS', prefixes_found = %s, "
                  f"prefixes_completed = %s, updated = %s WHERE id = %s AND {ONGOING_SQL}",
                  (prefixes_found, prefixes_completed, now, import_id))

    def prefix_done(self, import_id: str, now: float) -> None:
        self._run("UPDATE lake_imports SET prefixes_completed = prefixes_completed + 1, "
                  "updated = %s WHERE id = %s", (now, import_id))

    def flush(self, import_id: str, locations: list[str], events: int, now: float) -> None:
        with self._db.transaction() as conn:
            new = conn.execute("INSERT INTO lake_import_done (import_id, location) "
                               "SELECT %s, unnest(%s::text[]) ON CONFLICT DO NOTHING",
                               (import_id, locations)).rowcount
            conn.execute("UPDATE lake_import_failures SET status = 'SUCCEEDED', updated = %s"
                         " WHERE import_id = %s AND location = ANY(%s)",
                         (now, import_id, locations))
            conn.execute("UPDATE lake_imports SET files_completed = files_completed + %s, "
                         "events_completed = events_completed + %s, updated = %s "
                         "WHERE id = %s", (max(new, 0), events, now, import_id))

    def take_file_number(self, import_id: str) -> int:
        with self._db.transaction() as conn:
            row = conn.execute("UPDATE lake_imports SET next_file = next_file + 1 WHERE "
                               "id = %s RETURNING next_file - 1", (import_id,)).fetchone()
        if row is None:
            raise KeyError(f"no import {import_id}")
        return int(row[0])

    def close(self) -> None:
        """The pool belongs to the backend, which closes it."""
