"""Event data store operations of the cloudtrail API (CloudTrail Lake, spec lake.md §3).

CreateEventDataStore, Get/List/Update/Delete/RestoreEventDataStore, Start/Stop ingestion,
plus the parts of shared operations that concern stores: tags on store (and channel)
ARNs, Insights selectors on stores, and channels whose destination is a store. The rules
live in `lake.StoreCatalog`; this module shapes requests and answers.

A store belongs to the caller's account; an organization key acts for
`settings.organization_account` and alone may create or update a store with
`OrganizationEnabled` (NotOrganizationMasterAccountException otherwise). An ARN naming
another account is not found, unless an organization key asks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opentrail.api._channels import create_channel, update_channel
from opentrail.api._trails import add_tags as trail_add_tags
from opentrail.api._trails import get_insight_selectors as trail_get_insight_selectors
from opentrail.api._trails import list_tags as trail_list_tags
from opentrail.api._trails import put_insight_selectors as trail_put_insight_selectors
from opentrail.api._trails import remove_tags_op as trail_remove_tags
from opentrail.auth import AuthContext
from opentrail.channels import CHANNEL_ARN, Channel, ChannelRegistry
from opentrail.errors import (
    ChannelExistsForEDS,
    InsightNotEnabled,
    InvalidEventDataStoreCategory,
    InvalidInsightSelectors,
    InvalidMaxResults,
    InvalidParameterCombination,
    NotFound,
    NotOrganizationMasterAccount,
    ValidationError,
)
from opentrail.lake import (
    STORE_SETTINGS,
    EventDataStore,
    StoreCatalog,
    logs_write_management,
    parse_store_ref,
)
from opentrail.trails._selectors import check_insight_selectors
from opentrail.trails._tags import check_tags, merge_tags, remove_tags

if TYPE_CHECKING:
    from opentrail.service import Service

__all__ = ["SHARED_OPERATIONS", "STORE_OPERATIONS"]

MAX_LIST_TAGS_RESOURCES = 20
_STORE_ARN_PART = ":eventdatastore/"


def _catalog(service: Service) -> StoreCatalog:
    catalog = service.lake
    assert catalog is not None  # Service.open opens it
    return catalog


def _account(service: Service, ctx: AuthContext) -> str:
    account: str = ctx.principal.account or service.settings.organization_account
    return account


def _owner(service: Service, ctx: AuthContext, ref: object) -> str:
    """The account whose stores `ref` is looked up among."""
    _, account, _ = parse_store_ref(ref)
    if account is not None and ctx.principal.may_access(account):
        return account
    return _account(service, ctx)


def _resolve(service: Service, ctx: AuthContext, ref: object) -> EventDataStore:
    return _catalog(service).get(_owner(service, ctx, ref), ctx.region, ref)


def _required(params: dict[str, Any], name: str) -> Any:
    if params.get(name) in (None, ""):
        raise ValidationError(f"{name} is required.")
    return params[name]


def _shape(store: EventDataStore, *, status: str | None = None) -> dict[str, Any]:
    """The EDS object (Create/Update/Restore/Get); timestamps in epoch seconds."""
    out: dict[str, Any] = {
        "EventDataStoreArn": store.arn, "Name": store.name, "Status": status or store.status,
        "AdvancedEventSelectors": list(store.selectors),
        "MultiRegionEnabled": store.multi_region, "OrganizationEnabled": store.organization,
        "RetentionPeriod": store.retention_days,
        "TerminationProtectionEnabled": store.termination_protection,
        "CreatedTimestamp": store.created, "UpdatedTimestamp": store.updated,
        "BillingMode": store.billing_mode}
    if store.kms_key_id:
        out["KmsKeyId"] = store.kms_key_id
    return out


def _federation(out: dict[str, Any]) -> dict[str, Any]:
    """Update and Get add the federation members; OpenTrail has no Glue federation: the
    Parquet files are read directly (docs/lake.md)."""
    return {**out, "FederationStatus": "DISABLED"}


def _settings(params: dict[str, Any], ctx: AuthContext) -> dict[str, Any]:
    settings = {k: params[k] for k in ("Name", *STORE_SETTINGS) if k in params}
    if settings.get("OrganizationEnabled") is True and not ctx.principal.organization:
        raise NotOrganizationMasterAccount(
            "OrganizationEnabled needs an organization key (opentrail keys create "
            "--organization); this key belongs to one account.")
    return settings


# -- the store operations ------------------------------------------------------------------

def create_event_data_store(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    start = params.get("StartIngestion", True)
    if not isinstance(start, bool):
        raise ValidationError("StartIngestion must be true or false.")
    settings = _settings(params, ctx)
    store, tags = _catalog(service).create(
        _account(service, ctx), ctx.region, _required(params, "Name"), settings,
        start_seq=service.writer.size, start_ingestion=start,
        tags=params.get("TagsList"))
    return {**_shape(store, status="CREATED"), "TagsList": tags}


def get_event_data_store(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    store = _resolve(service, ctx, _required(params, "EventDataStore"))
    return {**_federation(_shape(store)), **_lake_error(service, store)}


def _lake_error(service: Any, store: EventDataStore) -> dict[str, Any]:
    """`OpenTrailLakeError` while the store's Parquet files cannot be written (the Lake
    location fails; docs/lake.md): the writer's last error and when it happened (epoch
    seconds), until a write succeeds. Not in CloudTrail's model: botocore's parser reads
    only the members of the output shape and leaves this one out; raw HTTP clients and
    the console see it."""
    writer = getattr(service, "lake_writer", None)
    status = writer.status(store.id) if writer is not None else None
    if status is None or status.last_error is None:
        return {}
    return {"OpenTrailLakeError": {"Message": status.last_error,
                                   "Timestamp": status.last_error_time}}


def list_event_data_stores(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    size = params.get("MaxResults", 1000)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 1000:
        raise InvalidMaxResults(f"MaxResults {size!r} is not valid: give 1 to 1000.")
    stores, token = _catalog(service).page(_account(service, ctx), ctx.region, size,
                                           params.get("NextToken"))
    out: dict[str, Any] = {"EventDataStores": [{"EventDataStoreArn": s.arn, "Name": s.name}
                                               for s in stores]}
    if token is not None:
        out["NextToken"] = token
    return out


def update_event_data_store(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    ref = _required(params, "EventDataStore")
    if service.lake_imports is not None:
        service.lake_imports.guard(_resolve(service, ctx, ref), "updated")
    store = _catalog(service).update(_owner(service, ctx, ref), ctx.region, ref,
                                     _settings(params, ctx))
    return _federation(_shape(store))


def _delete_guard(service: Service) -> Callable[[EventDataStore], None]:
    """What DeleteEventDataStore checks beyond the catalog: no import into it is in
    progress and no channel delivers to it."""
    def guard(store: EventDataStore) -> None:
        if service.lake_imports is not None:
            service.lake_imports.guard(store, "deleted")
        for channel in _channels(service).list(store.account, store.region):
            if any(_names_store(d, store) for d in channel.destinations):
                raise ChannelExistsForEDS(
                    f"The event data store {store.arn} cannot be deleted: the channel "
                    f"{channel.arn} delivers to it. Delete the channel or change its "
                    "destinations first.")

    return guard


def _names_store(destination: dict[str, Any], store: EventDataStore) -> bool:
    return (destination.get("Type") == "EVENT_DATA_STORE"
            and destination.get("Location") in (store.arn, store.id))


def delete_event_data_store(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    ref = _required(params, "EventDataStore")
    _catalog(service).delete(_owner(service, ctx, ref), ctx.region, ref,
                             _delete_guard(service))
    return {}


def restore_event_data_store(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    ref = _required(params, "EventDataStore")
    return _shape(_catalog(service).restore(_owner(service, ctx, ref), ctx.region, ref))


def start_ingestion(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    ref = _required(params, "EventDataStore")
    _catalog(service).start_ingestion(_owner(service, ctx, ref), ctx.region, ref)
    return {}


def stop_ingestion(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    ref = _required(params, "EventDataStore")
    _catalog(service).stop_ingestion(_owner(service, ctx, ref), ctx.region, ref)
    return {}


# -- tags on stores and channels (trails: api/_trails.py) ------------------------------------

def _channels(service: Service) -> ChannelRegistry:
    channels: ChannelRegistry = service.channels
    return channels


def _kind(resource: object) -> str:
    if isinstance(resource, str) and resource.startswith("arn:"):
        if _STORE_ARN_PART in resource:
            return "store"
        if CHANNEL_ARN.match(resource):
            return "channel"
    return "trail"


def _tagged_store(service: Service, ctx: AuthContext, resource: str) -> EventDataStore:
    try:
        return _resolve(service, ctx, resource)
    except NotFound:
        raise NotFound(f"The resource {resource} was not found.") from None


def _tagged_channel(service: Service, ctx: AuthContext, resource: str) -> Channel:
    match = CHANNEL_ARN.match(resource)
    assert match is not None
    account = match.group(2) if ctx.principal.may_access(match.group(2)) else _account(
        service, ctx)
    try:
        return _channels(service).get(account, match.group(1), resource)
    except NotFound:
        raise NotFound(f"The resource {resource} was not found.") from None


def add_tags(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    resource, kind = params.get("ResourceId"), _kind(params.get("ResourceId"))
    if kind == "trail":
        return trail_add_tags(service, params, ctx)
    tags = check_tags(params.get("TagsList"))
    if kind == "store":
        _catalog(service).add_tags(_tagged_store(service, ctx, str(resource)), tags)
    else:
        channel = _tagged_channel(service, ctx, str(resource))
        _channels(service).set_tags(channel.arn, merge_tags(channel.tags, tags, channel.arn))
    return {}


def remove_tags_op(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    resource, kind = params.get("ResourceId"), _kind(params.get("ResourceId"))
    if kind == "trail":
        return trail_remove_tags(service, params, ctx)
    keys = check_tags(params.get("TagsList"), values=False)
    if kind == "store":
        _catalog(service).remove_tags(_tagged_store(service, ctx, str(resource)), keys)
    else:
        channel = _tagged_channel(service, ctx, str(resource))
        _channels(service).set_tags(channel.arn, remove_tags(channel.tags, keys))
    return {}


def _tags_of(service: Service, ctx: AuthContext, resource: object) -> dict[str, Any]:
    kind = _kind(resource)
    if kind == "store":
        store = _tagged_store(service, ctx, str(resource))
        return {"ResourceId": store.arn, "TagsList": _catalog(service).tags(store)}
    if kind == "channel":
        channel = _tagged_channel(service, ctx, str(resource))
        return {"ResourceId": channel.arn, "TagsList": channel.tags}
    answer = trail_list_tags(service, {"ResourceIdList": [resource]}, ctx)
    item: dict[str, Any] = answer["ResourceTagList"][0]
    return item


def list_tags(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    ids = params.get("ResourceIdList")
    if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_LIST_TAGS_RESOURCES:
        raise ValidationError(f"ResourceIdList must list 1 to {MAX_LIST_TAGS_RESOURCES} "
                              "trail, event data store or channel ARNs.")
    return {"ResourceTagList": [_tags_of(service, ctx, i) for i in ids]}


# -- Insights on stores (trails: api/_trails.py) ---------------------------------------------

def _store_insights(params: dict[str, Any]) -> bool:
    """Whether the call is about a store; mixing a trail and a store is refused."""
    store = params.get("EventDataStore") not in (None, "") or params.get(
        "InsightsDestination") not in (None, "")
    if store and params.get("TrailName") not in (None, ""):
        raise InvalidParameterCombination(
            "Give TrailName, or EventDataStore with InsightsDestination, not both.")
    return store


def _check_store_insight_selectors(value: object) -> list[dict[str, Any]]:
    selectors = check_insight_selectors(value)
    for i, sel in enumerate(selectors):
        if sel.get("EventCategories", ["Management"]) != ["Management"]:
            raise InvalidInsightSelectors(
                f"InsightSelectors[{i}].EventCategories may list only Management on an event "
                "data store.")
    return selectors


def _insights_source(service: Service, ctx: AuthContext, params: dict[str, Any],
                     selectors: list[dict[str, Any]]) -> EventDataStore:
    source = _resolve(service, ctx, _required(params, "EventDataStore"))
    if selectors and source.category != "Management":
        raise InvalidInsightSelectors(
            f"The event data store {source.arn} holds {source.category} events; Insights "
            "need a store of management events.")
    if any(s["InsightType"] == "ApiCallRateInsight" for s in selectors) and (
            not logs_write_management(source.selectors)):
        raise InvalidInsightSelectors(
            f"ApiCallRateInsight needs write management events, which the selectors of "
            f"{source.arn} leave out.")
    return source


def _insights_destination(service: Service, ctx: AuthContext, source: EventDataStore,
                          value: object) -> EventDataStore:
    if value in (None, ""):
        raise InvalidParameterCombination(
            "InsightsDestination is required with EventDataStore: name the Insight event "
            "data store that receives the Insights events.")
    dest = _catalog(service).resolve(value, source.account, source.region, active=True)
    if dest.category != "Insight":
        raise InvalidEventDataStoreCategory(
            f"InsightsDestination {dest.arn} holds {dest.category} events; it must be an "
            "event data store of Insight events (eventCategory Insight).")
    return dest


def put_insight_selectors(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    if not _store_insights(params):
        return trail_put_insight_selectors(service, params, ctx)
    selectors = _check_store_insight_selectors(params.get("InsightSelectors"))
    source = _insights_source(service, ctx, params, selectors)
    dest = (_insights_destination(service, ctx, source, params.get("InsightsDestination"))
            if selectors or params.get("InsightsDestination") else None)
    catalog = _catalog(service)
    old = (catalog.get_any(source.insights_destination)
           if source.insights_destination and source.insights_destination != (
               dest and dest.id) else None)
    if old is not None and old.insights_source == source.id:  # not another source's
        catalog.set_insights_source(old.id, None)
    source = catalog.set_insights(source.account, source.region, source.arn, selectors,
                                  dest.id if dest else None)
    if selectors and dest is not None:
        catalog.set_insights_source(dest.id, source.id)
    return _insights_shape(service, source)


def _insights_shape(service: Service, source: EventDataStore) -> dict[str, Any]:
    out: dict[str, Any] = {"EventDataStoreArn": source.arn,
                           "InsightSelectors": list(source.insight_selectors)}
    dest = (_catalog(service).get_any(source.insights_destination)
            if source.insights_destination else None)
    if dest is not None:
        out["InsightsDestination"] = dest.arn
    return out


def get_insight_selectors(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    if not _store_insights(params):
        return trail_get_insight_selectors(service, params, ctx)
    source = _resolve(service, ctx, _required(params, "EventDataStore"))
    if not source.insight_selectors:
        raise InsightNotEnabled(
            f"The event data store {source.arn} does not have Insights enabled; "
            "PutInsightSelectors with EventDataStore and InsightsDestination enables them.")
    return _insights_shape(service, source)


# -- channels whose destination is a store ---------------------------------------------------

def _check_channel_stores(service: Service, ctx: AuthContext, destinations: object) -> None:
    """Each EVENT_DATA_STORE destination names an existing, active ActivityAuditLog store
    of the caller's account (the registry checks the rest of the shape)."""
    if not isinstance(destinations, list):
        return
    for dest in destinations:
        if not isinstance(dest, dict) or dest.get("Type") != "EVENT_DATA_STORE":
            continue
        store = _catalog(service).resolve(dest.get("Location"), _account(service, ctx),
                                          active=True)
        if store.category != "ActivityAuditLog":
            raise InvalidEventDataStoreCategory(
                f"The event data store {store.arn} holds {store.category} events; a channel "
                "delivers to event data stores of ActivityAuditLog events only.")


def create_channel_checked(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    _check_channel_stores(service, ctx, params.get("Destinations"))
    return create_channel(_channels(service), params, ctx)


def update_channel_checked(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    if ctx.principal.account is not None and isinstance(params.get("Channel"), str):
        # An unknown channel is reported before anything about its new destinations.
        _channels(service).get(ctx.principal.account, ctx.region, params["Channel"])
    _check_channel_stores(service, ctx, params.get("Destinations"))
    return update_channel(_channels(service), params, ctx)


STORE_OPERATIONS = {
    "CreateEventDataStore": create_event_data_store,
    "GetEventDataStore": get_event_data_store,
    "ListEventDataStores": list_event_data_stores,
    "UpdateEventDataStore": update_event_data_store,
    "DeleteEventDataStore": delete_event_data_store,
    "RestoreEventDataStore": restore_event_data_store,
    "StartEventDataStoreIngestion": start_ingestion,
    "StopEventDataStoreIngestion": stop_ingestion,
}

# Shared operations that also take stores: registered over the trail and channel handlers
# (api/_operations.py), which they call for everything that is not a store.
SHARED_OPERATIONS = {
    "AddTags": add_tags,
    "RemoveTags": remove_tags_op,
    "ListTags": list_tags,
    "PutInsightSelectors": put_insight_selectors,
    "GetInsightSelectors": get_insight_selectors,
    "CreateChannel": create_channel_checked,
    "UpdateChannel": update_channel_checked,
}
