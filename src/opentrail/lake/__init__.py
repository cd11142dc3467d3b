"""Lake: event data stores (catalog, selectors) and SQL over their Parquet files.

The query side: `translate` (Trino SQL in, DuckDB or Spark SQL out), the engines, and the
`QueryRunner` behind StartQuery and friends.

See docs/design/lake.md (the seams) and docs/lake.md (the user-facing rules).
"""

from opentrail.lake._catalog import (
    INGESTION_CATEGORIES,
    MAX_STORES_PER_REGION,
    PENDING_DAYS,
    STORE_SETTINGS,
    StoreCatalog,
    check_retention,
    check_store_name,
    parse_store_ref,
)
from opentrail.lake._engine import (
    DuckDBEngine,
    Engine,
    EngineError,
    SparkEngine,
    StoreFiles,
    open_engine,
)
from opentrail.lake._import_rows import ImportRows
from opentrail.lake._imports import IMPORTS_FILE, ImportRunner, source_opener
from opentrail.lake._location import (
    FolderLocation,
    LakeLocation,
    S3Location,
    StoreScan,
    open_location,
    partition_of,
)
from opentrail.lake._manifest import FileEntry, LakeReport, validate_lake
from opentrail.lake._model import (
    BILLING_MODES,
    EXTENDABLE,
    FIXED,
    EventDataStore,
    store_arn,
    store_category,
)
from opentrail.lake._queries import (
    QUERY_STATUSES,
    DeliveredResult,
    QueryInfo,
    QueryRunner,
    ResultsPage,
)
from opentrail.lake._query_rows import QueryRows
from opentrail.lake._rows import render, render_row
from opentrail.lake._schema import LakeEntry, schema_of, table_ddl, to_table
from opentrail.lake._selection import (
    DEFAULT_STORE_SELECTORS,
    MAX_STORE_SELECTORS,
    STORE_CATEGORIES,
    STORE_ONLY_CATEGORIES,
    check_store_selectors,
    insight_source,
    logs_write_management,
    receives,
)
from opentrail.lake._sql import Translation, translate
from opentrail.lake._writer import LakeStatus, LakeWriter
from opentrail.lake._writer_rows import (
    WRITER_FILE,
    LakeWriterMoved,
    StoredChain,
    WriterRows,
    WriterTx,
    recorded_head,
)

__all__ = [
    "BILLING_MODES",
    "DEFAULT_STORE_SELECTORS",
    "EXTENDABLE",
    "FIXED",
    "IMPORTS_FILE",
    "INGESTION_CATEGORIES",
    "MAX_STORES_PER_REGION",
    "MAX_STORE_SELECTORS",
    "PENDING_DAYS",
    "QUERY_STATUSES",
    "STORE_CATEGORIES",
    "STORE_ONLY_CATEGORIES",
    "STORE_SETTINGS",
    "WRITER_FILE",
    "DeliveredResult",
    "DuckDBEngine",
    "Engine",
    "EngineError",
    "EventDataStore",
    "FileEntry",
    "FolderLocation",
    "ImportRows",
    "ImportRunner",
    "LakeEntry",
    "LakeLocation",
    "LakeReport",
    "LakeStatus",
    "LakeWriter",
    "LakeWriterMoved",
    "QueryInfo",
    "QueryRows",
    "QueryRunner",
    "ResultsPage",
    "S3Location",
    "SparkEngine",
    "StoreCatalog",
    "StoreFiles",
    "StoreScan",
    "StoredChain",
    "Translation",
    "WriterRows",
    "WriterTx",
    "check_retention",
    "check_store_name",
    "check_store_selectors",
    "insight_source",
    "logs_write_management",
    "open_engine",
    "open_location",
    "parse_store_ref",
    "partition_of",
    "receives",
    "recorded_head",
    "render",
    "render_row",
    "schema_of",
    "source_opener",
    "store_arn",
    "store_category",
    "table_ddl",
    "to_table",
    "translate",
    "validate_lake",
]
