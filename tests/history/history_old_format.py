"""history.db as the release before packed postings wrote it (user_version 0): one b-tree
row per (term, event), and the SQL its LookupEvents ran. Kept as a fixture so the
upgrade can be tested against what that release answered."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson

from opentrail.history import HISTORY_FILE, LookupQuery, lookup_terms
from opentrail.ledger import open_ledger_reader

OLD_SCHEMA = """
CREATE TABLE terms (
    id       INTEGER PRIMARY KEY,
    account  TEXT    NOT NULL,
    region   TEXT    NOT NULL,
    category INTEGER NOT NULL,
    attr     INTEGER NOT NULL,
    value    TEXT    NOT NULL,
    n        INTEGER NOT NULL DEFAULT 0,
    UNIQUE (account, region, category, attr, value)
);
CREATE TABLE postings (
    term INTEGER NOT NULL,
    time INTEGER NOT NULL,
    seq  INTEGER NOT NULL,
    PRIMARY KEY (term, time, seq)
) WITHOUT ROWID;
CREATE TABLE cursor (name TEXT PRIMARY KEY, seq INTEGER NOT NULL);
"""


def write_old_history(data_dir: Path) -> None:
    """Index the whole ledger into history.db the old way."""
    conn = sqlite3.connect(data_dir / HISTORY_FILE, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(OLD_SCHEMA)
    ledger = open_ledger_reader(data_dir)
    rows = ledger.rows(0, 10**9)
    ledger.close()
    ids: dict[tuple[object, ...], int] = {}
    conn.execute("BEGIN")
    for row in rows:
        if row.body is None:
            continue
        for attr, value in lookup_terms(orjson.loads(row.body)):
            key = (row.account, row.region, row.category, int(attr), value)
            if key not in ids:
                ids[key] = conn.execute(
                    "INSERT INTO terms (account, region, category, attr, value) "
                    "VALUES (?,?,?,?,?) RETURNING id", key).fetchone()[0]
            conn.execute("INSERT INTO postings VALUES (?,?,?)",
                         (ids[key], row.event_time, row.seq))
            conn.execute("UPDATE terms SET n = n + 1 WHERE id = ?", (ids[key],))
    conn.execute("INSERT INTO cursor VALUES ('ledger', ?)", (rows[-1].seq + 1,))
    conn.execute("COMMIT")
    conn.close()


def old_lookup(data_dir: Path, query: LookupQuery, lo: int, hi: int) -> list[int]:
    """The seqs the old release's term scan found, newest first (every page at once)."""
    conn = sqlite3.connect(f"file:{data_dir / HISTORY_FILE}?mode=ro", uri=True)
    try:
        accounts = query.accounts or [
            a for (a,) in conn.execute("SELECT DISTINCT account FROM terms")]
        hits: list[tuple[int, int]] = []
        for account in accounts:
            terms = []
            for attr, value in set(query.terms) or {(0, "")}:
                row = conn.execute(
                    "SELECT id, n FROM terms WHERE account=? AND region=? AND category=? "
                    "AND attr=? AND value=?",
                    (account, query.region, int(query.category), int(attr), value)).fetchone()
                terms.append(row)
            if None in terms:
                continue
            ids = [t for t, _ in sorted(terms, key=lambda r: r[1])]
            exists = "".join(" AND EXISTS (SELECT 1 FROM postings q WHERE q.term = ? AND "
                             "q.time = p.time AND q.seq = p.seq)" for _ in ids[1:])
            hits += conn.execute(
                "SELECT p.time, p.seq FROM postings p WHERE p.term = ? AND p.time >= ? "
                "AND p.time <= ?" + exists, [ids[0], lo, hi, *ids[1:]]).fetchall()
    finally:
        conn.close()
    return [s for _, s in sorted(hits, reverse=True)]
