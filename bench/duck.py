"""The reference for target 3: DuckDB answering the same lookup over the same events,
read from gzipped CloudTrail log files ({"Records": [...]}, as delivered to S3).

read_json_objects + json_transform with only the fields a lookup needs: on these files
it is ~15x faster than read_json's own Records[] reader, so the reference is not a
straw man. Each query rereads every file, as a query over delivered logs must.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import duckdb

from bench.events import ACCOUNT
from bench.lookups import PAGE, AttrResult, Query

__all__ = ["DuckReference", "GroupedReference"]

SHAPE = {"Records": [{
    "eventID": "VARCHAR", "eventTime": "VARCHAR", "eventName": "VARCHAR",
    "eventSource": "VARCHAR", "awsRegion": "VARCHAR", "recipientAccountId": "VARCHAR",
    "eventCategory": "VARCHAR", "readOnly": "BOOLEAN", "errorCode": "VARCHAR",
    "userIdentity": {"type": "VARCHAR", "principalId": "VARCHAR", "userName": "VARCHAR",
                     "accessKeyId": "VARCHAR", "accountId": "VARCHAR"},
    "resources": [{"type": "VARCHAR", "ARN": "VARCHAR", "ARNPrefix": "VARCHAR"}],
}]}

_USERNAME = """coalesce(nullif(userIdentity.userName, ''), CASE
    WHEN userIdentity.type IN ('AssumedRole', 'FederatedUser')
         AND strpos(userIdentity.principalId, ':') > 0
    THEN substr(userIdentity.principalId, strpos(userIdentity.principalId, ':') + 1)
    WHEN userIdentity.type = 'Root' THEN 'root' END)"""

# LookupEvents attribute -> SQL condition with one parameter, CloudTrail's semantics.
CONDITIONS = {
    "EventId": "eventID = ?",
    "EventName": "eventName = ?",
    "EventSource": "eventSource = ?",
    "ReadOnly": "CAST(readOnly AS VARCHAR) = ?",
    "Username": f"{_USERNAME} = ?",
    "AccessKeyId": "userIdentity.accessKeyId = ?",
    "ErrorCode": "errorCode = ?",
    "ResourceType": "list_contains(list_transform(resources, lambda r: r.type), ?)",
    "ResourceName": "list_contains(list_transform(resources, "
                    "lambda r: coalesce(r.ARN, r.ARNPrefix)), ?)",
}

# Management events of one account in one region: what LookupEvents searches.
_SCOPE = ("awsRegion = 'us-east-1' AND coalesce(recipientAccountId, userIdentity.accountId)"
          f" = '{ACCOUNT}' AND coalesce(eventCategory, '') NOT IN "
          "('Data', 'NetworkActivity', 'Insight')")


class DuckReference:
    """`shape` chooses the fields the `cloudtrail` view extracts (the lookups' by
    default); with `raw`, a `cloudtrail_raw` view has them plus `raw`, each record's own
    JSON text (what a `SELECT *` over delivered logs returns). `memory_limit` and
    `temp_dir` bound DuckDB's memory (it spills there) for stores of millions of events."""

    def __init__(self, files: Path, shape: dict[str, Any] | None = None, *,
                 raw: bool = False, memory_limit: str | None = None,
                 temp_dir: Path | None = None) -> None:
        self._con = duckdb.connect()
        if memory_limit:  # without it a GROUP BY over 3 M records took 24 GB and the OOM killer
            self._con.execute(f"SET memory_limit = '{memory_limit}'")
            self._con.execute("SET preserve_insertion_order = false")
        if temp_dir:
            self._con.execute(f"SET temp_directory = '{temp_dir}'")
        source = (f"read_json_objects('{files}', maximum_object_size=268435456)")
        fields = json.dumps(shape or SHAPE)
        self._con.execute(
            "CREATE VIEW cloudtrail AS SELECT r.* FROM (SELECT unnest(json_transform("
            f"json, '{fields}').Records) AS r FROM {source})")
        if raw:  # two unnests in one SELECT are zipped: each record beside its JSON
            self._con.execute(
                "CREATE VIEW cloudtrail_raw AS SELECT r.*, raw FROM (SELECT unnest("
                f"json_transform(json, '{fields}').Records) AS r, unnest(json_extract("
                f"json, '$.Records[*]')) AS raw FROM {source})")

    def sql(self, text: str) -> tuple[float, list[tuple[Any, ...]]]:
        """Seconds to run `text` and fetch its whole answer, and the answer."""
        began = time.perf_counter()
        rows = self._con.execute(text).fetchall()
        return time.perf_counter() - began, rows

    def close(self) -> None:
        self._con.close()

    def lookup(self, query: Query) -> tuple[float, list[tuple[str, str]]]:
        where = " AND ".join([_SCOPE, *(CONDITIONS[k] for k, _ in query)])
        sql = (f"SELECT eventID, eventTime FROM cloudtrail WHERE {where} "
               f"ORDER BY eventTime DESC LIMIT {PAGE}")
        began = time.perf_counter()
        rows = self._con.execute(sql, [v for _, v in query]).fetchall()
        return time.perf_counter() - began, rows

    def run(self, result: AttrResult, index: int) -> float | None:
        """Time query `index` of `result` (None if OpenTrail ran fewer) and check that
        both answered the same page."""
        if index >= len(result.answers):
            return None
        seconds, rows = self.lookup(result.queries[index])
        result.duckdb_seconds.append(seconds)
        result.agree += _same_page(result.answers[index], rows)
        return seconds


def _same_page(ours: list[tuple[str, int]], theirs: list[tuple[str, str]]) -> bool:
    """Equal pages, up to the order of events that share the page's oldest second."""
    if len(ours) != len(theirs):
        return False
    if not ours:
        return True
    oldest = min(t for _, t in ours)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(oldest))
    return ({i for i, t in ours if t > oldest} == {i for i, t in theirs if t > stamp}
            and all(t >= stamp for _, t in theirs))


class GroupedReference:
    """DuckDB over the gzipped log files, one group of files at a time, for stores too
    large for one scan's memory: a single `json_transform` GROUP BY over 3 M records took
    24 GB here (DuckDB's `memory_limit` does not bound that allocation) and the OOM killer.

    Each query is a `partial` statement run over every group in turn (the `cloudtrail` and
    `cloudtrail_raw` views are redefined over the group's files, exactly as `DuckReference`
    defines them over all of them), its rows appended to a `partial` table, and a `merge`
    statement over that table giving the answer: row queries concatenate (`SELECT * FROM
    partial`), aggregates merge their partial aggregates (counts summed), ORDER BY + LIMIT
    keep each group's top rows and re-rank them. Every query still reads every file, as a
    query over delivered logs must; the grouping bounds memory, not work."""

    def __init__(self, files: list[Path], shape: dict[str, Any], *, group_files: int = 40,
                 memory_limit: str | None = None, temp_dir: Path | None = None) -> None:
        self._con = duckdb.connect()
        if memory_limit:
            self._con.execute(f"SET memory_limit = '{memory_limit}'")
            self._con.execute("SET preserve_insertion_order = false")
        if temp_dir:
            self._con.execute(f"SET temp_directory = '{temp_dir}'")
        self._fields = json.dumps(shape)
        self.groups = [files[i:i + group_files] for i in range(0, len(files), group_files)]

    def _views(self, group: list[Path]) -> None:
        listed = ", ".join(f"'{p}'" for p in group)
        source = f"read_json_objects([{listed}], maximum_object_size=268435456)"
        self._con.execute(
            "CREATE OR REPLACE VIEW cloudtrail AS SELECT r.* FROM (SELECT unnest("
            f"json_transform(json, '{self._fields}').Records) AS r FROM {source})")
        self._con.execute(  # two unnests in one SELECT are zipped: each record beside its JSON
            "CREATE OR REPLACE VIEW cloudtrail_raw AS SELECT r.*, raw FROM (SELECT unnest("
            f"json_transform(json, '{self._fields}').Records) AS r, unnest(json_extract("
            f"json, '$.Records[*]')) AS raw FROM {source})")

    def sql(self, partial: str, merge: str) -> tuple[float, list[tuple[Any, ...]]]:
        """Seconds to run `partial` over every group and `merge` over their rows, fetching
        the whole answer, and the answer."""
        began = time.perf_counter()
        self._con.execute("DROP TABLE IF EXISTS partial")
        for n, group in enumerate(self.groups):
            self._views(group)
            verb = "CREATE TEMP TABLE partial AS" if n == 0 else "INSERT INTO partial"
            self._con.execute(f"{verb} SELECT * FROM ({partial})")
        rows = self._con.execute(merge).fetchall()
        self._con.execute("DROP TABLE partial")
        return time.perf_counter() - began, rows

    def close(self) -> None:
        self._con.close()
