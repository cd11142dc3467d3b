"""The Lake writer's state in PostgreSQL: `WriterRows` (lake/_writer_rows.py) over the
`lake_writer_*` tables (migration 0015), shared by every node.

Write transactions hold LAKE_WRITER_LOCK; the cursor and each chain move by
compare-and-set from the value the writer read, so a writer whose view is stale has its
whole record rolled back. `exclusive()` is a session advisory lock (LAKE_WRITER_COMMIT_LOCK)
on a pooled connection, held across a whole commit, so two nodes (a node that lost the
lake-writer role without noticing yet, an import on another node) never put files or
manifests into the location at the same time; it is freed when the holder lets go, or by
the server when the holder's session dies (kill -9, a cut connection).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import PoolTimeout

from opentrail.backends.postgres._db import (
    LAKE_WRITER_COMMIT_LOCK,
    LAKE_WRITER_LOCK,
    Conn,
    LockedRows,
    PgDb,
)
from opentrail.errors import ServiceUnavailable
from opentrail.lake._manifest import FileEntry
from opentrail.lake._writer_rows import StoredChain

__all__ = ["PgWriterRows"]

_CHAIN = "next, head, ranges, store, since"


class _Tx:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, args).fetchall()

    def cursor(self) -> int:
        rows = self._all("SELECT seq FROM lake_writer_cursor WHERE name = 'ledger'")
        return int(rows[0][0]) if rows else 0

    def move(self, expected: int, to: int) -> bool:
        if expected == 0:  # the first move inserts the row (no row reads as 0)
            self._conn.execute("INSERT INTO lake_writer_cursor VALUES ('ledger', 0) "
                               "ON CONFLICT DO NOTHING")
        return self._conn.execute("UPDATE lake_writer_cursor SET seq = %s WHERE name = "
                                  "'ledger' AND seq = %s", (to, expected)).rowcount == 1

    def chain(self, store_id: str) -> StoredChain | None:
        rows = self._all(f"SELECT {_CHAIN} FROM lake_writer_chains WHERE store_id = %s",
                         (store_id,))
        return StoredChain(*rows[0]) if rows else None

    def chains(self) -> dict[str, StoredChain]:
        rows = self._all(f"SELECT store_id, {_CHAIN} FROM lake_writer_chains")
        return {row[0]: StoredChain(*row[1:]) for row in rows}

    def set_chain(self, store_id: str, expected_next: int, chain: StoredChain) -> bool:
        found = self._all("SELECT next FROM lake_writer_chains WHERE store_id = %s "
                          "FOR UPDATE", (store_id,))
        if (found[0][0] if found else 0) != expected_next:
            return False
        self._conn.execute(
            f"INSERT INTO lake_writer_chains (store_id, {_CHAIN}) VALUES "
            "(%s, %s, %s, %s, %s, %s) ON CONFLICT (store_id) DO UPDATE SET "
            "next = excluded.next, head = excluded.head, ranges = excluded.ranges, "
            "store = excluded.store, since = excluded.since", (store_id, *chain))
        return True

    def files(self, store_id: str) -> list[FileEntry]:
        rows = self._all("SELECT key, sha256, rows, bytes, first_seq, last_seq FROM "
                         "lake_writer_files WHERE store_id = %s ORDER BY key", (store_id,))
        return [FileEntry(*row) for row in rows]

    def has_file(self, store_id: str, key: str) -> bool:
        return bool(self._all("SELECT 1 FROM lake_writer_files WHERE store_id = %s AND "
                              "key = %s", (store_id, key)))

    def add_files(self, store_id: str, entries: list[FileEntry]) -> None:
        if not entries:
            return
        with self._conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO lake_writer_files (store_id, key, sha256, rows, bytes, "
                "first_seq, last_seq) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT "
                "(store_id, key) DO UPDATE SET sha256 = excluded.sha256, rows = "
                "excluded.rows, bytes = excluded.bytes, first_seq = excluded.first_seq, "
                "last_seq = excluded.last_seq",
                [(store_id, e.key, e.sha256, e.rows, e.bytes, e.first_seq, e.last_seq)
                 for e in entries])

    def remove_files(self, store_id: str, keys: list[str]) -> None:
        if keys:
            self._conn.execute("DELETE FROM lake_writer_files WHERE store_id = %s AND "
                               "key = ANY(%s)", (store_id, keys))

    def totals(self, store_id: str) -> tuple[int, int, int]:
        row = self._all("SELECT count(*), coalesce(sum(rows), 0), coalesce(sum(bytes), 0) "
                        "FROM lake_writer_files WHERE store_id = %s", (store_id,))[0]
        return int(row[0]), int(row[1]), int(row[2])

    def recorded(self, store_id: str) -> dict[str, tuple[int, int]]:
        rows = self._all("SELECT key, rows, bytes FROM lake_writer_files WHERE "
                         "store_id = %s", (store_id,))
        return {key: (int(count), int(size)) for key, count, size in rows}

    def pending(self) -> list[str]:
        return [row[0] for row in self._all("SELECT key FROM lake_writer_pending "
                                            "ORDER BY key")]

    def add_pending(self, keys: list[str]) -> None:
        if keys:
            self._conn.execute("INSERT INTO lake_writer_pending (key) SELECT unnest(%s::text[]) "
                               "ON CONFLICT DO NOTHING", (keys,))

    def clear_pending(self) -> None:
        self._conn.execute("DELETE FROM lake_writer_pending")

    def drop_store(self, store_id: str) -> None:
        self._conn.execute("DELETE FROM lake_writer_files WHERE store_id = %s", (store_id,))
        self._conn.execute("DELETE FROM lake_writer_chains WHERE store_id = %s", (store_id,))


class PgWriterRows(LockedRows[_Tx]):
    def __init__(self, db: PgDb) -> None:
        super().__init__(db, LAKE_WRITER_LOCK, _Tx)
        self._pool = db.pool
        self._held = threading.local()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        if getattr(self._held, "depth", 0):  # re-entered on this thread
            self._held.depth += 1
            try:
                yield
            finally:
                self._held.depth -= 1
            return
        try:
            with self._pool.connection() as conn:
                conn.execute("SELECT pg_advisory_lock(%s)", (LAKE_WRITER_COMMIT_LOCK,))
                self._held.depth = 1
                try:
                    yield
                finally:
                    self._held.depth = 0
                    conn.execute("SELECT pg_advisory_unlock(%s)", (LAKE_WRITER_COMMIT_LOCK,))
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise ServiceUnavailable(
                "The database is unreachable right now, so the Lake writer changed nothing "
                "it has not recorded. It retries.") from exc
