"""Lake: event data stores (catalog, selectors) and SQL over their Parquet files.

See docs/design/lake.md (the seams) and docs/lake.md (the user-facing rules).
"""

from opentrail.lake._model import (
    BILLING_MODES,
    EXTENDABLE,
    FIXED,
    EventDataStore,
    store_arn,
    store_category,
)

__all__ = [
    "BILLING_MODES",
    "EXTENDABLE",
    "FIXED",
    "EventDataStore",
    "store_arn",
    "store_category",
]
