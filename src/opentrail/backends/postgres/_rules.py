"""Event rules' state in PostgreSQL: `RuleStore` (rules/_store.py) over the `rule*` tables
(migration 0012), shared by every node.

Invariants:
* A rule, target, connection or API destination written through any node is read by
  every node at once (no cache here; the engine re-arms when `version`, the
  `rule_changes` counter every change to rules or targets bumps by trigger, moves).
* The engine's cursor moves by compare-and-set (`advance`) in the transaction that adds
  its deliveries: the row lock on `rule_cursor` orders two engines, and the one whose
  expected value is gone writes nothing. The sender's term (`rule_sender_term`) is read
  in the same statement that picks due deliveries, so an older term gets none.
* Connection secrets are stored sealed (the key store's seal, itself sealed in the vault
  with the master key every node has), bound to the connection's ARN.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

import orjson

from opentrail.backends.postgres._db import Conn, PgDb
from opentrail.rules import ApiDestination, Connection, Delivery, Receipt, Rule, Sealer

__all__ = ["PgRuleStore"]

_RULE = "account, region, name, pattern, state, description, created"
_CONN = ("account, region, name, uuid, auth_type, params, description, state, created, "
         "modified, authorized")
_DEST = ("account, region, name, uuid, connection_arn, endpoint, method, rate, description, "
         "created, modified")
_DELIVERY = ("id, account, region, rule, target, event, enqueued, attempts, next_try, state, "
             "last_error")
_SCOPE = "account = %s AND region = %s AND name = %s"


class PgRuleStore:
    """Thread-safe: each call is one transaction on a pooled connection."""

    def __init__(self, db: PgDb, sealer: Sealer) -> None:
        self._db, self._sealer = db, sealer

    def close(self) -> None:
        """The pool belongs to the backend, which closes it."""

    def _all(self, sql: str, args: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._db.transaction() as conn:
            return conn.execute(sql, tuple(args)).fetchall()

    def _run(self, sql: str, args: Iterable[Any] = ()) -> int:
        with self._db.transaction() as conn:
            return conn.execute(sql, tuple(args)).rowcount

    def _many(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> None:
        with self._db.transaction() as conn, conn.cursor() as cur:
            cur.executemany(sql, list(rows))

    @property
    def version(self) -> int:
        return int(self._all("SELECT n FROM rule_changes WHERE id = 0")[0][0])

    # -- rules and targets -----------------------------------------------------------------

    def put_rule(self, rule: Rule) -> None:
        self._run(f"INSERT INTO rules ({_RULE}) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                  "ON CONFLICT (account, region, name) DO UPDATE SET pattern = "
                  "excluded.pattern, state = excluded.state, description = "
                  "excluded.description",
                  (rule.account, rule.region, rule.name, rule.pattern, rule.state,
                   rule.description, rule.created))

    def rule(self, account: str, region: str, name: str) -> Rule | None:
        rows = self._all(f"SELECT {_RULE} FROM rules WHERE {_SCOPE}", (account, region, name))
        return Rule(*rows[0]) if rows else None

    def rules(self, account: str, region: str, prefix: str = "") -> list[Rule]:
        rows = self._all(f"SELECT {_RULE} FROM rules WHERE account = %s AND region = %s AND "
                         "starts_with(name, %s) ORDER BY name", (account, region, prefix))
        return [Rule(*row) for row in rows]

    def all_rules(self) -> list[Rule]:
        return [Rule(*row) for row in self._all(f"SELECT {_RULE} FROM rules")]

    def set_state(self, account: str, region: str, name: str, state: str) -> None:
        self._run(f"UPDATE rules SET state = %s WHERE {_SCOPE}", (state, account, region, name))

    def delete_rule(self, account: str, region: str, name: str, arn: str) -> None:
        with self._db.transaction() as conn:
            conn.execute(f"DELETE FROM rules WHERE {_SCOPE}", (account, region, name))
            conn.execute("DELETE FROM rule_tags WHERE arn = %s", (arn,))

    def targets(self, account: str, region: str, rule: str) -> list[dict[str, Any]]:
        rows = self._all("SELECT body FROM rule_targets WHERE account = %s AND region = %s "
                         "AND rule = %s ORDER BY id", (account, region, rule))
        return [orjson.loads(row[0]) for row in rows]

    def all_targets(self) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
        out: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for account, region, rule, body in self._all(
                "SELECT account, region, rule, body FROM rule_targets ORDER BY id"):
            out.setdefault((account, region, rule), []).append(orjson.loads(body))
        return out

    def put_targets(self, account: str, region: str, rule: str,
                    targets: list[dict[str, Any]], limit: int | None = None) -> bool:
        """The rule's row is locked first, so two nodes adding targets to one rule take
        turns and the second counts the first's."""
        ids = {t["Id"] for t in targets}
        with self._db.transaction() as conn, conn.cursor() as cur:
            cur.execute(f"SELECT 1 FROM rules WHERE {_SCOPE} FOR UPDATE", (account, region, rule))
            if limit is not None:
                ids |= {row[0] for row in cur.execute(
                    "SELECT id FROM rule_targets WHERE account = %s AND region = %s AND "
                    "rule = %s", (account, region, rule))}
                if len(ids) > limit:
                    return False
            cur.executemany("INSERT INTO rule_targets (account, region, rule, id, body) "
                            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (account, region, rule, "
                            "id) DO UPDATE SET body = excluded.body",
                            [(account, region, rule, t["Id"], orjson.dumps(t))
                             for t in targets])
        return True

    def remove_targets(self, account: str, region: str, rule: str, ids: list[str]) -> None:
        self._run("DELETE FROM rule_targets WHERE account = %s AND region = %s AND rule = %s "
                  "AND id = ANY(%s)", (account, region, rule, list(ids)))

    # -- tags ------------------------------------------------------------------------------

    def tags(self, arn: str) -> dict[str, str]:
        rows = self._all("SELECT key, value FROM rule_tags WHERE arn = %s ORDER BY key", (arn,))
        return {str(key): str(value) for key, value in rows}

    def tag(self, arn: str, tags: dict[str, str]) -> None:
        self._many("INSERT INTO rule_tags (arn, key, value) VALUES (%s, %s, %s) ON CONFLICT "
                   "(arn, key) DO UPDATE SET value = excluded.value",
                   [(arn, k, v) for k, v in tags.items()])

    def untag(self, arn: str, keys: list[str]) -> None:
        self._run("DELETE FROM rule_tags WHERE arn = %s AND key = ANY(%s)", (arn, list(keys)))

    # -- connections -----------------------------------------------------------------------

    def save_connection(self, conn: Connection, secrets: dict[str, Any]) -> None:
        sealed = self._sealer.seal(conn.arn, orjson.dumps(secrets).decode())
        updates = ", ".join(f"{c.strip()} = excluded.{c.strip()}"
                            for c in (_CONN + ", sealed").split(",")[3:])
        self._run(f"INSERT INTO rule_connections ({_CONN}, sealed) VALUES "
                  f"({', '.join(['%s'] * 12)}) ON CONFLICT (account, region, name) "
                  f"DO UPDATE SET {updates}",
                  (conn.account, conn.region, conn.name, conn.uuid, conn.auth_type,
                   orjson.dumps(conn.params), conn.description, conn.state, conn.created,
                   conn.modified, conn.authorized, sealed))

    def connection(self, account: str, region: str, name: str) -> Connection | None:
        rows = self._all(f"SELECT {_CONN} FROM rule_connections WHERE {_SCOPE}",
                         (account, region, name))
        return _connection(rows[0]) if rows else None

    def connections(self, account: str, region: str, prefix: str = "") -> list[Connection]:
        rows = self._all(f"SELECT {_CONN} FROM rule_connections WHERE account = %s AND "
                         "region = %s AND starts_with(name, %s) ORDER BY name",
                         (account, region, prefix))
        return [_connection(row) for row in rows]

    def secrets(self, conn: Connection) -> dict[str, Any]:
        rows = self._all(f"SELECT sealed FROM rule_connections WHERE {_SCOPE}",
                         (conn.account, conn.region, conn.name))
        if not rows:
            return {}
        secrets: dict[str, Any] = orjson.loads(self._sealer.unseal(conn.arn, bytes(rows[0][0])))
        return secrets

    def delete_connection(self, account: str, region: str, name: str) -> None:
        self._run(f"DELETE FROM rule_connections WHERE {_SCOPE}", (account, region, name))

    # -- API destinations ------------------------------------------------------------------

    def save_destination(self, dest: ApiDestination) -> None:
        updates = ", ".join(f"{c.strip()} = excluded.{c.strip()}" for c in _DEST.split(",")[3:])
        self._run(f"INSERT INTO rule_destinations ({_DEST}) VALUES ({', '.join(['%s'] * 11)}) "
                  f"ON CONFLICT (account, region, name) DO UPDATE SET {updates}",
                  (dest.account, dest.region, dest.name, dest.uuid, dest.connection_arn,
                   dest.endpoint, dest.method, dest.rate, dest.description, dest.created,
                   dest.modified))

    def destination(self, account: str, region: str, name: str) -> ApiDestination | None:
        rows = self._all(f"SELECT {_DEST} FROM rule_destinations WHERE {_SCOPE}",
                         (account, region, name))
        return ApiDestination(*rows[0]) if rows else None

    def destinations(self, account: str, region: str, prefix: str = "",
                     connection_arn: str | None = None) -> list[ApiDestination]:
        rows = self._all(f"SELECT {_DEST} FROM rule_destinations WHERE account = %s AND "
                         "region = %s AND starts_with(name, %s) AND (%s::text IS NULL OR "
                         "connection_arn = %s) ORDER BY name",
                         (account, region, prefix, connection_arn, connection_arn))
        return [ApiDestination(*row) for row in rows]

    def delete_destination(self, account: str, region: str, name: str) -> None:
        self._run(f"DELETE FROM rule_destinations WHERE {_SCOPE}", (account, region, name))

    # -- the engine's cursor and the outbox ------------------------------------------------

    def cursor_or_none(self) -> int | None:
        rows = self._all("SELECT seq FROM rule_cursor WHERE name = 'ledger'")
        return int(rows[0][0]) if rows else None

    def enqueue(self, cursor: int, deliveries: list[Delivery]) -> None:
        with self._db.transaction() as conn:
            conn.execute("INSERT INTO rule_cursor (name, seq) VALUES ('ledger', %s) "
                         "ON CONFLICT (name) DO UPDATE SET seq = excluded.seq", (cursor,))
            _put(conn, deliveries)

    def advance(self, expected: int | None, cursor: int, deliveries: list[Delivery]) -> bool:
        with self._db.transaction() as conn:
            if expected is None:
                moved = conn.execute("INSERT INTO rule_cursor (name, seq) VALUES "
                                     "('ledger', %s) ON CONFLICT DO NOTHING", (cursor,))
            else:
                moved = conn.execute("UPDATE rule_cursor SET seq = %s WHERE name = 'ledger' "
                                     "AND seq = %s", (cursor, expected))
            if moved.rowcount != 1:
                return False
            _put(conn, deliveries)
            return True

    def fence(self) -> int:
        rows = self._all("UPDATE rule_sender_term SET n = n + 1 WHERE id = 0 RETURNING n")
        return int(rows[0][0])

    def due(self, now: float, limit: int, exclude: Collection[int] = (),
            term: int | None = None) -> list[Delivery]:
        rows = self._all(f"SELECT {_DELIVERY} FROM rule_outbox WHERE state = 'PENDING' AND "
                         "next_try <= %s AND NOT (id = ANY(%s)) AND (%s::bigint IS NULL OR "
                         "%s = (SELECT n FROM rule_sender_term WHERE id = 0)) "
                         "ORDER BY next_try, id LIMIT %s",
                         (now, list(exclude), term, term, limit))
        return [_delivery(row) for row in rows]

    def next_due(self) -> float | None:
        rows = self._all("SELECT min(next_try) FROM rule_outbox WHERE state = 'PENDING'")
        return None if rows[0][0] is None else float(rows[0][0])

    def delivered(self, ids: list[int], receipts: Iterable[Receipt] = ()) -> None:
        with self._db.transaction() as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM rule_outbox WHERE id = ANY(%s)", (list(ids),))
            rows = list(receipts)
            if rows:
                cur.executemany("INSERT INTO rule_receipts (account, region, rule, target, "
                                "kind, event_id, event_name, delivered) VALUES "
                                "(%s, %s, %s, %s, %s, %s, %s, %s)", rows)

    def receipts(self, limit: int) -> list[tuple[Any, ...]]:
        return self._all("SELECT id, account, region, rule, target, kind, event_id, "
                         "event_name, delivered FROM rule_receipts ORDER BY id LIMIT %s",
                         (limit,))

    def drop_receipts(self, through: int) -> None:
        self._run("DELETE FROM rule_receipts WHERE id <= %s", (through,))

    def retry(self, delivery_id: int, attempts: int, next_try: float, error: str) -> None:
        self._run("UPDATE rule_outbox SET attempts = %s, next_try = %s, last_error = %s "
                  "WHERE id = %s", (attempts, next_try, error[:1000], delivery_id))

    def dead(self, delivery_id: int, attempts: int, error: str) -> None:
        self._run("UPDATE rule_outbox SET state = 'DEAD', attempts = %s, last_error = %s "
                  "WHERE id = %s", (attempts, error[:1000], delivery_id))

    def dead_letters(self, account: str | None, limit: int = 200) -> list[Delivery]:
        rows = self._all(f"SELECT {_DELIVERY} FROM rule_outbox WHERE state = 'DEAD' AND "
                         "(%s::text IS NULL OR account = %s) ORDER BY id DESC LIMIT %s",
                         (account, account, limit))
        return [_delivery(row) for row in rows]

    def pending(self) -> int:
        return int(self._all("SELECT count(*) FROM rule_outbox WHERE state = 'PENDING'")[0][0])


def _put(conn: Conn, deliveries: list[Delivery]) -> None:
    if not deliveries:
        return
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO rule_outbox (account, region, rule, target, event, "
                        "enqueued, next_try) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                        [(d.account, d.region, d.rule, orjson.dumps(d.target),
                          orjson.dumps(d.event), d.enqueued, d.next_try) for d in deliveries])


def _connection(row: tuple[Any, ...]) -> Connection:
    values = list(row)
    values[5] = orjson.loads(values[5])
    return Connection(*values)


def _delivery(row: tuple[Any, ...]) -> Delivery:
    values = list(row)
    values[4], values[5] = orjson.loads(values[4]), orjson.loads(values[5])
    return Delivery(*values)
