"""StoreCatalog: the event data stores of every account, in the backend's `CatalogRows`
(lake/_catalog_rows.py; DATA_DIR/lake.db when given a data dir).

Every rule of Create/Get/List/Update/Delete/Restore/Start/StopIngestion (spec lake.md §3)
lives here; `api/_stores.py` only shapes requests and answers. Each change runs in one
write transaction serialised against every other catalog write, so the 10-stores limit
and name uniqueness hold even with other processes or nodes writing. Settings arrive with
their wire names (`RetentionPeriod`, `BillingMode`, ...), are checked, and become an
`EventDataStore`.

Decisions (docs/lake.md "Decisions"):
* Status changes are immediate: Create answers `CREATED` and the store is then `ENABLED`
  (or `STOPPED_INGESTION` with StartIngestion=false); Start/StopEventDataStoreIngestion
  go straight to `ENABLED` / `STOPPED_INGESTION` (the writer reads the status before each
  batch, so no `STARTING_`/`STOPPING_INGESTION` state is ever observable).
* A name stays taken while its store is `PENDING_DELETION` (it can be restored).
* A deleted store is purged `PENDING_DAYS` after DeleteEventDataStore by the injected
  clock: `purge_due` first lets the caller delete its files, then forgets the store.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from opentrail.clock import Clock
from opentrail.errors import (
    EventDataStoreAlreadyExists,
    EventDataStoreARNInvalid,
    EventDataStoreMaxLimitExceeded,
    EventDataStoreNotFound,
    EventDataStoreTerminationProtected,
    InactiveEventDataStore,
    InvalidEventDataStoreCategory,
    InvalidEventDataStoreStatus,
    InvalidEventSelectors,
    InvalidInsightSelectors,
    InvalidNextToken,
    InvalidTagParameter,
    UnsupportedOperation,
    ValidationError,
)
from opentrail.lake._catalog_rows import CatalogRows, CatalogTx, StoreRow
from opentrail.lake._model import BILLING_MODES, EXTENDABLE, FIXED, EventDataStore
from opentrail.lake._selection import (
    DEFAULT_STORE_SELECTORS,
    check_store_selectors,
    logs_write_management,
)
from opentrail.trails._tags import MAX_TAGS, check_tags, merge_tags, remove_tags

__all__ = [
    "INGESTION_CATEGORIES",
    "MAX_STORES_PER_REGION",
    "PENDING_DAYS",
    "STORE_SETTINGS",
    "StoreCatalog",
    "check_retention",
    "check_store_name",
    "parse_store_ref",
]

log = logging.getLogger(__name__)

MAX_STORES_PER_REGION = 10
PENDING_DAYS = 7
MIN_RETENTION, MAX_RETENTION, MAX_FIXED_RETENTION = 7, 3653, 2557
DEFAULT_RETENTION = {EXTENDABLE: 366, FIXED: 2557}
# Start/StopEventDataStoreIngestion apply to these categories only (spec §3).
INGESTION_CATEGORIES = ("Management", "Data", "NetworkActivity", "ConfigurationItem")
STORE_SETTINGS = ("AdvancedEventSelectors", "MultiRegionEnabled", "OrganizationEnabled",
            "RetentionPeriod", "TerminationProtectionEnabled", "KmsKeyId", "BillingMode")

_NAME = re.compile(r"[a-zA-Z0-9._\-]{3,128}")
_REF = re.compile(r"[a-zA-Z0-9._/\-:]{3,256}")
_ARN = re.compile(r"arn:aws[a-z\-]*:cloudtrail:([a-z0-9\-]+):(\d{12}):eventdatastore/"
                  r"([a-zA-Z0-9._\-]{1,128})")

# `StoreCatalog.list` hides the builtin inside the class body
Stores = list[EventDataStore]
Tags = list[dict[str, str]]
Selectors = list[dict[str, Any]]


def check_store_name(value: object) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValidationError(f"Name {value!r} is not valid: an event data store name has 3 "
                              "to 128 characters, letters, digits, '.', '_' and '-' only.")
    return value


def check_retention(days: object, billing_mode: str) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not (
            MIN_RETENTION <= days <= MAX_RETENTION):
        raise ValidationError(f"RetentionPeriod {days!r} is not valid: it must be a whole "
                              f"number of days from {MIN_RETENTION} to {MAX_RETENTION}.")
    if billing_mode == FIXED and days > MAX_FIXED_RETENTION:
        raise ValidationError(f"RetentionPeriod {days} is too long for "
                              f"{FIXED}: the maximum is {MAX_FIXED_RETENTION} days.")
    return days


def _bool(settings: Mapping[str, Any], key: str, current: bool) -> bool:
    value = settings.get(key, current)
    if not isinstance(value, bool):
        raise ValidationError(f"{key} must be true or false.")
    return value


def _billing_mode(value: object) -> str:
    if value not in BILLING_MODES:
        raise ValidationError(f"BillingMode {value!r} is not valid: use "
                              f"{' or '.join(BILLING_MODES)}.")
    return str(value)


def _billing(settings: Mapping[str, Any], current: str) -> str:
    value = _billing_mode(settings.get("BillingMode", current))
    if current == EXTENDABLE and value == FIXED:
        raise ValidationError(f"BillingMode can change from {FIXED} to {EXTENDABLE} only, "
                              "not back.")
    return str(value)


def _no_kms(settings: Mapping[str, Any]) -> None:
    if settings.get("KmsKeyId") not in (None, ""):
        raise UnsupportedOperation(
            "OpenTrail does not encrypt event data stores with KMS keys; leave KmsKeyId out "
            "and encrypt the disk or bucket that holds the Lake instead.")


def _settled(store: EventDataStore, settings: Mapping[str, Any]) -> EventDataStore:
    """`store` with `settings` applied and checked (Create's defaults already in `store`)."""
    _no_kms(settings)
    billing = _billing(settings, store.billing_mode)
    retention = settings.get("RetentionPeriod", store.retention_days)
    changes: dict[str, Any] = {
        "billing_mode": billing,
        "retention_days": check_retention(retention, billing),
        "multi_region": _bool(settings, "MultiRegionEnabled", store.multi_region),
        "organization": _bool(settings, "OrganizationEnabled", store.organization),
        "termination_protection": _bool(settings, "TerminationProtectionEnabled",
                                        store.termination_protection),
    }
    if "Name" in settings:
        changes["name"] = check_store_name(settings["Name"])
    if "AdvancedEventSelectors" in settings:
        changes["selectors"] = tuple(check_store_selectors(settings["AdvancedEventSelectors"]))
    return dataclasses.replace(store, **changes)


def parse_store_ref(ref: object) -> tuple[str | None, str | None, str]:
    """(region, account, id) of an ARN, or (None, None, id) of a bare id."""
    if not isinstance(ref, str) or not _REF.fullmatch(ref):
        raise EventDataStoreARNInvalid(
            f"The event data store {ref!r} is not valid: give its ARN or its id (3 to 256 "
            "characters of letters, digits and . _ / - :).")
    if ref.startswith("arn:"):
        match = _ARN.fullmatch(ref)
        if match is None:
            raise EventDataStoreARNInvalid(
                f"The event data store ARN {ref} is not valid: it must look like "
                "arn:aws:cloudtrail:REGION:ACCOUNT:eventdatastore/ID.")
        return match.group(1), match.group(2), match.group(3)
    if "/" in ref or ":" in ref:
        raise EventDataStoreARNInvalid(f"The event data store id {ref} is not valid: an id "
                                       "has no '/' or ':'; give the id or the whole ARN.")
    return None, None, ref


def _not_found(ref: object) -> EventDataStoreNotFound:
    return EventDataStoreNotFound(f"The event data store {ref} was not found.")


def _load(record: bytes) -> EventDataStore:
    data = orjson.loads(record)
    data["selectors"] = tuple(data["selectors"])
    data["insight_selectors"] = tuple(data.get("insight_selectors") or ())
    data.pop("insight_sources", None)  # derived on reading (_with_sources), never stored
    return EventDataStore(**data)


def _dump(store: EventDataStore) -> bytes:
    data = dataclasses.asdict(store)
    del data["insight_sources"]
    return orjson.dumps(data)


def _source_entry(source: EventDataStore) -> dict[str, Any]:
    """What routing an Insights event to `source`'s destination needs of the source."""
    return {"id": source.id, "arn": source.arn, "account": source.account,
            "region": source.region, "organization": source.organization,
            "multiRegion": source.multi_region,
            "insightTypes": sorted({str(sel.get("InsightType"))
                                    for sel in source.insight_selectors})}


def _page_token(store_id: str) -> str:
    return base64.urlsafe_b64encode(f"eds:{store_id}".encode()).decode()


def _token_id(token: object) -> str:
    try:
        text = base64.urlsafe_b64decode(str(token).encode()).decode()
    except (ValueError, UnicodeDecodeError):
        text = ""
    if not isinstance(token, str) or not 4 <= len(token) <= 1000 or not text.startswith(
            "eds:"):
        raise InvalidNextToken(f"NextToken {token!r} is not valid; pass the NextToken of the "
                               "previous ListEventDataStores answer unchanged.")
    return text[4:]


class StoreCatalog:
    """Event data stores by account and region; the writer and queries read them all."""

    def __init__(self, rows: CatalogRows | Path, clock: Clock) -> None:
        if isinstance(rows, Path):
            from opentrail.backends.sqlite import SqliteCatalogRows

            rows = SqliteCatalogRows(rows)
        self._rows = rows
        self._clock = clock

    def close(self) -> None:
        self._rows.close()

    def _select(self, account: str | None = None, region: str | None = None,
                store_id: str | None = None) -> Stores:
        return self._with_sources(self._raw(account, region, store_id))

    def _raw(self, account: str | None = None, region: str | None = None,
             store_id: str | None = None) -> Stores:
        with self._rows.read() as tx:
            records = tx.records(account, region, store_id)
        return [_load(record) for record in records]

    def _with_sources(self, stores: Stores) -> Stores:
        """Insight stores with their `insight_sources`: every store not pending deletion
        whose Insights selectors name it as InsightsDestination, oldest first."""
        if not any(s.category == "Insight" for s in stores):
            return stores
        sources: dict[str, list[dict[str, Any]]] = {}
        for source in sorted(self._raw(), key=lambda s: (s.created, s.id)):
            if (source.insight_selectors and source.insights_destination
                    and source.status != "PENDING_DELETION"):
                sources.setdefault(source.insights_destination, []).append(
                    _source_entry(source))
        return [dataclasses.replace(s, insight_sources=tuple(sources.get(s.id, ())))
                if s.category == "Insight" else s for s in stores]

    # -- what the writer and the query runner read ----------------------------------------

    def list_all(self) -> Stores:
        """Every store of every account, any status."""
        return self._select()

    def get_any(self, store_id: str) -> EventDataStore | None:
        found = self._select(store_id=store_id)
        return found[0] if found else None

    def resolve(self, ref: object, account: str, region: str | None = None, *,
                active: bool = False) -> EventDataStore:
        """The store `ref` (ARN or bare id) names among `account`'s stores (in `region`
        when given). EventDataStoreARNInvalid if malformed, EventDataStoreNotFound if no
        such store of that account; with active=True a PENDING_DELETION store is
        InactiveEventDataStore (queries, channels)."""
        arn_region, arn_account, store_id = parse_store_ref(ref)
        store = self.get_any(store_id)
        if (store is None or store.account != account
                or arn_account not in (None, store.account)
                or arn_region not in (None, store.region)
                or region not in (None, store.region)):
            raise _not_found(ref)
        if active and store.status == "PENDING_DELETION":
            raise InactiveEventDataStore(f"The event data store {store.arn} is inactive: it "
                                         "is pending deletion (RestoreEventDataStore it "
                                         "first).")
        return store

    # -- the API's operations -------------------------------------------------------------

    def get(self, account: str, region: str, ref: object) -> EventDataStore:
        return self.resolve(ref, account, region)

    def list(self, account: str, region: str) -> Stores:
        """`account`'s stores homed in `region`, PENDING_DELETION included, oldest first."""
        stores = self._select(account, region)
        return sorted(stores, key=lambda s: (s.created, s.id))

    def page(self, account: str, region: str, max_results: int,
             token: object | None) -> tuple[Stores, str | None]:
        """One ListEventDataStores page and the NextToken of the next (None at the end)."""
        stores = self.list(account, region)
        if token is not None:
            after = _token_id(token)
            ids = [s.id for s in stores]
            if after not in ids:
                raise InvalidNextToken("NextToken no longer names a page: the store it "
                                       "continued from is gone. List again from the start.")
            stores = stores[ids.index(after) + 1:]
        chunk = stores[:max_results]
        more = len(stores) > max_results
        return chunk, (_page_token(chunk[-1].id) if more and chunk else None)

    def create(self, account: str, region: str, name: object, settings: Mapping[str, Any],
               *, start_seq: int, start_ingestion: bool = True,
               tags: object = None) -> tuple[EventDataStore, Tags]:
        """A new store with CloudTrail's defaults and `settings`; (store, its tags)."""
        now = self._clock.now()
        billing = _billing_mode(settings.get("BillingMode", EXTENDABLE))
        base = EventDataStore(
            id=str(uuid.uuid4()), account=account, region=region,
            name=check_store_name(name), status="ENABLED", selectors=DEFAULT_STORE_SELECTORS,
            multi_region=True, organization=False, retention_days=DEFAULT_RETENTION[billing],
            termination_protection=True, billing_mode=billing, kms_key_id=None, created=now,
            updated=now, start_seq=start_seq)
        store = _settled(base, settings)
        if not start_ingestion:
            store = dataclasses.replace(store, status="STOPPED_INGESTION")
        checked = check_tags(tags or [])
        if len(checked) > MAX_TAGS:
            raise InvalidTagParameter(f"TagsList has {len(checked)} tags; a store may have at "
                                      f"most {MAX_TAGS}.")
        with self._rows.write() as tx:
            self._check_room(tx, account, region)
            self._check_name(tx, store)
            tx.insert(StoreRow(store.id, account, region, store.name, _dump(store),
                               orjson.dumps(checked)))
        return store, checked

    def _check_room(self, tx: CatalogTx, account: str, region: str) -> None:
        if tx.count(account, region) >= MAX_STORES_PER_REGION:
            raise EventDataStoreMaxLimitExceeded(
                f"Your account has used the maximum number of event data stores: "
                f"{MAX_STORES_PER_REGION} per account and Region, stores pending deletion "
                "included. Delete one (and let it be purged) first.")

    def _check_name(self, tx: CatalogTx, store: EventDataStore) -> None:
        if tx.name_taken(store.account, store.region, store.name, store.id):
            raise EventDataStoreAlreadyExists(
                f"An event data store with the name {store.name} already exists in this "
                "account and Region (stores pending deletion keep their names).")

    def _change(self, account: str, region: str, ref: object,
                change: Callable[[EventDataStore], EventDataStore]) -> EventDataStore:
        with self._rows.write() as tx:
            store = self.resolve(ref, account, region)
            new = dataclasses.replace(change(store), updated=self._clock.now())
            self._check_name(tx, new)
            tx.update(new.id, new.name, _dump(new))
        return new

    def update(self, account: str, region: str, ref: object,
               settings: Mapping[str, Any]) -> EventDataStore:
        """UpdateEventDataStore: at least one of Name and the settings; not while pending
        deletion; BillingMode FIXED→EXTENDABLE only; KmsKeyId refused."""
        given = [k for k in ("Name", *STORE_SETTINGS) if settings.get(k) is not None]
        if not given:
            raise ValidationError("UpdateEventDataStore needs at least one of Name, "
                                  f"{', '.join(STORE_SETTINGS)}.")

        def change(store: EventDataStore) -> EventDataStore:
            if store.status == "PENDING_DELETION":
                raise InactiveEventDataStore(f"The event data store {store.arn} is pending "
                                             "deletion; restore it before updating it.")
            new = _settled(store, {k: settings[k] for k in given})
            if new.category != store.category:
                raise InvalidEventSelectors(
                    f"AdvancedEventSelectors would change the store's event category from "
                    f"{store.category} to {new.category}; a store keeps its category. "
                    "Create another store instead.")
            if store.insight_selectors and not logs_write_management(new.selectors):
                raise InvalidInsightSelectors(
                    f"The event data store {store.arn} has Insights enabled, which need its "
                    "write management events; these selectors would leave them out. Turn "
                    "Insights off (PutInsightSelectors with []) first.")
            return new

        return self._change(account, region, ref, change)

    def set_insights(self, account: str, region: str, ref: object,
                     selectors: Selectors, destination: str | None
                     ) -> EventDataStore:
        """PutInsightSelectors on a source store (the API checked both stores)."""
        def change(store: EventDataStore) -> EventDataStore:
            return dataclasses.replace(store, insight_selectors=tuple(selectors),
                                       insights_destination=destination if selectors else None)

        return self._change(account, region, ref, change)

    def set_insights_source(self, store_id: str, source: str | None) -> None:
        """Mark an Insight store as the destination of `source` (None: of no store)."""
        with self._rows.write() as tx:
            store = self.get_any(store_id)
            if store is not None:
                new = dataclasses.replace(store, insights_source=source)
                tx.update(new.id, new.name, _dump(new))

    def delete(self, account: str, region: str, ref: object,
               guard: Callable[[EventDataStore], None] | None = None) -> EventDataStore:
        """PENDING_DELETION for PENDING_DAYS; `guard` raises to refuse (channels, imports)."""
        with self._rows.write() as tx:
            store = self.resolve(ref, account, region)
            if store.status == "PENDING_DELETION":
                raise InactiveEventDataStore(f"The event data store {store.arn} is already "
                                             "pending deletion.")
            if store.termination_protection:
                raise EventDataStoreTerminationProtected(
                    f"The event data store {store.arn} cannot be deleted because termination "
                    "protection is enabled; UpdateEventDataStore with "
                    "TerminationProtectionEnabled=false first.")
            if guard is not None:
                guard(store)
            now = self._clock.now()
            new = dataclasses.replace(store, status="PENDING_DELETION", deleted=now,
                                      updated=now)
            tx.mark_deleted(store.id, _dump(new), store.status)
        return new

    def restore(self, account: str, region: str, ref: object) -> EventDataStore:
        """Back to the status it had before DeleteEventDataStore."""
        with self._rows.write() as tx:
            store = self.resolve(ref, account, region)
            if store.status != "PENDING_DELETION":
                raise InvalidEventDataStoreStatus(
                    f"The event data store {store.arn} is {store.status}; only a store "
                    "pending deletion can be restored.")
            prior = tx.prior_status(store.id)
            new = dataclasses.replace(store, status=prior or "ENABLED", deleted=None,
                                      updated=self._clock.now())
            tx.restore(store.id, _dump(new))
        return new

    def start_ingestion(self, account: str, region: str, ref: object) -> EventDataStore:
        return self._ingestion(account, region, ref, "STOPPED_INGESTION", "ENABLED")

    def stop_ingestion(self, account: str, region: str, ref: object) -> EventDataStore:
        return self._ingestion(account, region, ref, "ENABLED", "STOPPED_INGESTION")

    def _ingestion(self, account: str, region: str, ref: object, needs: str,
                   to: str) -> EventDataStore:
        def change(store: EventDataStore) -> EventDataStore:
            if store.category not in INGESTION_CATEGORIES:
                raise InvalidEventDataStoreCategory(
                    f"The event data store {store.arn} holds {store.category} events; "
                    "ingestion can be started and stopped only on stores of "
                    f"{', '.join(INGESTION_CATEGORIES)} events.")
            if store.status != needs:
                raise InvalidEventDataStoreStatus(
                    f"The event data store {store.arn} is {store.status}; this operation "
                    f"needs it {needs}.")
            return dataclasses.replace(store, status=to)

        return self._change(account, region, ref, change)

    # -- tags -----------------------------------------------------------------------------

    def tags(self, store: EventDataStore) -> Tags:
        with self._rows.read() as tx:
            tags = tx.tags(store.id)
        return list(orjson.loads(tags)) if tags is not None else []

    def add_tags(self, store: EventDataStore, tags: Tags) -> None:
        self._retag(store, lambda current: merge_tags(current, tags, store.arn))

    def remove_tags(self, store: EventDataStore, keys: Tags) -> None:
        self._retag(store, lambda current: remove_tags(current, keys))

    def _retag(self, store: EventDataStore,
               change: Callable[[Tags], Tags]) -> None:
        with self._rows.write() as tx:
            tags = tx.tags(store.id)
            if tags is None:
                raise _not_found(store.arn)
            tx.set_tags(store.id, orjson.dumps(change(orjson.loads(tags))))

    # -- the purge ------------------------------------------------------------------------

    def purge_due(self, now: float | None = None,
                  delete_files: Callable[[EventDataStore], None] | None = None) -> Stores:
        """Forget the stores pending deletion for PENDING_DAYS or more; returns them.

        `delete_files(store)` runs first for each (the Lake's files); if it raises, the
        store stays in the catalog and the next call tries again.
        """
        now = self._clock.now() if now is None else now
        due = [s for s in self.list_all() if s.status == "PENDING_DELETION"
               and s.deleted is not None and now - s.deleted >= PENDING_DAYS * 86400]
        purged: Stores = []
        for store in due:
            try:
                if delete_files is not None:
                    delete_files(store)
            except Exception:
                log.exception("lake: could not delete the files of store %s; will retry",
                              store.id)
                continue
            with self._rows.write() as tx:
                tx.delete_if(store.id, _dump(store))
            purged.append(store)
        return purged
