"""The resource timeline: every event that touched one resource, oldest first.

"Who changed this?" in one page: a ResourceName lookup (the name or ARN exactly as the
events' `resources` list carries it) over the chosen range, with who and from where.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from opentrail.console._console import Console, Viewer
from opentrail.console._events import lookup, rows
from opentrail.console._filter import Filter

__all__ = ["resource_page"]

LIMIT = 500  # newest events shown; the download link has them all


def _timeline(console: Console, viewer: Viewer,
              flt: Filter) -> tuple[list[dict[str, Any]], bool]:
    found, token = lookup(console, viewer, flt, None, LIMIT)
    return list(reversed(found)), token is not None


async def resource_page(console: Console, request: Request, viewer: Viewer) -> Response:
    flt = console.filter(request)
    name = request.query_params.get("name", "").strip()
    events: list[dict[str, Any]] = []
    truncated = False
    if name:
        flt = flt.with_attribute("ResourceName", name)
        events, truncated = await run_in_threadpool(_timeline, console, viewer, flt)
    regions = await run_in_threadpool(console.regions, viewer, flt.region)
    people = sorted({r["user"] or r["arn"] for r in rows(events) if r["user"] or r["arn"]})
    return console.render(request, "resource.html", viewer, filter=flt, name=name,
                          rows=rows(events), truncated=truncated, limit=LIMIT,
                          regions=regions, people=people)
