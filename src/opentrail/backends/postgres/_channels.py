"""Channels in PostgreSQL: `ChannelRows` (channels/_rows.py).

Writes hold CHANNEL_LOCK, so a name is checked free before it is taken (a unique
violation would abort the whole transaction) and the per-region limit holds across nodes.
"""

from __future__ import annotations

from typing import Any

from opentrail.backends.postgres._db import CHANNEL_LOCK, Conn, LockedRows, PgDb
from opentrail.channels._rows import ChannelRow

__all__ = ["PgChannelRows"]

_COLUMNS = "arn, account, region, name, source, destinations, tags, ingestion"


def _row(row: tuple[Any, ...]) -> ChannelRow:
    arn, account, region, name, source, dests, tags, ingestion = row
    return ChannelRow(arn, account, region, name, source, bytes(dests), bytes(tags),
                      bytes(ingestion))


class _Tx:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def select_region(self, account: str, region: str) -> list[ChannelRow]:
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM channels WHERE account = %s AND region = %s "
            'ORDER BY name COLLATE "C"', (account, region)).fetchall()
        return [_row(row) for row in rows]

    def select_arns(self, account: str | None, arns: tuple[str, ...]) -> list[ChannelRow]:
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM channels WHERE arn = ANY(%s) "
            'AND (%s::text IS NULL OR account = %s) ORDER BY arn COLLATE "C"',
            (list(arns), account, account)).fetchall()
        return [_row(row) for row in rows]

    def _name_taken(self, account: str, region: str, name: str, arn: str) -> bool:
        return self._conn.execute(
            "SELECT 1 FROM channels WHERE account = %s AND region = %s AND name = %s "
            "AND arn != %s", (account, region, name, arn)).fetchone() is not None

    def insert(self, row: ChannelRow) -> bool:
        if self._name_taken(row.account, row.region, row.name, row.arn):
            return False
        self._conn.execute(f"INSERT INTO channels ({_COLUMNS}) VALUES "
                           "(%s, %s, %s, %s, %s, %s, %s, %s)", tuple(row))
        return True

    def update(self, arn: str, name: str, destinations: bytes) -> bool:
        found = self._conn.execute("SELECT account, region FROM channels WHERE arn = %s",
                                   (arn,)).fetchone()
        if found is None:
            return True  # gone meanwhile: nothing to update, as in SQLite
        if self._name_taken(str(found[0]), str(found[1]), name, arn):
            return False
        self._conn.execute("UPDATE channels SET name = %s, destinations = %s WHERE arn = %s",
                           (name, destinations, arn))
        return True

    def set_tags(self, arn: str, tags: bytes) -> None:
        self._conn.execute("UPDATE channels SET tags = %s WHERE arn = %s", (tags, arn))

    def set_ingestion(self, arn: str, ingestion: bytes) -> None:
        self._conn.execute("UPDATE channels SET ingestion = %s WHERE arn = %s",
                           (ingestion, arn))

    def delete(self, arn: str) -> None:
        self._conn.execute("DELETE FROM channels WHERE arn = %s", (arn,))


class PgChannelRows(LockedRows[_Tx]):
    def __init__(self, db: PgDb) -> None:
        super().__init__(db, CHANNEL_LOCK, _Tx)
