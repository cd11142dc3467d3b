"""The Lake page: the viewer's event data stores, a SQL editor, results, history, downloads.

Queries go through the API's own operations (api/_queries.py: StartQuery, DescribeQuery,
GetQueryResults, ListQueries, CancelQuery) with the signed-in key's AuthContext, so the
console checks, refuses and isolates exactly as the API does: one implementation.
Errors are the API's messages. Starting and cancelling are CSRF-protected POSTs, and
are recorded in the ledger as the API records them (a `StartQuery` / `CancelQuery` event
of the signed-in key, with the statement in requestParameters): running a query from the
console is no way around the audit trail.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from opentrail.api._audit import audit_record, outcome, prepare
from opentrail.api._queries import (
    cancel_query,
    describe_query,
    get_query_results,
    list_queries,
    start_query,
)
from opentrail.auth import AuthContext
from opentrail.console._console import Console, Viewer, read_form
from opentrail.console._export import escape_cell
from opentrail.errors import OpenTrailError, ValidationError
from opentrail.lake import EventDataStore

__all__ = ["SAMPLES", "cancel_submit", "lake_page", "query_download", "query_page",
           "query_submit", "sample_queries"]

PAGE = 100  # result rows a page shows (GetQueryResults' MaxQueryResults)
HISTORY = 20  # queries of the chosen store the history lists
ACTIVE = ("QUEUED", "RUNNING")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
_QUERY_ID = re.compile(r"[a-f0-9\-]{36}")

# CloudTrail's own examples (spec lake.md §7), `{store}` standing for the store's ID.
SAMPLES: tuple[tuple[str, str], ...] = (
    ("Bound every scan by time",
     "SELECT * FROM {store} WHERE eventtime >='2023-01-05 13:51:00' and "
     "eventtime <='2023-01-19 13:51:00'"),
    ("Console logins without MFA",
     "SELECT * FROM {store} WHERE eventsource = 'signin.amazonaws.com' AND "
     "eventname = 'ConsoleLogin'\n  AND element_at(additionaleventdata, 'MFAUsed') = 'No'"),
    ("IAM Identity Center user denied activity",
     "SELECT recipientAccountId, awsRegion, eventSource, eventName, readOnly, errorCode, "
     "errorMessage, eventTime, eventID\nFROM {store} WHERE userIdentity.principalId LIKE "
     "'%alice@example.com'\n  AND (errorCode = 'AccessDenied' OR errorCode LIKE "
     "'%Unauthorized%')\n  AND eventTime > '2023-01-01 00:00:00' AND eventTime < "
     "'2023-01-07 00:00:00'"),
    ("Top IAM actions by principal",
     "SELECT COUNT(*) AS apiCount, eventName, userIdentity.principalid FROM {store}\n"
     "WHERE eventTime >= '2022-01-08 00:00:00' AND eventSource='iam.amazonaws.com'\n"
     "GROUP BY eventName, userIdentity.principalid ORDER BY apiCount DESC"),
)


def sample_queries(store_id: str) -> list[tuple[str, str]]:
    return [(title, sql.replace("{store}", store_id)) for title, sql in SAMPLES]


@dataclass(frozen=True)
class StoreRow:
    store: EventDataStore
    events: int | None
    files: int | None
    last_error: str | None
    last_error_time: float | None
    last_write_time: float | None


def _region(console: Console, value: str | None) -> str:
    region = (value or "").strip() or console.service.settings.region
    if not _REGION.fullmatch(region):
        raise ValidationError(f"{region!r} is not a region name such as us-east-1.")
    return region


def _account(console: Console, viewer: Viewer) -> str:
    """The account whose stores the API's operations look in for this key (api/_stores)."""
    return viewer.principal.account or console.service.settings.organization_account


def _stores(console: Console, viewer: Viewer, region: str) -> list[StoreRow]:
    service = console.service
    if service.lake is None:
        return []
    rows = []
    for store in service.lake.list(_account(console, viewer), region):
        writer = service.lake_writer
        status = writer.status(store.id) if writer is not None else None
        rows.append(StoreRow(store, status.events if status else None,
                             status.files if status else None,
                             status.last_error if status else None,
                             status.last_error_time if status else None,
                             status.last_write_time if status else None))
    return rows


def _history(console: Console, viewer: Viewer, region: str,
             store: EventDataStore) -> list[dict[str, Any]]:
    """ListQueries of the store (newest first), each with DescribeQuery's statistics."""
    ctx = viewer.auth(region)
    listed = list_queries(console.service, {"EventDataStore": store.id,
                                            "MaxResults": HISTORY}, ctx)
    out = []
    for q in listed["Queries"]:
        try:
            out.append(describe_query(console.service, {"QueryId": q["QueryId"]}, ctx))
        except OpenTrailError:  # expired between the two calls
            continue
    return out


def _lake_context(console: Console, viewer: Viewer, region: str, chosen: str | None,
                  sample: str | None, statement: str | None) -> dict[str, Any]:
    rows = _stores(console, viewer, region)
    current = next((r.store for r in rows if r.store.id == chosen), None)
    if current is None:
        current = next((r.store for r in rows if r.store.status == "ENABLED"),
                       rows[0].store if rows else None)
    samples = sample_queries(current.id) if current else []
    if statement is None and samples:
        index = int(sample) if sample and sample.isdigit() else 0
        statement = samples[min(index, len(samples) - 1)][1]
    history = _history(console, viewer, region, current) if current else []
    return {"rows": rows, "current": current, "samples": samples, "region": region,
            "statement": statement or "", "sample": sample or "0", "history": history,
            "page_size": PAGE}


async def lake_page(console: Console, request: Request, viewer: Viewer) -> Response:
    """GET /lake: the stores, the editor (a sample, or `sql`), the chosen store's history."""
    params = request.query_params
    region = _region(console, params.get("region"))
    context = await run_in_threadpool(_lake_context, console, viewer, region,
                                      params.get("store"), params.get("sample"),
                                      params.get("sql"))
    return console.render(request, "lake.html", viewer, **context)


Operation = Callable[[Any, dict[str, Any], AuthContext], dict[str, Any]]


async def _audited(console: Console, request: Request, ctx: AuthContext, name: str,
                   operation: Operation, params: dict[str, Any]) -> dict[str, Any]:
    """Run one of the API's operations and record it in the ledger as the API does (the
    record is prepared and a ledger slot reserved first, so a call that ran is never left
    unrecorded for want of room); raises the operation's OpenTrailError after recording it."""
    service = console.service
    record = audit_record(ctx, name, params,
                          source_ip=request.client.host if request.client else "",
                          user_agent=request.headers.get("user-agent", ""),
                          request_id=str(uuid.uuid4()), read_only=False,
                          organization_account=service.settings.organization_account,
                          now=service.clock.now())
    prepare(record)
    service.writer.reserve(1)
    result: dict[str, Any] | None = None
    error: OpenTrailError | None = None
    try:
        try:
            result = await run_in_threadpool(operation, service, params, ctx)
        except OpenTrailError as err:
            error = err
        future = service.writer.submit([outcome(record, result, error)], reserved=True)
    except BaseException:
        service.writer.release(1)
        raise
    await asyncio.wrap_future(future)
    if error is not None:
        raise error
    assert result is not None
    return result


def _refused(console: Console, request: Request, viewer: Viewer) -> Response:
    return console.render(request, "error.html", viewer, status=403,
                          title="The query was refused",
                          message="The form was stale or came from another site. Open the "
                                  "Lake page and run the query again.")


async def query_submit(console: Console, request: Request, viewer: Viewer) -> Response:
    """POST /lake/query: StartQuery with the editor's SQL; to the query's page, or back
    to the editor with the API's error message."""
    form = await read_form(request)
    if not viewer.session.csrf_ok(form.get("csrf")):
        return _refused(console, request, viewer)
    region = _region(console, form.get("region"))
    statement = form.get("sql", "")
    try:
        started = await _audited(console, request, viewer.auth(region), "StartQuery",
                                 start_query, {"QueryStatement": statement})
    except OpenTrailError as err:
        context = await run_in_threadpool(_lake_context, console, viewer, region,
                                          form.get("store"), None, statement)
        return console.render(request, "lake.html", viewer, status=err.status,
                              error=err.message, error_code=err.code, **context)
    return RedirectResponse(_query_url(started["QueryId"], region, form.get("store")), 303)


def _query_url(query_id: str, region: str, store: str | None, **more: Any) -> str:
    params: list[tuple[str, str]] = [("region", region)]
    if store:
        params.append(("store", store))
    for key, value in more.items():
        for item in value if isinstance(value, list) else [value]:
            params.append((key, item))
    return f"/lake/queries/{query_id}?{urlencode(params)}"


def _query_id(request: Request) -> str:
    query_id = str(request.path_params["query_id"])
    if not _QUERY_ID.fullmatch(query_id):
        raise ValidationError(f"{query_id!r} is not a query ID.")
    return query_id


def _columns(rows: list[list[dict[str, str]]]) -> list[str]:
    return [next(iter(cell), "") for cell in rows[0]] if rows else []


def _cells(row: list[dict[str, str]]) -> list[str]:
    return [next(iter(cell.values()), "") for cell in row]


async def query_page(console: Console, request: Request, viewer: Viewer) -> Response:
    """GET /lake/queries/{id}: DescribeQuery, then one GetQueryResults page. `token` is
    this page's NextToken; `prev` the tokens of the pages before (for Previous)."""
    params = request.query_params
    region = _region(console, params.get("region"))
    query_id = _query_id(request)
    store = params.get("store") or ""
    token = params.get("token") or None
    prev = params.getlist("prev")
    ctx = viewer.auth(region)
    info = await run_in_threadpool(describe_query, console.service, {"QueryId": query_id}, ctx)
    ask: dict[str, Any] = {"QueryId": query_id, "MaxQueryResults": PAGE}
    if token:
        ask["NextToken"] = token
    results = await run_in_threadpool(get_query_results, console.service, ask, ctx)
    rows = results["QueryResultRows"]
    first = len(prev) * PAGE
    newer = None
    if token:  # the page before: the last of `prev` ("" stands for the first page)
        back = prev[:-1]
        newer = _query_url(query_id, region, store, prev=back,
                           **({"token": prev[-1]} if prev and prev[-1] else {}))
    older = (_query_url(query_id, region, store, token=results["NextToken"],
                        prev=[*prev, token or ""]) if results.get("NextToken") else None)
    return console.render(
        request, "lake_query.html", viewer, info=info, region=region, store=store,
        columns=_columns(rows), rows=[_cells(r) for r in rows], first=first + 1,
        last=first + len(rows), total=results["QueryStatistics"]["TotalResultsCount"],
        newer=newer, older=older, active=info["QueryStatus"] in ACTIVE,
        base=f"/lake/queries/{query_id}",
        back=f"/lake?{urlencode({'region': region, 'store': store})}")


async def cancel_submit(console: Console, request: Request, viewer: Viewer) -> Response:
    """POST /lake/queries/{id}/cancel: CancelQuery."""
    form = await read_form(request)
    if not viewer.session.csrf_ok(form.get("csrf")):
        return _refused(console, request, viewer)
    region = _region(console, form.get("region"))
    query_id = _query_id(request)
    await _audited(console, request, viewer.auth(region), "CancelQuery", cancel_query,
                   {"QueryId": query_id})
    return RedirectResponse(_query_url(query_id, region, form.get("store")), 303)


def _pages(console: Console, viewer: Viewer, region: str,
           query_id: str) -> Iterator[list[list[dict[str, str]]]]:
    token = None
    ctx = viewer.auth(region)
    while True:
        ask: dict[str, Any] = {"QueryId": query_id, "MaxQueryResults": 1000}
        if token:
            ask["NextToken"] = token
        page = get_query_results(console.service, ask, ctx)
        yield page["QueryResultRows"]
        token = page.get("NextToken")
        if not token:
            return


def _csv(pages: Iterator[list[list[dict[str, str]]]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    header = False
    for rows in pages:
        if rows and not header:
            writer.writerow(escape_cell(c) for c in _columns(rows))
            header = True
        writer.writerows([escape_cell(c) for c in _cells(r)] for r in rows)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def _json(query_id: str, pages: Iterator[list[list[dict[str, str]]]]) -> Iterator[str]:
    """GetQueryResults' rows, all pages: each row a list of one-key maps of strings."""
    yield '{"QueryId":' + orjson.dumps(query_id).decode() + ',"QueryResultRows":['
    first = True
    for rows in pages:
        parts = []
        for row in rows:
            parts.append(("\n" if first else ",\n") + orjson.dumps(row).decode())
            first = False
        yield "".join(parts)
    yield "\n]}\n"


async def query_download(console: Console, request: Request, viewer: Viewer) -> Response:
    """GET /lake/queries/{id}/download?format=csv|json: every result row, all pages."""
    params = request.query_params
    region = _region(console, params.get("region"))
    query_id = _query_id(request)
    kind = params.get("format", "csv")
    if kind not in ("csv", "json"):
        raise ValidationError("The download format must be csv or json.")
    # DescribeQuery first: an unknown or foreign query is an error page, not an empty file.
    await run_in_threadpool(describe_query, console.service, {"QueryId": query_id},
                            viewer.auth(region))
    pages = _pages(console, viewer, region, query_id)
    chunks = _csv(pages) if kind == "csv" else _json(query_id, pages)
    media = "text/csv; charset=utf-8" if kind == "csv" else "application/json"
    return StreamingResponse(
        iterate_in_threadpool(chunks), media_type=media,
        headers={"Content-Disposition": f'attachment; filename="query-{query_id}.{kind}"',
                 "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
