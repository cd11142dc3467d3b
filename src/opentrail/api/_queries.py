"""Lake query operations: StartQuery, DescribeQuery, GetQueryResults, ListQueries, CancelQuery.

Requests are checked here (spec lake.md §4: lengths, patterns, the QueryStatement xor
QueryAlias rule) and answered from `lake.QueryRunner`. A query belongs to the caller's
account (an organization key acts for `settings.organization_account`); its tables are
looked up among the stores of EventDataStoreOwnerAccountId when given (an account the
key may read), else of the caller's account, in the request's region.

Roles: a reader key may run and cancel queries. A query reads data and changes no
configuration, as LookupEvents; CloudTrail treats it as a read of the store's events.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from opentrail.api._lookup import _timestamp
from opentrail.auth import AuthContext
from opentrail.errors import (
    InvalidMaxResults,
    InvalidNextToken,
    InvalidParameterCombination,
    OpenTrailError,
    ValidationError,
)
from opentrail.lake import EventDataStore, QueryInfo, QueryRunner

if TYPE_CHECKING:
    from opentrail.service import Service

__all__ = ["QUERY_OPERATIONS", "READER_OPERATIONS"]

MAX_STATEMENT = 10_000
MAX_ERROR = 1000
_QUERY_ID = re.compile(r"[a-f0-9\-]{36}")
_OWNER = re.compile(r"\d{12,16}")
_ALIAS = re.compile(r"[a-zA-Z][a-zA-Z0-9._\-]{0,255}")


def _runner(service: Service) -> QueryRunner:
    runner = service.queries
    assert runner is not None  # Service.open starts it
    return runner


def _account(service: Service, ctx: AuthContext) -> str:
    account: str = ctx.principal.account or service.settings.organization_account
    return account


def _query_id(params: dict[str, Any]) -> str:
    value = params.get("QueryId")
    if value in (None, ""):
        raise ValidationError("QueryId is required.")
    if not isinstance(value, str) or not _QUERY_ID.fullmatch(value):
        raise ValidationError(f"QueryId must be 36 characters of a-f, 0-9 and '-'; got "
                              f"{value!r}.")
    return value


def _no_alias(params: dict[str, Any]) -> None:
    alias = params.get("QueryAlias")
    if alias is None:
        return
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias):
        raise ValidationError("QueryAlias must be 1 to 256 characters: a letter, then "
                              "letters, digits, '.', '_' or '-'.")
    raise ValidationError(f"QueryAlias {alias!r} does not name a query: OpenTrail has no "
                          "managed (dashboard) queries. Send QueryStatement instead.")


def _statement(params: dict[str, Any]) -> str:
    statement, alias = params.get("QueryStatement"), params.get("QueryAlias")
    if statement is not None and alias is not None:
        raise InvalidParameterCombination("Give either QueryStatement or QueryAlias, not both.")
    if statement is None:
        _no_alias(params)
        raise ValidationError("QueryStatement is required (or QueryAlias).")
    if not isinstance(statement, str) or not 1 <= len(statement) <= MAX_STATEMENT:
        raise ValidationError(f"QueryStatement must be 1 to {MAX_STATEMENT} characters.")
    if params.get("QueryParameters") is not None:
        raise InvalidParameterCombination("QueryParameters go with a QueryAlias (dashboard "
                                          "queries), not with QueryStatement.")
    return statement


def _owner(service: Service, ctx: AuthContext, params: dict[str, Any]) -> str:
    owner = params.get("EventDataStoreOwnerAccountId")
    if owner is None:
        return _account(service, ctx)
    if not isinstance(owner, str) or not _OWNER.fullmatch(owner):
        raise ValidationError("EventDataStoreOwnerAccountId must be 12 to 16 digits.")
    if not ctx.principal.may_access(owner):
        raise ValidationError(f"EventDataStoreOwnerAccountId {owner} is not an account your "
                              "key may read; leave it out to query your own stores.")
    return owner


def _store(service: Service, ctx: AuthContext, ref: object) -> EventDataStore:
    catalog = service.lake
    assert catalog is not None  # Service.open opens it
    return catalog.resolve(ref, _account(service, ctx), ctx.region)


def _max(params: dict[str, Any], name: str, default: int = 1000) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
        raise InvalidMaxResults(f"{name} must be an integer from 1 to 1000; got {value!r}.")
    return value


def _token(params: dict[str, Any]) -> str | None:
    token = params.get("NextToken")
    if token is not None and (not isinstance(token, str) or not 4 <= len(token) <= 1000):
        raise InvalidNextToken("NextToken must be the 4 to 1000 character token of a "
                               "previous response.")
    return token


def _time(params: dict[str, Any], name: str) -> float | None:
    try:
        value = _timestamp(params, name)
    except OpenTrailError as err:
        raise ValidationError(err.message) from None
    return None if value is None else float(value)


def _deprecated_store(service: Service, ctx: AuthContext, params: dict[str, Any]) -> None:
    """The deprecated EventDataStore member: checked (it must be a store of the caller)."""
    if params.get("EventDataStore") is not None:
        _store(service, ctx, params["EventDataStore"])


# -- operations -----------------------------------------------------------------------------

def start_query(service: Service, params: dict[str, Any], ctx: AuthContext) -> dict[str, Any]:
    statement = _statement(params)
    owner = _owner(service, ctx, params)
    delivery = params.get("DeliveryS3Uri")
    query_id = _runner(service).start(_account(service, ctx), statement, owner=owner,
                                      region=ctx.region, delivery_uri=delivery)
    out: dict[str, Any] = {"QueryId": query_id}
    if params.get("EventDataStoreOwnerAccountId") is not None:
        out["EventDataStoreOwnerAccountId"] = owner
    return out


def _describe_shape(info: QueryInfo) -> dict[str, Any]:
    out: dict[str, Any] = {
        "QueryId": info.id, "QueryString": info.statement, "QueryStatus": info.status,
        "QueryStatistics": {
            "EventsMatched": info.total, "EventsScanned": info.events_scanned,
            "BytesScanned": info.bytes_scanned, "ExecutionTimeInMillis": info.millis,
            "CreationTime": info.created}}
    if info.error:
        out["ErrorMessage"] = info.error[:MAX_ERROR]
    if info.delivery_uri:
        out["DeliveryS3Uri"] = info.delivery_uri
        out["DeliveryStatus"] = info.delivery_status or "UNKNOWN"
    if info.owner != info.account:
        out["EventDataStoreOwnerAccountId"] = info.owner
    return out


def describe_query(service: Service, params: dict[str, Any], ctx: AuthContext) -> dict[str, Any]:
    if params.get("QueryId") is None:
        _no_alias(params)
    _deprecated_store(service, ctx, params)
    return _describe_shape(_runner(service).describe(_account(service, ctx),
                                                     _query_id(params)))


def get_query_results(service: Service, params: dict[str, Any],
                      ctx: AuthContext) -> dict[str, Any]:
    query_id = _query_id(params)
    _deprecated_store(service, ctx, params)
    page = _runner(service).results(_account(service, ctx), query_id,
                                    next_token=_token(params),
                                    max_results=_max(params, "MaxQueryResults"))
    out: dict[str, Any] = {
        "QueryStatus": page.status,
        "QueryStatistics": {"ResultsCount": len(page.rows),
                            "TotalResultsCount": page.total,
                            "BytesScanned": page.bytes_scanned},
        "QueryResultRows": page.rows}
    if page.next_token:
        out["NextToken"] = page.next_token
    if page.error:
        out["ErrorMessage"] = page.error[:MAX_ERROR]
    return out


def list_queries(service: Service, params: dict[str, Any], ctx: AuthContext) -> dict[str, Any]:
    if params.get("EventDataStore") in (None, ""):
        raise ValidationError("EventDataStore is required.")
    store = _store(service, ctx, params["EventDataStore"])
    status = params.get("QueryStatus")
    found, token = _runner(service).list(
        _account(service, ctx), store.id, start=_time(params, "StartTime"),
        end=_time(params, "EndTime"), status=status if status is None else str(status),
        next_token=_token(params), max_results=_max(params, "MaxResults"))
    out: dict[str, Any] = {"Queries": [{"QueryId": q.id, "QueryStatus": q.status,
                                        "CreationTime": q.created} for q in found]}
    if token:
        out["NextToken"] = token
    return out


def cancel_query(service: Service, params: dict[str, Any], ctx: AuthContext) -> dict[str, Any]:
    query_id = _query_id(params)
    _deprecated_store(service, ctx, params)
    status = _runner(service).cancel(_account(service, ctx), query_id)
    return {"QueryId": query_id, "QueryStatus": status}


QUERY_OPERATIONS = {
    "StartQuery": start_query,
    "DescribeQuery": describe_query,
    "GetQueryResults": get_query_results,
    "ListQueries": list_queries,
    "CancelQuery": cancel_query,
}
# Not Get/List/Describe, yet a reader key may call them: they read events and change no
# configuration (their audit records still say readOnly false, as CloudTrail's do).
READER_OPERATIONS = frozenset({"StartQuery", "CancelQuery"})
