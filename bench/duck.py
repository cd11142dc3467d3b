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

import duckdb

from bench.events import ACCOUNT
from bench.lookups import PAGE, AttrResult, Query

__all__ = ["DuckReference"]

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
    def __init__(self, files: Path) -> None:
        self._con = duckdb.connect()
        source = (f"read_json_objects('{files}', maximum_object_size=268435456)")
        self._con.execute(
            "CREATE VIEW cloudtrail AS SELECT r.* FROM (SELECT unnest(json_transform("
            f"json, '{json.dumps(SHAPE)}').Records) AS r FROM {source})")

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
