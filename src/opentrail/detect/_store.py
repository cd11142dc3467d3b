"""The findings store: each finding's state (open / acknowledged) and the detector's cursor.

`FindingStore` is the interface; `SqliteFindingStore` (DATA_DIR/findings.db) is the only
module of detect/ that holds SQL, and backends/postgres/_findings.py answers the same
calls from tables every node shares (`Backend.findings()` hands out one or the other).
The finding itself is also in the ledger (tamper-evident); this store is derived state
plus the acknowledgement. `save` commits a batch's findings together with the cursor that
covers them, so a crash never loses or doubles one, and moves the cursor only from the
value the batch started at (compare-and-set): a detector that lost its role to another
node without noticing stores nothing. It is also the outbox the publisher appends to the
ledger from (`unpublished`, then `mark_published` once the ledger acknowledged them).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from opentrail.detect._finding import Finding

__all__ = ["FINDINGS_FILE", "STATES", "FindingStore", "SqliteFindingStore", "StoredFinding",
           "detail_text", "stored_finding"]

FINDINGS_FILE = "findings.db"
STATES = ("open", "acknowledged")

SCHEMA = """
CREATE TABLE IF NOT EXISTS findings (
    id TEXT PRIMARY KEY,            -- the finding record's eventID in the ledger
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    created REAL NOT NULL,          -- epoch seconds the rule matched
    state TEXT NOT NULL DEFAULT 'open',
    acknowledged_by TEXT,
    acknowledged_at REAL,
    detail TEXT NOT NULL,           -- serviceEventDetails (JSON)
    published INTEGER NOT NULL DEFAULT 0  -- 1 once the ledger holds the finding record
);
CREATE INDEX IF NOT EXISTS findings_unpublished ON findings (created) WHERE published = 0;
CREATE INDEX IF NOT EXISTS findings_by_account ON findings (account, created, id);
CREATE INDEX IF NOT EXISTS findings_by_time ON findings (created, id);
CREATE TABLE IF NOT EXISTS cursor (name TEXT PRIMARY KEY, seq INTEGER NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class StoredFinding:
    finding: Finding
    state: str
    acknowledged_by: str | None
    acknowledged_at: float | None

    def describe(self) -> dict[str, Any]:
        """The finding as the API, the CLI and the console show it."""
        f = self.finding
        return {"findingId": f.id, "accountId": f.account, "region": f.region,
                "createdAt": f.created, "state": self.state,
                "acknowledgedBy": self.acknowledged_by, "acknowledgedAt": self.acknowledged_at,
                **f.detail}


class FindingStore(Protocol):
    def cursor(self) -> int | None: ...

    def save(self, findings: Sequence[Finding], cursor: int, start: int | None) -> bool:
        """Store `findings` (one already stored is kept) and move the cursor from `start`
        (None: no cursor yet) to `cursor`, in one transaction; False, storing nothing,
        when the cursor is not at `start` (another detector moved it)."""
        ...

    def listed(self, accounts: tuple[str, ...] | None, state: str | None, limit: int,
             after: tuple[float, str] | None = None) -> list[StoredFinding]: ...

    def acknowledge(self, finding_id: str, accounts: tuple[str, ...] | None, by: str,
                    now: float) -> StoredFinding | None: ...

    def unpublished(self, limit: int) -> list[Finding]: ...

    def mark_published(self, ids: Sequence[str]) -> None: ...

    def close(self) -> None: ...


class SqliteFindingStore:
    """findings.db; one connection behind a lock (the detector writes, the API reads)."""

    def __init__(self, data_dir: Path) -> None:
        self._db = sqlite3.connect(data_dir / FINDINGS_FILE, isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)  # the detector's process and the server share it
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def cursor(self) -> int | None:
        with self._lock:
            row = self._db.execute("SELECT seq FROM cursor WHERE name = 'ledger'").fetchone()
        return None if row is None else int(row[0])

    def save(self, findings: Sequence[Finding], cursor: int, start: int | None) -> bool:
        rows = [(f.id, f.account, f.region, f.created, detail_text(f)) for f in findings]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT seq FROM cursor WHERE name = 'ledger'").fetchone()
                if (None if row is None else int(row[0])) != start:
                    self._db.execute("ROLLBACK")
                    return False
                self._db.executemany(
                    "INSERT OR IGNORE INTO findings (id, account, region, created, detail) "
                    "VALUES (?, ?, ?, ?, ?)", rows)
                self._db.execute("INSERT OR REPLACE INTO cursor VALUES ('ledger', ?)",
                                 (cursor,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return True

    def listed(self, accounts: tuple[str, ...] | None, state: str | None, limit: int,
             after: tuple[float, str] | None = None) -> list[StoredFinding]:
        """Newest first; `accounts` None means every account; `after` is the last
        (created, id) of the previous page."""
        where, args = _scope(accounts)
        if state is not None:
            where.append("state = ?")
            args.append(state)
        if after is not None:
            where.append("(created < ? OR (created = ? AND id < ?))")
            args += [after[0], after[0], after[1]]
        sql = (f"SELECT {_COLUMNS} FROM findings"
               + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY created DESC, id DESC LIMIT ?")
        with self._lock:
            rows = self._db.execute(sql, [*args, limit]).fetchall()
        return [stored_finding(row) for row in rows]

    def acknowledge(self, finding_id: str, accounts: tuple[str, ...] | None, by: str,
                    now: float) -> StoredFinding | None:
        """Acknowledge an open finding (an acknowledged one keeps its first ack); None when
        no finding of `accounts` has that id."""
        where, args = _scope(accounts)
        cond = " AND ".join(["id = ?", *where])
        with self._lock:
            self._db.execute(
                f"UPDATE findings SET state = 'acknowledged', acknowledged_by = ?, "
                f"acknowledged_at = ? WHERE {cond} AND state = 'open'",
                [by, now, finding_id, *args])
            row = self._db.execute(f"SELECT {_COLUMNS} FROM findings WHERE {cond}",
                                   [finding_id, *args]).fetchone()
        return None if row is None else stored_finding(row)

    def unpublished(self, limit: int) -> list[Finding]:
        """Findings saved but not yet in the ledger, oldest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM findings WHERE published = 0 ORDER BY created, id "
                "LIMIT ?", (limit,)).fetchall()
        return [stored_finding(row).finding for row in rows]

    def mark_published(self, ids: Sequence[str]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("UPDATE findings SET published = 1 WHERE id = ?",
                                     [(i,) for i in ids])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise


_COLUMNS = "id, account, region, created, state, acknowledged_by, acknowledged_at, detail"


def _scope(accounts: tuple[str, ...] | None) -> tuple[list[str], list[Any]]:
    if accounts is None:
        return [], []
    marks = ",".join("?" * len(accounts)) or "NULL"
    return [f"account IN ({marks})"], list(accounts)


def detail_text(finding: Finding) -> str:
    """How a finding's serviceEventDetails are stored (JSON text, on both backends)."""
    return orjson.dumps(finding.detail).decode()


def stored_finding(row: tuple[Any, ...]) -> StoredFinding:
    """A stored finding from its row: id, account, region, created, state,
    acknowledged_by, acknowledged_at, detail (the columns both backends select)."""
    fid, account, region, created, state, by, at, detail = row
    return StoredFinding(Finding(fid, account, region, created, orjson.loads(detail)),
                         state, by, at)


