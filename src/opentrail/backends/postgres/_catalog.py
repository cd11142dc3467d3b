"""The Lake catalog in PostgreSQL: `CatalogRows` (lake/_catalog_rows.py).

Writes hold CATALOG_LOCK, so StoreCatalog's limit and name rules hold across nodes.
"""

from __future__ import annotations

from opentrail.backends.postgres._db import CATALOG_LOCK, Conn, LockedRows, PgDb
from opentrail.lake._catalog_rows import StoreRow

__all__ = ["PgCatalogRows"]


class _Tx:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def records(self, account: str | None = None, region: str | None = None,
                store_id: str | None = None) -> list[bytes]:
        rows = self._conn.execute(
            "SELECT record FROM lake_stores WHERE (%(a)s::text IS NULL OR account = %(a)s)"
            " AND (%(r)s::text IS NULL OR region = %(r)s) AND (%(i)s::text IS NULL OR "
            'id = %(i)s) ORDER BY account COLLATE "C", region COLLATE "C", name COLLATE "C"',
            {"a": account, "r": region, "i": store_id}).fetchall()
        return [bytes(row[0]) for row in rows]

    def count(self, account: str, region: str) -> int:
        row = self._conn.execute(
            "SELECT count(*) FROM lake_stores WHERE account = %s AND region = %s",
            (account, region)).fetchone()
        return int(row[0]) if row else 0

    def name_taken(self, account: str, region: str, name: str, other_than: str) -> bool:
        return self._conn.execute(
            "SELECT 1 FROM lake_stores WHERE account = %s AND region = %s AND name = %s "
            "AND id != %s", (account, region, name, other_than)).fetchone() is not None

    def insert(self, row: StoreRow) -> None:
        self._conn.execute("INSERT INTO lake_stores (id, account, region, name, record, tags)"
                           " VALUES (%s, %s, %s, %s, %s, %s)", tuple(row))

    def update(self, store_id: str, name: str, record: bytes) -> None:
        self._conn.execute("UPDATE lake_stores SET name = %s, record = %s WHERE id = %s",
                           (name, record, store_id))

    def mark_deleted(self, store_id: str, record: bytes, prior_status: str) -> None:
        self._conn.execute("UPDATE lake_stores SET record = %s, prior_status = %s "
                           "WHERE id = %s", (record, prior_status, store_id))

    def prior_status(self, store_id: str) -> str | None:
        row = self._conn.execute("SELECT prior_status FROM lake_stores WHERE id = %s",
                                 (store_id,)).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def restore(self, store_id: str, record: bytes) -> None:
        self._conn.execute("UPDATE lake_stores SET record = %s, prior_status = NULL "
                           "WHERE id = %s", (record, store_id))

    def tags(self, store_id: str) -> bytes | None:
        row = self._conn.execute("SELECT tags FROM lake_stores WHERE id = %s",
                                 (store_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def set_tags(self, store_id: str, tags: bytes) -> None:
        self._conn.execute("UPDATE lake_stores SET tags = %s WHERE id = %s", (tags, store_id))

    def delete_if(self, store_id: str, record: bytes) -> bool:
        cursor = self._conn.execute("DELETE FROM lake_stores WHERE id = %s AND record = %s",
                                    (store_id, record))
        return cursor.rowcount > 0


class PgCatalogRows(LockedRows[_Tx]):
    def __init__(self, db: PgDb) -> None:
        super().__init__(db, CATALOG_LOCK, _Tx)
