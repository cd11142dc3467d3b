"""Trail delivery's state in PostgreSQL: `DeliveryRows` (trails/_delivery_rows.py) over
the `delivery_*` tables (migration 0008), shared by every node. Writes hold
DELIVERY_LOCK (one at a time, cluster-wide), and a cursor moves only from the value its
writer read (`move` is compare-and-set), so a node that still believes it holds the
trail-delivery role after losing it cannot move a cursor the new holder moved: its
transaction, outbox files included, is rolled back."""

from __future__ import annotations

from typing import Any

from opentrail.backends.postgres._db import DELIVERY_LOCK, Conn, LockedRows, PgDb
from opentrail.trails._delivery_rows import StoredCursor, StoredOutgoing
from opentrail.trails._record import DeliveredObject

__all__ = ["PgDeliveryRows"]


class _Tx:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def _all(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, args).fetchall()

    def cursor(self, arn: str) -> StoredCursor | None:
        rows = self._all("SELECT created, seq, period, last_run FROM delivery_cursors "
                         "WHERE arn = %s", (arn,))
        return StoredCursor(*rows[0]) if rows else None

    def known(self) -> list[tuple[str, float]]:
        return [(r[0], r[1]) for r in self._all("SELECT arn, created FROM delivery_cursors",
                                                ())]

    def set_cursor(self, arn: str, cursor: StoredCursor) -> None:
        self._conn.execute("INSERT INTO delivery_cursors (arn, created, seq, period, "
                           "last_run) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (arn) DO UPDATE "
                           "SET created = excluded.created, seq = excluded.seq, period = "
                           "excluded.period, last_run = excluded.last_run", (arn, *cursor))

    def move(self, arn: str, expected: int, seq: int, last_run: float) -> bool:
        return self._conn.execute("UPDATE delivery_cursors SET seq = %s, last_run = %s "
                                  "WHERE arn = %s AND seq = %s",
                                  (seq, last_run, arn, expected)).rowcount == 1

    def forget(self, arn: str) -> None:
        for table in ("delivery_cursors", "delivery_outbox", "delivery_undigested",
                      "delivery_chains"):
            self._conn.execute(f"DELETE FROM {table} WHERE arn = %s", (arn,))

    def outbox(self, arn: str) -> list[StoredOutgoing]:
        rows = self._all("SELECT id, kind, bucket, key, body, metadata FROM delivery_outbox "
                         "WHERE arn = %s ORDER BY id", (arn,))
        return [StoredOutgoing(r[0], r[1], r[2], r[3], bytes(r[4]), r[5]) for r in rows]

    def put_outbox(self, arn: str, kind: str, bucket: str, key: str, body: bytes,
                   metadata: str, seqs: tuple[int, int] | None, created: float) -> None:
        self._conn.execute("INSERT INTO delivery_outbox (arn, kind, bucket, key, body, "
                           "metadata, first_seq, last_seq, created) VALUES "
                           "(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                           (arn, kind, bucket, key, body, metadata,
                            *(seqs or (None, None)), created))

    def done(self, outbox_id: int, delivered: float, version_id: str | None,
             lock_mode: str | None, retain_until: float | None) -> None:
        self._conn.execute("INSERT INTO delivery_record (arn, kind, bucket, key, first_seq, "
                           "last_seq, created, delivered, version_id, lock_mode, "
                           "retain_until) SELECT arn, kind, bucket, key, first_seq, last_seq, "
                           "created, %s, %s, %s, %s FROM delivery_outbox WHERE id = %s",
                           (delivered, version_id, lock_mode, retain_until, outbox_id))
        self._conn.execute("DELETE FROM delivery_outbox WHERE id = %s", (outbox_id,))

    def chains(self, arn: str) -> list[tuple[str, float, str | None]]:
        return [(r[0], r[1], r[2]) for r in self._all(
            "SELECT chain, start, prev FROM delivery_chains WHERE arn = %s ORDER BY chain",
            (arn,))]

    def open_chain(self, arn: str, chain: str, start: float, like: str | None = None) -> None:
        self._conn.execute("INSERT INTO delivery_chains (arn, chain, start, prev) SELECT "
                           "%s, %s, COALESCE((SELECT start FROM delivery_chains WHERE "
                           "arn = %s AND chain = %s), %s), NULL ON CONFLICT DO NOTHING",
                           (arn, chain, arn, like, start))

    def advance_chain(self, arn: str, chain: str, start: float, prev: str) -> None:
        self._conn.execute("UPDATE delivery_chains SET start = %s, prev = %s "
                           "WHERE arn = %s AND chain = %s", (start, prev, arn, chain))

    def drop_chains(self, arn: str, chain: str | None = None) -> None:
        if chain is None:
            self._conn.execute("DELETE FROM delivery_chains WHERE arn = %s", (arn,))
        else:
            self._conn.execute("DELETE FROM delivery_chains WHERE arn = %s AND chain = %s",
                               (arn, chain))

    def undigested(self, arn: str, chain: str) -> list[tuple[int, str]]:
        return [(r[0], r[1]) for r in self._all(
            "SELECT id, file FROM delivery_undigested WHERE arn = %s AND chain = %s "
            "ORDER BY id", (arn, chain))]

    def add_undigested(self, arn: str, chain: str, file: str) -> None:
        self._conn.execute("INSERT INTO delivery_undigested (arn, chain, file) "
                           "VALUES (%s, %s, %s)", (arn, chain, file))

    def drop_undigested(self, arn: str, ids: list[int] | None = None) -> None:
        if ids is None:
            self._conn.execute("DELETE FROM delivery_undigested WHERE arn = %s", (arn,))
        else:
            self._conn.execute("DELETE FROM delivery_undigested WHERE id = ANY(%s)", (ids,))

    def delivered(self, arn: str | None, start: float | None,
                  end: float | None) -> list[DeliveredObject]:
        rows = self._all(
            "SELECT arn, kind, bucket, key, version_id, lock_mode, retain_until, delivered, "
            "first_seq, last_seq FROM delivery_record WHERE (%s::text IS NULL OR arn = %s) "
            "AND (%s::float8 IS NULL OR delivered >= %s) "
            "AND (%s::float8 IS NULL OR delivered < %s) ORDER BY id",
            (arn, arn, start, start, end, end))
        return [DeliveredObject(*row) for row in rows]


class PgDeliveryRows(LockedRows[_Tx]):
    def __init__(self, db: PgDb) -> None:
        super().__init__(db, DELIVERY_LOCK, _Tx)
