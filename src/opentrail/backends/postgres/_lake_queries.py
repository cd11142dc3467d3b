"""Lake queries' state in PostgreSQL: `QueryRows` (lake/_query_rows.py) over the
`lake_queries`, `lake_query_stores`, `lake_query_rows` and `lake_delivered_results`
tables (migration 0016), shared by every node. Adding a query holds LAKE_QUERY_LOCK, so
the per-account limit of active queries holds with every node starting queries; every
other change is one statement (or one transaction) on the rows it names."""

from __future__ import annotations

from typing import Any

from opentrail.backends.postgres._db import LAKE_QUERY_LOCK, PgDb
from opentrail.lake._query_rows import DeliveredResult, NewQuery, QueryInfo

__all__ = ["PgQueryRows"]

INFO = ("SELECT id, account, owner, statement, status, created, started, ended, error, "
        "total, events_scanned, bytes_scanned, millis, delivery_uri, delivery_status, node, "
        "heartbeat FROM lake_queries")
ACTIVE_SQL = "status IN ('QUEUED', 'RUNNING')"


class PgQueryRows:
    def __init__(self, db: PgDb) -> None:
        self._db = db

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._db.transaction() as conn:
            return conn.execute(sql, args).fetchall()

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        with self._db.transaction() as conn:
            return conn.execute(sql, args).rowcount

    def add(self, query: NewQuery, stores: list[str], max_active: int) -> int:
        with self._db.transaction(LAKE_QUERY_LOCK) as conn:
            row = conn.execute(f"SELECT count(*) FROM lake_queries WHERE account = %s AND "
                               f"{ACTIVE_SQL}", (query.account,)).fetchone()
            active = int(row[0]) if row else 0
            if active >= max_active:
                return active
            conn.execute(
                "INSERT INTO lake_queries (id, account, owner, region, statement, status, "
                "created, delivery_uri, delivery_status, node, heartbeat) "
                "VALUES (%s, %s, %s, %s, %s, 'QUEUED', %s, %s, %s, %s, %s)",
                (query.id, query.account, query.owner, query.region, query.statement,
                 query.created, query.delivery_uri, query.delivery_status, query.node,
                 query.created))
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO lake_query_stores (store, query) VALUES (%s, %s) "
                                "ON CONFLICT DO NOTHING", [(s, query.id) for s in stores])
            return active

    def info(self, query_id: str) -> QueryInfo | None:
        rows = self._all(INFO + " WHERE id = %s", (query_id,))
        return QueryInfo(*rows[0]) if rows else None

    def details(self, query_id: str) -> tuple[str, bytes | None]:
        region, columns = self._all("SELECT region, columns FROM lake_queries WHERE id = %s",
                                    (query_id,))[0]
        return str(region), None if columns is None else bytes(columns)

    def set_running(self, query_id: str, now: float) -> None:
        self._run("UPDATE lake_queries SET status = 'RUNNING', started = %s WHERE id = %s "
                  "AND status = 'QUEUED'", (now, query_id))

    def set_scanned(self, query_id: str, events: int, scanned_bytes: int) -> None:
        self._run("UPDATE lake_queries SET events_scanned = %s, bytes_scanned = %s "
                  "WHERE id = %s", (events, scanned_bytes, query_id))

    def set_columns(self, query_id: str, columns: bytes) -> None:
        self._run("UPDATE lake_queries SET columns = %s WHERE id = %s", (columns, query_id))

    def add_rows(self, query_id: str, first: int, rows: list[bytes]) -> str:
        with self._db.transaction() as conn:
            with conn.cursor().copy("COPY lake_query_rows (query, n, row) FROM STDIN") as copy:
                for i, row in enumerate(rows):
                    copy.write_row((query_id, first + i, row))
            found = conn.execute("UPDATE lake_queries SET total = %s WHERE id = %s "
                                 "RETURNING status", (first + len(rows), query_id)).fetchone()
            return str(found[0]) if found else "FAILED"

    def end(self, query_id: str, status: str, error: str | None, now: float, millis: int,
            delivery: str | None) -> None:
        self._run("UPDATE lake_queries SET status = %s, error = %s, ended = %s, millis = %s, "
                  "delivery_status = CASE WHEN delivery_uri IS NULL THEN NULL "
                  "ELSE coalesce(%s, delivery_status) END "
                  f"WHERE id = %s AND {ACTIVE_SQL}",
                  (status, error, now, millis, delivery, query_id))

    def set_delivery_status(self, query_id: str, status: str) -> None:
        self._run("UPDATE lake_queries SET delivery_status = %s WHERE id = %s",
                  (status, query_id))

    def record_delivery(self, account: str, written: list[DeliveredResult]) -> None:
        with self._db.transaction() as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO lake_delivered_results (query, account, bucket, key, version_id,"
                " lock_mode, retain_until, delivered) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (query, key) DO UPDATE SET account = excluded.account, bucket ="
                " excluded.bucket, version_id = excluded.version_id, lock_mode = "
                "excluded.lock_mode, retain_until = excluded.retain_until, delivered = "
                "excluded.delivered",
                [(d.query, account, d.bucket, d.key, d.version_id, d.lock_mode,
                  d.retain_until, d.delivered) for d in written])

    def delivered(self, account: str, query_id: str) -> list[DeliveredResult]:
        rows = self._all("SELECT query, bucket, key, version_id, lock_mode, retain_until, "
                         "delivered FROM lake_delivered_results WHERE query = %s AND "
                         "account = %s ORDER BY key LIKE '%%/result_sign.json', key",
                         (query_id, account))
        return [DeliveredResult(*row) for row in rows]

    def rows(self, query_id: str, start: int, limit: int) -> list[bytes]:
        return [bytes(row) for (row,) in self._all(
            "SELECT row FROM lake_query_rows WHERE query = %s AND n >= %s ORDER BY n "
            "LIMIT %s", (query_id, start, limit))]

    def stores_of(self, query_id: str) -> list[str]:
        return [r[0] for r in self._all("SELECT store FROM lake_query_stores WHERE "
                                        "query = %s ORDER BY store", (query_id,))]

    def find(self, account: str, store: str, *, start: float | None, end: float | None,
             status: str | None, limit: int, offset: int) -> list[str]:
        return [qid for (qid,) in self._all(
            "SELECT q.id FROM lake_queries q JOIN lake_query_stores s ON s.query = q.id "
            "WHERE q.account = %(a)s AND s.store = %(s)s "
            "AND (%(lo)s::float8 IS NULL OR q.created >= %(lo)s) "
            "AND (%(hi)s::float8 IS NULL OR q.created <= %(hi)s) "
            "AND (%(st)s::text IS NULL OR q.status = %(st)s) "
            "ORDER BY q.created DESC, q.id LIMIT %(n)s OFFSET %(o)s",
            {"a": account, "s": store, "lo": start, "hi": end, "st": status, "n": limit,
             "o": offset})]  # type: ignore[arg-type]

    def purge(self, cutoff: float) -> int:
        with self._db.transaction() as conn:
            old = [r[0] for r in conn.execute(
                "DELETE FROM lake_queries WHERE ended IS NOT NULL AND ended < %s "
                "RETURNING id", (cutoff,)).fetchall()]
            if old:
                conn.execute("DELETE FROM lake_query_rows WHERE query = ANY(%s)", (old,))
                conn.execute("DELETE FROM lake_query_stores WHERE query = ANY(%s)", (old,))
        return len(old)

    def heartbeat(self, node: str, now: float, query_ids: list[str]) -> dict[str, str]:
        with self._db.transaction() as conn:
            conn.execute(f"UPDATE lake_queries SET heartbeat = %s WHERE node = %s AND "
                         f"{ACTIVE_SQL}", (now, node))
            rows = conn.execute("SELECT id, status FROM lake_queries WHERE id = ANY(%s)",
                                (query_ids,)).fetchall()
            return {str(qid): str(status) for qid, status in rows}

    def fail_orphans(self, error: str, now: float, *, node: str | None = None,
                     before: float | None = None) -> int:
        return self._run(
            "UPDATE lake_queries SET status = 'FAILED', error = %s, ended = %s, "
            "delivery_status = CASE WHEN delivery_uri IS NULL THEN NULL ELSE 'CANCELLED' END "
            f"WHERE {ACTIVE_SQL} AND (node = %s OR coalesce(heartbeat, created) < %s)",
            (error, now, node, before if before is not None else float("-inf")))

    def close(self) -> None:
        """The pool belongs to the backend, which closes it."""
