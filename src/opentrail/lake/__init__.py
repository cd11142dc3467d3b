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
from opentrail.lake._model import (
    BILLING_MODES,
    EXTENDABLE,
    FIXED,
    EventDataStore,
    store_arn,
    store_category,
)
from opentrail.lake._selection import (
    DEFAULT_STORE_SELECTORS,
    MAX_STORE_SELECTORS,
    STORE_CATEGORIES,
    STORE_ONLY_CATEGORIES,
    check_store_selectors,
    logs_write_management,
    receives,
)

__all__ = [
    "BILLING_MODES",
    "DEFAULT_STORE_SELECTORS",
    "EXTENDABLE",
    "FIXED",
    "INGESTION_CATEGORIES",
    "MAX_STORES_PER_REGION",
    "MAX_STORE_SELECTORS",
    "PENDING_DAYS",
    "STORE_CATEGORIES",
    "STORE_ONLY_CATEGORIES",
    "STORE_SETTINGS",
    "EventDataStore",
    "StoreCatalog",
    "check_retention",
    "check_store_name",
    "check_store_selectors",
    "logs_write_management",
    "parse_store_ref",
    "receives",
    "store_arn",
    "store_category",
]
