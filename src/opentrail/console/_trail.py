"""The trails page: each trail the viewer's key may see, its selectors and delivery state."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from opentrail.console._console import Console, Viewer
from opentrail.trails import Trail

__all__ = ["trails_page"]


def _selectors(trail: Trail) -> list[str]:
    """The trail's event selection in words, one line per selector."""
    if trail.advanced_event_selectors:
        return [str(s.get("Name") or f"Advanced selector {i + 1}")
                for i, s in enumerate(trail.advanced_event_selectors)]
    if trail.event_selectors:
        lines = []
        for s in trail.event_selectors:
            kind = {"ReadOnly": "read", "WriteOnly": "write"}.get(
                str(s.get("ReadWriteType", "All")), "read and write")
            mgmt = "management events" if s.get("IncludeManagementEvents", True) else ""
            data = f"{len(s.get('DataResources') or [])} data resource(s)"
            lines.append(", ".join(p for p in (f"{kind.capitalize()}: {mgmt}".rstrip(": "),
                                                data if s.get("DataResources") else "") if p))
        return lines
    return ["All management events, read and write (default)"]


def _row(trail: Trail) -> dict[str, Any]:
    status = trail.status
    return {"trail": trail, "selectors": _selectors(trail),
            "insights": [str(s.get("InsightType", "")) for s in trail.insight_selectors],
            "destination": "/".join(p for p in (trail.s3_bucket_name, trail.s3_key_prefix) if p),
            "errors": [e for e in (status.latest_delivery_error,
                                   status.latest_digest_delivery_error) if e]}


async def trails_page(console: Console, request: Request, viewer: Viewer) -> Response:
    account = None if viewer.principal.organization else viewer.principal.account
    found = await run_in_threadpool(console.service.trails.list, account)
    return console.render(request, "trails.html", viewer, rows=[_row(t) for t in found])
