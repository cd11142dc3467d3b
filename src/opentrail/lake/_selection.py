"""Which events an event data store receives: its selectors, checked and evaluated.

`check_store_selectors` validates Create/UpdateEventDataStore's AdvancedEventSelectors
with CloudTrail Lake's rules (spec §3 "Selectors") on top of the trail rules it shares
(`trails._selectors.check_advanced_selectors`): at most 5 selectors and 500 values, one
eventCategory per store, the fields each category allows, no wildcards, and for the
store-only categories (Insight, ActivityAuditLog, ConfigurationItem, Evidence)
`eventCategory` as the only field. `receives` is the writer's one question; the selector
matching itself is the trails' matcher (`matches_advanced`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentrail.errors import InvalidEventSelectors
from opentrail.events import Category
from opentrail.lake._model import EventDataStore
from opentrail.trails import check_advanced_selectors, matches_advanced

__all__ = [
    "DEFAULT_STORE_SELECTORS",
    "MAX_STORE_SELECTORS",
    "STORE_CATEGORIES",
    "STORE_ONLY_CATEGORIES",
    "check_store_selectors",
    "insight_source",
    "logs_write_management",
    "reaches_accounts",
    "receives",
]

MAX_STORE_SELECTORS = 5
STORE_ONLY_CATEGORIES = ("Insight", "ActivityAuditLog", "ConfigurationItem", "Evidence")
STORE_CATEGORIES = ("Management", "Data", "NetworkActivity", *STORE_ONLY_CATEGORIES)
DEFAULT_STORE_SELECTORS: tuple[dict[str, Any], ...] = (
    {"Name": "Default management events",
     "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]},)

_MANAGEMENT_FIELDS = frozenset({
    "eventCategory", "eventSource", "readOnly", "eventName", "eventType",
    "sessionCredentialFromConsole", "userIdentity.arn"})
FIELDS_BY_CATEGORY: dict[str, frozenset[str]] = {
    "Management": _MANAGEMENT_FIELDS,
    "Data": _MANAGEMENT_FIELDS | {"resources.type", "resources.ARN"},
    "NetworkActivity": frozenset({"eventCategory", "eventSource", "eventName", "errorCode",
                                  "vpcEndpointId"}),
    **{category: frozenset({"eventCategory"}) for category in STORE_ONLY_CATEGORIES},
}
_ALL_FIELDS = frozenset().union(*FIELDS_BY_CATEGORY.values())
_OPERATORS = ("Equals", "StartsWith", "EndsWith", "NotEquals", "NotStartsWith",
              "NotEndsWith")


def check_store_selectors(selectors: object) -> list[dict[str, Any]]:
    """AdvancedEventSelectors for a store, normalised; InvalidEventSelectorsException if not."""
    if isinstance(selectors, list) and len(selectors) > MAX_STORE_SELECTORS:
        raise InvalidEventSelectors(
            f"AdvancedEventSelectors list {len(selectors)} selectors; an event data store may "
            f"have at most {MAX_STORE_SELECTORS}.")
    out = check_advanced_selectors(selectors, categories=STORE_CATEGORIES, fields=_ALL_FIELDS,
                                   owner="an event data store")
    category = _one_category(out)
    allowed = FIELDS_BY_CATEGORY[category]
    for i, selector in enumerate(out):
        for field in selector["FieldSelectors"]:
            _check_store_field(field, category, allowed, f"AdvancedEventSelectors[{i}]")
    return out


def _one_category(selectors: list[dict[str, Any]]) -> str:
    """The single eventCategory all selectors choose."""
    found: set[str] = set()
    for selector in selectors:
        for field in selector["FieldSelectors"]:
            if field["Field"] == "eventCategory":
                found.update(field["Equals"])
    if len(found) != 1:
        raise InvalidEventSelectors(
            f"The selectors choose the event categories {', '.join(sorted(found))}; an event "
            "data store holds events of one category only, so every selector must have the "
            "same single eventCategory value.")
    return found.pop()


def _check_store_field(field: dict[str, Any], category: str, allowed: frozenset[str],
                       where: str) -> None:
    name = field["Field"]
    if name not in allowed:
        if category in STORE_ONLY_CATEGORIES:
            raise InvalidEventSelectors(
                f"{where} selects {category} events: eventCategory is the only field such a "
                f"selector may have, not {name}.")
        raise InvalidEventSelectors(
            f"{where}: the field {name} cannot select {category} events; use "
            f"{', '.join(sorted(allowed))}.")
    for op in _OPERATORS:
        for value in field.get(op, ()):
            if "*" in value:
                raise InvalidEventSelectors(
                    f"{where}: the {name} value {value!r} has a wildcard (*); selectors take "
                    "exact values or prefixes and suffixes (StartsWith, EndsWith) instead.")
    if name == "errorCode" and (set(field) != {"Field", "Equals"}
                                or field["Equals"] != ["VpceAccessDenied"]):
        raise InvalidEventSelectors(
            f"{where}: errorCode supports only Equals [\"VpceAccessDenied\"].")


def logs_write_management(selectors: tuple[dict[str, Any], ...] | list[dict[str, Any]]
                          ) -> bool:
    """Whether the selectors keep write management events (what Insights count): some
    Management selector does not limit readOnly to true."""
    for selector in selectors:
        fields = {f["Field"]: f for f in selector.get("FieldSelectors") or ()}
        if fields.get("eventCategory", {}).get("Equals") != ["Management"]:
            continue
        if fields.get("readOnly", {}).get("Equals") != ["true"]:
            return True
    return False


def _record_category(obj: dict[str, Any], category: Category) -> str:
    if category == Category.INSIGHT:
        return "Insight"
    value = obj.get("eventCategory")
    if value in STORE_ONLY_CATEGORIES or value in ("Data", "NetworkActivity"):
        return str(value)
    return "Data" if category == Category.DATA else "Management"


def receives(store: EventDataStore, account: str, region: str, obj: dict[str, Any],
             category: Category, *, channel_stores: Collection[str] | None = None) -> bool:
    """Whether `store` receives the record `obj` of `account` and `region` (now).

    * status: only an `ENABLED` store receives (`store.receiving`);
    * category: an event of the store's one category;
    * Insights events: an Insight store receives one when it is the InsightsDestination
      of a source store (`store.insight_sources`) that covers the event's account and
      region and has Insights selectors for its insightType (`insight_source`); the
      store's own account and region settings do not matter then;
    * account: its own account's events; every account's for an organization store;
    * region: its home region's, or every region's when `MultiRegionEnabled`;
    * ActivityAuditLog stores receive channel events, and when `channel_stores` is given
      (the ARNs or ids of the stores the event's channel names) only if this store is
      among them;
    * selectors: the advanced selectors, with the trails' matcher.
    """
    if not store.receiving or category == Category.INTERNAL:  # health records: ledger only
        return False
    kind = _record_category(obj, category)
    if kind != store.category:
        return False
    if kind == "Insight":
        return insight_source(store, account, region, obj) is not None
    if not store.organization and account != store.account:
        return False
    if not store.multi_region and region != store.region:
        return False
    return _chosen(store, kind, obj, category, channel_stores)


def insight_source(store: EventDataStore, account: str, region: str,
                   obj: dict[str, Any]) -> str | None:
    """The ARN of the first source store that sends the Insights event `obj` (of
    `account` and `region`) to the Insight store `store`, or None: a source of that
    account (any account for an organization source), covering that region (any for a
    multi-region source), with an Insights selector of the event's insightType."""
    details = obj.get("insightDetails")
    kind = details.get("insightType") if isinstance(details, dict) else None
    for source in store.insight_sources:
        if ((source.get("organization") or source.get("account") == account)
                and (source.get("multiRegion") or source.get("region") == region)
                and kind in (source.get("insightTypes") or ())):
            return str(source.get("arn"))
    return None


def reaches_accounts(store: EventDataStore) -> bool:
    """Whether `store` may receive events of accounts other than its own: an
    organization store, or an Insight store with an organization source."""
    return store.organization or any(s.get("organization") for s in store.insight_sources)


def _chosen(store: EventDataStore, kind: str, obj: dict[str, Any], category: Category,
            channel_stores: Collection[str] | None) -> bool:
    if kind == "ActivityAuditLog" and channel_stores is not None:
        return store.arn in channel_stores or store.id in channel_stores
    return kind in STORE_ONLY_CATEGORIES or matches_advanced(store.selectors, obj, category)
