"""PostgreSQL schema migrations: numbered SQL files, applied in order, recorded.

`migrations/NNNN_what.sql` are this backend's own (SQLite's stores create theirs in
place). `schema_version` holds one row per applied migration; `migrate` applies the
missing ones, each in its own transaction with its row, under a session advisory lock so
nodes starting together migrate once. A database whose version is newer than the newest
file here is refused (SchemaTooNew, naming both numbers): this release would not know
its tables. Migrations only ever add; a released file never changes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

from opentrail.backends._errors import SchemaTooNew
from opentrail.backends.postgres._db import MIGRATION_LOCK, Conn

__all__ = ["LATEST", "MIGRATIONS", "Migration", "migrate", "schema_version"]

_FILE = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")
_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version integer PRIMARY KEY,
    name    text NOT NULL,
    applied timestamptz NOT NULL DEFAULT now()
)
"""


class Migration(NamedTuple):
    version: int
    name: str
    sql: str


def _load() -> tuple[Migration, ...]:
    found = []
    for path in sorted((Path(__file__).parent / "migrations").glob("*.sql")):
        match = _FILE.fullmatch(path.name)
        if match is None:
            raise RuntimeError(f"{path.name} is not named NNNN_what.sql")
        found.append(Migration(int(match.group(1)), match.group(2), path.read_text()))
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError("PostgreSQL migrations must be numbered 0001, 0002, ... without gaps")
    return tuple(found)


MIGRATIONS = _load()
LATEST = MIGRATIONS[-1].version


def schema_version(conn: Conn) -> int:
    """The newest migration applied (0 for a database OpenTrail never touched)."""
    row = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return 0
    found = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(found[0]) if found else 0


def migrate(conn: Conn, where: str,
            target: int = LATEST) -> int:
    """Bring the database to `target` (this release's newest by default); returns the
    version it was at. `conn` is in autocommit mode."""
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        found = schema_version(conn)
        if found > LATEST:
            raise SchemaTooNew(found, LATEST, where)
        if found < target:
            conn.execute(_TABLE)
        for migration in MIGRATIONS:
            if found < migration.version <= target:
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute("INSERT INTO schema_version (version, name) VALUES (%s, %s)",
                                 (migration.version, migration.name))
        return found
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
