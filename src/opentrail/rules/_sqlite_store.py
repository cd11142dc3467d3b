"""The embedded rule store (rules/_store.py's `RuleStore`): DATA_DIR/rules.db holds
rules, targets, tags, connections, API destinations, the engine's ledger cursor, the
delivery outbox and the receipts of successful deliveries. All of its SQL is here.

Invariants:
* The engine's cursor moves in the same transaction as the deliveries it enqueued, so a
  crash never loses or doubles a match (`enqueue`, `advance`: compare-and-set); cursor
  and outbox are written on their own connection (synchronous NORMAL: see `__init__`).
* `fence` bumps the sender term (`sender_term`); `due(term=)` answers an older term
  nothing.
* Connection secrets are stored only sealed with the master key (AES-GCM, bound to the
  connection's ARN); nothing here returns them except `secrets`, which the sender uses.
* Every read and change is scoped by (account, region): accounts never see each other.
* Every change to rules or targets bumps `changes.n` in its own transaction (triggers), so
  `version` tells a reader in any process (the engine's own) that its armed rules are stale.
* A delivery leaves the outbox in the transaction that adds its receipt, so each success
  is recorded once (a power cut may lose both: the delivery is then sent again).

backends/postgres/_rules.py implements the same interface over PostgreSQL.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any, TypeVar

import orjson

from opentrail.rules._model import ApiDestination, Connection, Delivery, Rule
from opentrail.rules._store import RULES_FILE, Receipt, Sealer

__all__ = ["SqliteRuleStore"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS rules (
    account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
    pattern TEXT, state TEXT NOT NULL, description TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (account, region, name));
CREATE TABLE IF NOT EXISTS targets (
    account TEXT NOT NULL, region TEXT NOT NULL, rule TEXT NOT NULL, id TEXT NOT NULL,
    body BLOB NOT NULL, PRIMARY KEY (account, region, rule, id));
CREATE TABLE IF NOT EXISTS tags (
    arn TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (arn, key));
CREATE TABLE IF NOT EXISTS connections (
    account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, uuid TEXT NOT NULL,
    auth_type TEXT NOT NULL, params BLOB NOT NULL, sealed BLOB NOT NULL,
    description TEXT NOT NULL, state TEXT NOT NULL, created REAL NOT NULL,
    modified REAL NOT NULL, authorized REAL NOT NULL, PRIMARY KEY (account, region, name));
CREATE TABLE IF NOT EXISTS api_destinations (
    account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, uuid TEXT NOT NULL,
    connection_arn TEXT NOT NULL, endpoint TEXT NOT NULL, method TEXT NOT NULL,
    rate INTEGER, description TEXT NOT NULL, created REAL NOT NULL, modified REAL NOT NULL,
    PRIMARY KEY (account, region, name));
CREATE TABLE IF NOT EXISTS cursor (name TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, rule TEXT NOT NULL,
    target BLOB NOT NULL, event BLOB NOT NULL, enqueued REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_try REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'PENDING', last_error TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_try);
CREATE TABLE IF NOT EXISTS receipts (
    id INTEGER PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, rule TEXT NOT NULL,
    target TEXT NOT NULL, kind TEXT NOT NULL, event_id TEXT, event_name TEXT,
    delivered REAL NOT NULL);
CREATE TABLE IF NOT EXISTS changes (id INTEGER PRIMARY KEY CHECK (id = 0), n INTEGER NOT NULL);
INSERT OR IGNORE INTO changes (id, n) VALUES (0, 0);
CREATE TABLE IF NOT EXISTS sender_term (id INTEGER PRIMARY KEY CHECK (id = 0),
    n INTEGER NOT NULL);
INSERT OR IGNORE INTO sender_term (id, n) VALUES (0, 0);
""" + "".join(
    f"CREATE TRIGGER IF NOT EXISTS {table}_{op.lower()} AFTER {op} ON {table} "
    "BEGIN UPDATE changes SET n = n + 1 WHERE id = 0; END;\n"
    for table in ("rules", "targets") for op in ("INSERT", "UPDATE", "DELETE"))

_RULE = "account, region, name, pattern, state, description, created"
_CONN = ("account, region, name, uuid, auth_type, params, description, state, created, "
         "modified, authorized")
_DEST = ("account, region, name, uuid, connection_arn, endpoint, method, rate, description, "
         "created, modified")
T = TypeVar("T")
_DELIVERY = ("id, account, region, rule, target, event, enqueued, attempts, next_try, state, "
             "last_error")


class SqliteRuleStore:
    """Thread-safe; one connection under a lock (every statement here is short)."""

    def __init__(self, data_dir: Path, sealer: Sealer) -> None:
        self._sealer = sealer
        self._lock = threading.RLock()
        self._db = sqlite3.connect(Path(data_dir) / RULES_FILE, isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(SCHEMA)
        # The engine's cursor and outbox have their own connection: the ledger is their
        # source of truth, so a power cut that loses their last commits (synchronous NORMAL
        # in WAL) only rewinds cursor and outbox together, and the engine redoes them; a
        # crash of the process loses nothing. Configuration keeps FULL on `_db`.
        self._flow_lock = threading.Lock()
        self._flow = sqlite3.connect(Path(data_dir) / RULES_FILE, isolation_level=None,
                                     check_same_thread=False)
        self._flow.execute("PRAGMA synchronous=NORMAL")
        self._flow.execute("PRAGMA busy_timeout=10000")

    @property
    def version(self) -> int:
        """Bumped by every change to rules or targets, by any process (the engine's cache)."""
        return int(self._rows("SELECT n FROM changes WHERE id = 0")[0][0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
        with self._flow_lock:
            self._flow.close()

    def _write(self, sql: str, args: Iterable[Any] = ()) -> int:
        with self._lock:
            count = self._db.execute(sql, tuple(args)).rowcount
            return count

    def _rows(self, sql: str, args: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    def _flow_rows(self, sql: str, args: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._flow_lock:
            return self._flow.execute(sql, tuple(args)).fetchall()

    # -- rules and targets -----------------------------------------------------------------

    def put_rule(self, rule: Rule) -> None:
        """Create, or replace all but the creation time of an existing rule."""
        self._write(f"INSERT INTO rules ({_RULE}) VALUES (?,?,?,?,?,?,?) ON CONFLICT "
                    "(account, region, name) DO UPDATE SET pattern=excluded.pattern, "
                    "state=excluded.state, description=excluded.description",
                    (rule.account, rule.region, rule.name, rule.pattern, rule.state,
                     rule.description, rule.created))

    def rule(self, account: str, region: str, name: str) -> Rule | None:
        rows = self._rows(f"SELECT {_RULE} FROM rules WHERE account=? AND region=? AND name=?",
                          (account, region, name))
        return Rule(*rows[0]) if rows else None

    def rules(self, account: str, region: str, prefix: str = "") -> list[Rule]:
        rows = self._rows(f"SELECT {_RULE} FROM rules WHERE account=? AND region=? AND "
                          "substr(name, 1, ?) = ? ORDER BY name",
                          (account, region, len(prefix), prefix))
        return [Rule(*row) for row in rows]

    def all_rules(self) -> list[Rule]:
        return [Rule(*row) for row in self._rows(f"SELECT {_RULE} FROM rules")]

    def set_state(self, account: str, region: str, name: str, state: str) -> None:
        self._write("UPDATE rules SET state=? WHERE account=? AND region=? AND name=?",
                    (state, account, region, name))

    def delete_rule(self, account: str, region: str, name: str, arn: str) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM rules WHERE account=? AND region=? AND name=?",
                             (account, region, name))
            self._db.execute("DELETE FROM tags WHERE arn=?", (arn,))
            self._db.execute("COMMIT")

    def targets(self, account: str, region: str, rule: str) -> list[dict[str, Any]]:
        rows = self._rows("SELECT body FROM targets WHERE account=? AND region=? AND rule=? "
                          "ORDER BY id", (account, region, rule))
        return [orjson.loads(row[0]) for row in rows]

    def all_targets(self) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
        out: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for account, region, rule, body in self._rows(
                "SELECT account, region, rule, body FROM targets ORDER BY id"):
            out.setdefault((account, region, rule), []).append(orjson.loads(body))
        return out

    def put_targets(self, account: str, region: str, rule: str,
                    targets: list[dict[str, Any]], limit: int | None = None) -> bool:
        """Add or replace targets by Id; False, nothing written, when the rule would then
        have more than `limit` (checked in the write's transaction)."""
        ids = {t["Id"] for t in targets}
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if limit is not None:
                    ids |= {row[0] for row in self._db.execute(
                        "SELECT id FROM targets WHERE account=? AND region=? AND rule=?",
                        (account, region, rule))}
                fits = limit is None or len(ids) <= limit
                if fits:
                    self._db.executemany(
                        "INSERT OR REPLACE INTO targets (account, region, rule, id, body) "
                        "VALUES (?,?,?,?,?)",
                        [(account, region, rule, t["Id"], orjson.dumps(t)) for t in targets])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return fits

    def remove_targets(self, account: str, region: str, rule: str, ids: list[str]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM targets WHERE account=? AND region=? AND "
                                 "rule=? AND id=?", [(account, region, rule, i) for i in ids])

    # -- tags ------------------------------------------------------------------------------

    def tags(self, arn: str) -> dict[str, str]:
        return dict(self._rows("SELECT key, value FROM tags WHERE arn=? ORDER BY key", (arn,)))

    def tag(self, arn: str, tags: dict[str, str]) -> None:
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO tags (arn, key, value) VALUES (?,?,?)",
                                 [(arn, k, v) for k, v in tags.items()])

    def untag(self, arn: str, keys: list[str]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM tags WHERE arn=? AND key=?",
                                 [(arn, k) for k in keys])

    # -- connections -----------------------------------------------------------------------

    def save_connection(self, conn: Connection, secrets: dict[str, Any]) -> None:
        """Insert or replace; `secrets` is sealed, bound to the connection's ARN."""
        sealed = self._sealer.seal(conn.arn, orjson.dumps(secrets).decode())
        self._write(f"INSERT OR REPLACE INTO connections ({_CONN}, sealed) VALUES "
                    "(?,?,?,?,?,?,?,?,?,?,?,?)",
                    (conn.account, conn.region, conn.name, conn.uuid, conn.auth_type,
                     orjson.dumps(conn.params), conn.description, conn.state, conn.created,
                     conn.modified, conn.authorized, sealed))

    def connection(self, account: str, region: str, name: str) -> Connection | None:
        rows = self._rows(f"SELECT {_CONN} FROM connections WHERE account=? AND region=? "
                          "AND name=?", (account, region, name))
        return _connection(rows[0]) if rows else None

    def connections(self, account: str, region: str, prefix: str = "") -> list[Connection]:
        rows = self._rows(f"SELECT {_CONN} FROM connections WHERE account=? AND region=? AND "
                          "substr(name, 1, ?) = ? ORDER BY name",
                          (account, region, len(prefix), prefix))
        return [_connection(row) for row in rows]

    def secrets(self, conn: Connection) -> dict[str, Any]:
        rows = self._rows("SELECT sealed FROM connections WHERE account=? AND region=? AND "
                          "name=?", (conn.account, conn.region, conn.name))
        if not rows:
            return {}
        secrets: dict[str, Any] = orjson.loads(self._sealer.unseal(conn.arn, rows[0][0]))
        return secrets

    def delete_connection(self, account: str, region: str, name: str) -> None:
        self._write("DELETE FROM connections WHERE account=? AND region=? AND name=?",
                    (account, region, name))

    # -- API destinations ------------------------------------------------------------------

    def save_destination(self, dest: ApiDestination) -> None:
        self._write(f"INSERT OR REPLACE INTO api_destinations ({_DEST}) VALUES "
                    "(?,?,?,?,?,?,?,?,?,?,?)",
                    (dest.account, dest.region, dest.name, dest.uuid, dest.connection_arn,
                     dest.endpoint, dest.method, dest.rate, dest.description, dest.created,
                     dest.modified))

    def destination(self, account: str, region: str, name: str) -> ApiDestination | None:
        rows = self._rows(f"SELECT {_DEST} FROM api_destinations WHERE account=? AND "
                          "region=? AND name=?", (account, region, name))
        return ApiDestination(*rows[0]) if rows else None

    def destinations(self, account: str, region: str, prefix: str = "",
                     connection_arn: str | None = None) -> list[ApiDestination]:
        rows = self._rows(f"SELECT {_DEST} FROM api_destinations WHERE account=? AND "
                          "region=? AND substr(name, 1, ?) = ? AND (? IS NULL OR "
                          "connection_arn = ?) ORDER BY name",
                          (account, region, len(prefix), prefix, connection_arn,
                           connection_arn))
        return [ApiDestination(*row) for row in rows]

    def delete_destination(self, account: str, region: str, name: str) -> None:
        self._write("DELETE FROM api_destinations WHERE account=? AND region=? AND name=?",
                    (account, region, name))

    # -- the engine's cursor and the outbox ------------------------------------------------

    def cursor_or_none(self) -> int | None:
        """The engine's ledger cursor; None before its first run."""
        rows = self._flow_rows("SELECT seq FROM cursor WHERE name='ledger'")
        return int(rows[0][0]) if rows else None

    def enqueue(self, cursor: int, deliveries: list[Delivery]) -> None:
        """Add deliveries and set the cursor, in one transaction."""
        with self._flow_lock:
            self._flow_txn(lambda: self._put_flow(cursor, deliveries))

    def advance(self, expected: int | None, cursor: int, deliveries: list[Delivery]) -> bool:
        """Add deliveries and move the cursor from `expected`, in one transaction; False
        (nothing written) when the stored cursor is not `expected`."""
        def put() -> bool:
            row = self._flow.execute("SELECT seq FROM cursor WHERE name='ledger'").fetchone()
            if (None if row is None else int(row[0])) != expected:
                return False
            self._put_flow(cursor, deliveries)
            return True

        with self._flow_lock:
            return self._flow_txn(put)

    def _flow_txn(self, body: Callable[[], T]) -> T:
        """`body()` in one write transaction of the flow connection (its lock held)."""
        self._flow.execute("BEGIN IMMEDIATE")
        try:
            result = body()
            self._flow.execute("COMMIT")
            return result
        except BaseException:
            self._flow.execute("ROLLBACK")
            raise

    def _put_flow(self, cursor: int, deliveries: list[Delivery]) -> None:
        self._flow.executemany(
            "INSERT INTO outbox (account, region, rule, target, event, enqueued, "
            "next_try) VALUES (?,?,?,?,?,?,?)",
            [(d.account, d.region, d.rule, orjson.dumps(d.target), orjson.dumps(d.event),
              d.enqueued, d.next_try) for d in deliveries])
        self._flow.execute("INSERT OR REPLACE INTO cursor (name, seq) VALUES ('ledger', ?)",
                           (cursor,))

    def fence(self) -> int:
        def bump() -> int:
            self._flow.execute("UPDATE sender_term SET n = n + 1 WHERE id = 0")
            return int(self._flow.execute("SELECT n FROM sender_term").fetchone()[0])

        with self._flow_lock:
            return self._flow_txn(bump)

    def due(self, now: float, limit: int, exclude: Collection[int] = (),
            term: int | None = None) -> list[Delivery]:
        """Pending deliveries due by `now`, oldest first, but those in `exclude` (the
        sender's in-flight ones: not decoded again on every pass); none for a `term`
        older than the latest `fence`."""
        skip = f" AND id NOT IN ({','.join('?' * len(exclude))})" if exclude else ""
        rows = self._flow_rows(f"SELECT {_DELIVERY} FROM outbox WHERE state='PENDING' AND "
                               f"next_try <= ?{skip} AND (? IS NULL OR ? = (SELECT n FROM "
                               "sender_term)) ORDER BY next_try, id LIMIT ?",
                               (now, *exclude, term, term, limit))
        return [_delivery(row) for row in rows]

    def next_due(self) -> float | None:
        rows = self._flow_rows("SELECT MIN(next_try) FROM outbox WHERE state='PENDING'")
        return None if rows[0][0] is None else float(rows[0][0])

    def delivered(self, ids: list[int], receipts: Iterable[Receipt] = ()) -> None:
        """These deliveries reached their targets: out of the outbox and their receipts
        in (for the AlertDelivered records, rules/_receipts.py), in one transaction."""
        def put() -> None:
            self._flow.executemany("DELETE FROM outbox WHERE id=?", [(i,) for i in ids])
            self._flow.executemany(
                "INSERT INTO receipts (account, region, rule, target, kind, event_id, "
                "event_name, delivered) VALUES (?,?,?,?,?,?,?,?)", receipts)

        with self._flow_lock:
            self._flow_txn(put)

    def receipts(self, limit: int) -> list[tuple[Any, ...]]:
        """Receipts not yet published, oldest first: (id, account, region, rule, target,
        kind, event_id, event_name, delivered)."""
        return self._flow_rows("SELECT id, account, region, rule, target, kind, event_id, "
                               "event_name, delivered FROM receipts ORDER BY id LIMIT ?",
                               (limit,))

    def drop_receipts(self, through: int) -> None:
        """Receipts up to id `through` are in the ledger."""
        with self._flow_lock:
            self._flow.execute("DELETE FROM receipts WHERE id <= ?", (through,))

    def retry(self, delivery_id: int, attempts: int, next_try: float, error: str) -> None:
        with self._flow_lock:
            self._flow.execute("UPDATE outbox SET attempts=?, next_try=?, last_error=? "
                             "WHERE id=?", (attempts, next_try, error[:1000], delivery_id))

    def dead(self, delivery_id: int, attempts: int, error: str) -> None:
        with self._flow_lock:
            self._flow.execute("UPDATE outbox SET state='DEAD', attempts=?, last_error=? "
                             "WHERE id=?", (attempts, error[:1000], delivery_id))

    def dead_letters(self, account: str | None, limit: int = 200) -> list[Delivery]:
        rows = self._flow_rows(f"SELECT {_DELIVERY} FROM outbox WHERE state='DEAD' AND "
                          "(? IS NULL OR account=?) ORDER BY id DESC LIMIT ?",
                          (account, account, limit))
        return [_delivery(row) for row in rows]

    def pending(self) -> int:
        return int(self._flow_rows("SELECT COUNT(*) FROM outbox WHERE state='PENDING'")[0][0])


def _connection(row: tuple[Any, ...]) -> Connection:
    values = list(row)
    values[5] = orjson.loads(values[5])
    return Connection(*values)


def _delivery(row: tuple[Any, ...]) -> Delivery:
    values = list(row)
    values[4], values[5] = orjson.loads(values[4]), orjson.loads(values[5])
    return Delivery(*values)
