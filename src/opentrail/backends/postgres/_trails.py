"""Trails in PostgreSQL: `TrailRows` (trails/_rows.py).

Writes hold TRAIL_LOCK (transaction-scoped), so TrailStore's limit and name rules hold
across nodes. Text is ordered with the "C" collation: the same order as SQLite's.
"""

from __future__ import annotations

from typing import Any

from opentrail.backends.postgres._db import TRAIL_LOCK, Conn, LockedRows, PgDb
from opentrail.trails._rows import TrailRow

__all__ = ["PgTrailRows"]

Stored = list[tuple[bytes, bytes]]


class _Tx:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def _select(self, where: str, args: tuple[Any, ...]) -> Stored:
        rows = self._conn.execute(
            f"SELECT config, status FROM trails WHERE {where} "
            'ORDER BY name COLLATE "C", home_region COLLATE "C"', args).fetchall()
        return [(bytes(config), bytes(status)) for config, status in rows]

    def select_all(self) -> Stored:
        return self._select("true", ())

    def select_account(self, account: str) -> Stored:
        return self._select("account = %s", (account,))

    def select_visible(self, account: str, region: str) -> Stored:
        return self._select("account = %s AND (home_region = %s OR multi_region)",
                            (account, region))

    def select_arn(self, arn: str) -> Stored:
        return self._select("arn = %s", (arn,))

    def insert(self, row: TrailRow) -> None:
        self._conn.execute(
            "INSERT INTO trails (arn, account, home_region, name, multi_region, config, "
            "status) VALUES (%s, %s, %s, %s, %s, %s, %s)", tuple(row))

    def update_config(self, arn: str, multi_region: bool, config: bytes) -> bool:
        cursor = self._conn.execute(
            "UPDATE trails SET multi_region = %s, config = %s WHERE arn = %s",
            (multi_region, config, arn))
        return cursor.rowcount > 0

    def _column(self, column: str, arn: str) -> bytes | None:
        row = self._conn.execute(f"SELECT {column} FROM trails WHERE arn = %s",
                                 (arn,)).fetchone()
        return None if row is None else bytes(row[0])

    def config(self, arn: str) -> bytes | None:
        return self._column("config", arn)

    def status(self, arn: str) -> bytes | None:
        return self._column("status", arn)

    def set_status(self, arn: str, status: bytes) -> None:
        self._conn.execute("UPDATE trails SET status = %s WHERE arn = %s", (status, arn))

    def delete(self, arn: str) -> None:
        self._conn.execute("DELETE FROM trails WHERE arn = %s", (arn,))

    def bucket_owner(self, bucket: str) -> str | None:
        row = self._conn.execute("SELECT account FROM bucket_owners WHERE bucket = %s",
                                 (bucket,)).fetchone()
        return None if row is None else str(row[0])

    def add_bucket_owner(self, bucket: str, account: str) -> None:
        self._conn.execute("INSERT INTO bucket_owners VALUES (%s, %s) ON CONFLICT DO NOTHING",
                           (bucket, account))


class PgTrailRows(LockedRows[_Tx]):
    def __init__(self, db: PgDb) -> None:
        super().__init__(db, TRAIL_LOCK, _Tx)
