"""Lake: event data stores (catalog, selectors) and SQL over their Parquet files.

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
from opentrail.lake._schema import LakeEntry, schema_of, table_ddl, to_table
from opentrail.lake._selection import (
    DEFAULT_STORE_SELECTORS,
    MAX_STORE_SELECTORS,
    STORE_CATEGORIES,
    STORE_ONLY_CATEGORIES,
    check_store_selectors,
    logs_write_management,
    receives,
)
from opentrail.lake._writer import WRITER_FILE, LakeStatus, LakeWriter

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
    "STORE_CATEGORIES",
    "STORE_ONLY_CATEGORIES",
    "STORE_SETTINGS",
    "WRITER_FILE",
    "EventDataStore",
    "FileEntry",
    "FolderLocation",
    "ImportRunner",
    "LakeEntry",
    "LakeLocation",
    "LakeReport",
    "LakeStatus",
    "LakeWriter",
    "S3Location",
    "StoreCatalog",
    "StoreScan",
    "check_retention",
    "check_store_name",
    "check_store_selectors",
    "logs_write_management",
    "open_location",
    "parse_store_ref",
    "partition_of",
    "receives",
    "schema_of",
    "source_opener",
    "store_arn",
    "store_category",
    "table_ddl",
    "to_table",
    "validate_lake",
]
