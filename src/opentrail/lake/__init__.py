"""CloudTrail Lake: event data stores as Parquet files, queried in SQL (docs/design/lake.md).

The query side: `translate` (Trino SQL in, DuckDB or Spark SQL out), the engines, and the
`QueryRunner` behind StartQuery and friends.
"""

from opentrail.lake._engine import DuckDBEngine, Engine, EngineError, SparkEngine, StoreFiles
from opentrail.lake._queries import QUERY_STATUSES, QueryInfo, QueryRunner, ResultsPage
from opentrail.lake._rows import render, render_row
from opentrail.lake._sql import Translation, translate

__all__ = [
    "QUERY_STATUSES",
    "DuckDBEngine",
    "Engine",
    "EngineError",
    "QueryInfo",
    "QueryRunner",
    "ResultsPage",
    "SparkEngine",
    "StoreFiles",
    "Translation",
    "render",
    "render_row",
    "translate",
]
