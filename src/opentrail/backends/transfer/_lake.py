"""Lake queries (lake-queries.db) and imports (lake-imports.db) into their tables of
migration 0016, with `copy_table`'s rules: a row an earlier run copied is skipped when
it is the same and refused, naming it, when it differs. Queries keep their node's name:
one left QUEUED or RUNNING by the stopped server is failed by the first node that sees
its heartbeat older than the lease (or by the node started on that data dir again)."""

from __future__ import annotations

from pathlib import Path

from opentrail.backends.postgres._db import LAKE_IMPORT_LOCK, LAKE_QUERY_LOCK
from opentrail.backends.transfer._state import Table

__all__ = ["LAKE_TABLES", "bring_lake_current"]

_QUERY = ("id", "account", "owner", "region", "statement", "status", "created", "started",
          "ended", "error", "columns", "total", "events_scanned", "bytes_scanned", "millis",
          "delivery_uri", "delivery_status", "node", "heartbeat")
_IMPORT = ("id", "account", "store_id", "store_arn", "source", "start_time", "end_time",
           "status", "created", "updated", "prefixes_found", "prefixes_completed",
           "files_completed", "events_completed", "next_file")
LAKE_TABLES = (
    Table("Lake queries", "lake-queries.db", "queries", "lake_queries", _QUERY,
          LAKE_QUERY_LOCK),
    Table("Lake query stores", "lake-queries.db", "query_stores", "lake_query_stores",
          ("store", "query"), LAKE_QUERY_LOCK, keys=2),
    Table("Lake query results", "lake-queries.db", "query_rows", "lake_query_rows",
          ("query", "n", "row"), LAKE_QUERY_LOCK, keys=2),
    Table("Lake delivered results", "lake-queries.db", "delivered_results",
          "lake_delivered_results", ("query", "account", "bucket", "key", "version_id",
                                     "lock_mode", "retain_until", "delivered"),
          LAKE_QUERY_LOCK, keys=2),
    Table("Lake imports", "lake-imports.db", "imports", "lake_imports", _IMPORT,
          LAKE_IMPORT_LOCK),
    Table("Lake imported files", "lake-imports.db", "done", "lake_import_done",
          ("import_id", "location"), LAKE_IMPORT_LOCK, keys=2),
    Table("Lake import failures", "lake-imports.db", "failures", "lake_import_failures",
          ("import_id", "location", "status", "error_type", "message", "updated"),
          LAKE_IMPORT_LOCK, keys=2),
)


def bring_lake_current(data_dir: Path) -> None:
    """An older lake-queries.db lacks the node columns: add them, as a server starting
    on it would, so queries copy with them (NULL: recorded before nodes were)."""
    from opentrail.backends.sqlite._lake_queries import QUERIES_FILE, SqliteQueryRows

    if (data_dir / QUERIES_FILE).exists():
        SqliteQueryRows(data_dir).close()
