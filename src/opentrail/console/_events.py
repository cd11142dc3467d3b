"""Event history pages: the filtered table, one event's record, and downloads.

Lookups go straight to the history layer with the viewer's own AuthContext, through the
same parse_lookup that checks LookupEvents requests: the console can see exactly what
the key could see through the API, and filters mean the same thing in both.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from opentrail.api._lookup import parse_lookup
from opentrail.console._console import Console, Viewer
from opentrail.console._export import csv_chunks, json_chunks
from opentrail.console._filter import Filter
from opentrail.console._proof import proof_status
from opentrail.console._view import SECURITY_HEADERS
from opentrail.errors import NotFound, OpenTrailError, ValidationError

__all__ = ["download", "event_page", "events_page", "lookup", "rows"]

DOWNLOAD_PAGE = 1000  # larger than the API's 50: fewer round trips to SQLite
FIRST = "-"  # the "previous" marker of the first page


def lookup(console: Console, viewer: Viewer, flt: Filter, token: str | None = None,
           max_results: int = 50) -> tuple[list[dict[str, Any]], str | None]:
    params = flt.lookup_params(min(max_results, 50))
    if token:
        params["NextToken"] = token
    query = dataclasses.replace(parse_lookup(params, viewer.auth(flt.region)),
                                max_results=max_results)
    result = console.service.history.lookup(query)
    return result.events, result.next_token


def rows(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the table shows of each event (the summary plus a few fields of the body)."""
    out = []
    for event in events:
        try:
            body = orjson.loads(event.get("CloudTrailEvent") or "{}")
        except orjson.JSONDecodeError:
            body = {}
        out.append({
            "id": event.get("EventId", ""), "time": event.get("EventTime"),
            "name": event.get("EventName", ""), "user": event.get("Username", ""),
            "source": event.get("EventSource", ""), "resources": event.get("Resources", []),
            "ip": body.get("sourceIPAddress", ""), "error": body.get("errorCode", ""),
            "read_only": event.get("ReadOnly", ""), "region": body.get("awsRegion", ""),
            "agent": body.get("userAgent", ""), "arn": (body.get("userIdentity") or {}).get(
                "arn", "") if isinstance(body.get("userIdentity"), dict) else "",
        })
    return out


def _paging(request: Request, flt: Filter, token: str | None,
            next_token: str | None) -> dict[str, str | None]:
    back = [t for t in request.query_params.get("back", "").split(".") if t][-50:]
    newer = None
    if token:
        prev = back[-1] if back else FIRST
        extra = [("back", ".".join(back[:-1]))] if back[:-1] else []
        newer = flt.query(*([("page", prev)] if prev != FIRST else []), *extra)
    older = None
    if next_token:
        older = flt.query(("page", next_token), ("back", ".".join([*back, token or FIRST])))
    return {"newer": newer, "older": older}


async def events_page(console: Console, request: Request, viewer: Viewer) -> Response:
    flt = console.filter(request)
    token = request.query_params.get("page") or None
    error, next_token = "", None
    events: list[dict[str, Any]] = []
    started = time.perf_counter()
    try:
        events, next_token = await run_in_threadpool(lookup, console, viewer, flt, token)
    except OpenTrailError as err:  # a bad filter is shown beside the filter, not as a page
        error = err.message
    elapsed = time.perf_counter() - started
    regions = await run_in_threadpool(console.regions, viewer, flt.region)
    response = console.render(
        request, "events.html", viewer, filter=flt, rows=rows(events), error=error,
        regions=regions, paging=_paging(request, flt, token, next_token),
        page_number=len([t for t in request.query_params.get("back", "").split(".") if t])
        + 1)  # `back` holds one entry per earlier page
    response.headers["Server-Timing"] = f"lookup;dur={elapsed * 1000:.1f}"
    return response


async def event_page(console: Console, request: Request, viewer: Viewer) -> Response:
    event_id = request.path_params["event_id"]
    flt = console.filter(request)
    # The whole retention window, whatever range the list had: an ID is an ID.
    by_id = dataclasses.replace(flt, range="custom", start="", end="",
                                attributes=(("EventId", event_id),))
    found, _ = await run_in_threadpool(lookup, console, viewer, by_id, None, 1)
    if not found:
        raise NotFound(f"No event with ID {event_id} is visible to you in {flt.region}. "
                       "It may be in another region, outside the retention window, or in "
                       "an account your access key cannot see.")
    event = found[0]
    body = orjson.loads(event["CloudTrailEvent"])
    pretty = orjson.dumps(body, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
    proof = await run_in_threadpool(proof_status, console.service.checkpoints,
                                    viewer.auth(flt.region), event_id,
                                    str(body.get("recipientAccountId", "")))
    return console.render(request, "event.html", viewer, filter=flt, event=event,
                          row=rows([event])[0], record=pretty, proof=proof)


def _pages(console: Console, viewer: Viewer, flt: Filter) -> Iterator[list[dict[str, Any]]]:
    token: str | None = None
    while True:
        events, token = lookup(console, viewer, flt, token, DOWNLOAD_PAGE)
        yield events
        if not token:
            return


async def download(console: Console, request: Request, viewer: Viewer) -> Response:
    flt = console.filter(request)
    fmt = request.query_params.get("format", "csv")
    if fmt not in ("csv", "json"):
        raise ValidationError(f"{fmt!r} is not a download format; use csv or json.")
    await run_in_threadpool(lookup, console, viewer, flt, None, 1)  # bad filters fail here
    chunks = (csv_chunks if fmt == "csv" else json_chunks)(_pages(console, viewer, flt))
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(console.service.clock.now()))
    name = f"opentrail-events-{flt.region}-{stamp}.{fmt}"
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
    return StreamingResponse(chunks, media_type=media, headers=headers)
