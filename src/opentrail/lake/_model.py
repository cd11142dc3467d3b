"""The event data store: the frozen record of one CloudTrail Lake store.

`StoreCatalog` (lake.db) returns these; the writer, the query runner and the API read them.
See docs/design/lake.md for the seam and docs/lake.md for the user-facing rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "BILLING_MODES",
    "EXTENDABLE",
    "FIXED",
    "EventDataStore",
    "store_arn",
    "store_category",
]

EXTENDABLE = "EXTENDABLE_RETENTION_PRICING"
FIXED = "FIXED_RETENTION_PRICING"
BILLING_MODES = (EXTENDABLE, FIXED)

# eventCategory value -> the kind of rows the store holds (spec §6 schemas).
_KIND_OF_CATEGORY = {
    "Management": "cloudtrail",
    "Data": "cloudtrail",
    "NetworkActivity": "cloudtrail",
    "Insight": "insight",
    "ActivityAuditLog": "activity",
    "ConfigurationItem": "config",
    "Evidence": "evidence",
}


def store_arn(region: str, account: str, store_id: str) -> str:
    return f"arn:aws:cloudtrail:{region}:{account}:eventdatastore/{store_id}"


def store_category(selectors: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> str:
    """The eventCategory the selectors choose ("Management" when none names one).

    Validation (`check_store_selectors`) guarantees one category per store.
    """
    for selector in selectors:
        for field in selector.get("FieldSelectors") or ():
            if field.get("Field") == "eventCategory":
                values = field.get("Equals") or ()
                if values:
                    return str(values[0])
    return "Management"


@dataclass(frozen=True)
class EventDataStore:
    id: str  # UUID4 string, the table name in SQL
    account: str  # owning account (12 digits)
    region: str  # home region
    name: str
    status: str  # spec §2 EventDataStoreStatus
    selectors: tuple[dict[str, Any], ...]  # AdvancedEventSelectors, as stored
    multi_region: bool
    organization: bool
    retention_days: int
    termination_protection: bool
    billing_mode: str  # EXTENDABLE_RETENTION_PRICING | FIXED_RETENTION_PRICING
    kms_key_id: str | None
    created: float  # epoch seconds
    updated: float
    start_seq: int  # first ledger seq this store receives (events acknowledged after
    # CreateEventDataStore); imports add older events
    deleted: float | None = None  # when DeleteEventDataStore put it in PENDING_DELETION
    insights_source: str | None = None  # for an Insight store: the last source store
    # that named it as InsightsDestination (informational; routing: insight_sources)
    # PutInsightSelectors on this (source) store: the selectors and the destination
    # store's id that receives the Insights events. Empty/None when Insights are off.
    insight_selectors: tuple[dict[str, Any], ...] = ()
    insights_destination: str | None = None
    # For an Insight store, derived by the catalog when it reads the store (never stored):
    # the source stores whose Insights events it receives now, oldest first, each
    # {"id", "arn", "account", "region", "organization", "multiRegion", "insightTypes"}.
    # The writer records it in each manifest, so validate-lake re-selects the same way.
    insight_sources: tuple[dict[str, Any], ...] = ()

    @property
    def arn(self) -> str:
        return store_arn(self.region, self.account, self.id)

    @property
    def category(self) -> str:
        """The one eventCategory this store receives (Management, Data, Insight, ...)."""
        return store_category(self.selectors)

    @property
    def kind(self) -> str:
        """Which row schema the store's files use: cloudtrail | insight | activity | ..."""
        return _KIND_OF_CATEGORY.get(self.category, "cloudtrail")

    @property
    def receiving(self) -> bool:
        return self.status == "ENABLED"
