"""The Insights page: each recent Insight's per-minute rate against its baseline.

Insights are events (eventCategory Insight) in the ledger, found through the history
layer like any lookup; only those the server's engine made are shown (events/_origin.py:
a writer key can ingest look-alikes, imported CloudTrail logs hold AWS's own); the
per-minute series comes from the Insights engine's counters,
the same numbers ListInsightsMetricData answers with.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from opentrail.api._lookup import parse_lookup
from opentrail.console._chart import rate_chart
from opentrail.console._console import Console, Viewer
from opentrail.console._filter import Filter
from opentrail.events import is_server_made

__all__ = ["insights_page"]

SHOWN = 12  # Insights with a chart; older ones are listed without
CONTEXT = 60  # minutes of series shown either side of an Insight


def _episodes(console: Console, viewer: Viewer, flt: Filter) -> list[dict[str, Any]]:
    """Insight Start/End pairs, newest first, joined on sharedEventID."""
    params = {**flt.lookup_params(), "EventCategory": "insight", "LookupAttributes": []}
    query = dataclasses.replace(parse_lookup(params, viewer.auth(flt.region)), max_results=400)
    found: dict[str, dict[str, Any]] = {}
    for event in console.service.history.lookup(query).events:
        record = orjson.loads(event["CloudTrailEvent"])
        if not is_server_made(record):
            continue
        details = record.get("insightDetails") or {}
        item = found.setdefault(record.get("sharedEventID", event["EventId"]),
                                {"details": details, "account": record.get(
                                    "recipientAccountId", ""), "start": None, "end": None})
        item["start" if details.get("state") == "Start" else "end"] = event["EventTime"]
        if details.get("state") == "Start":
            item["details"] = details
    return sorted((e for e in found.values() if e["start"] is not None),
                  key=lambda e: -int(e["start"]))


def _series(console: Console, flt: Filter, episode: dict[str, Any]) -> Any:
    store = console.service.insights_store
    details = episode["details"]
    first = int(episode["start"]) // 60
    last = int(episode["end"] or console.service.clock.now()) // 60
    lo, hi = first - CONTEXT, last + CONTEXT + 1
    key = (details.get("eventSource", ""), details.get("eventName", ""),
           details.get("insightType", ""), details.get("errorCode"))
    counts = store.metric(episode["account"], flt.region, key, lo, hi) if store else {}
    stats = (details.get("insightContext") or {}).get("statistics") or {}
    baseline = float((stats.get("baseline") or {}).get("average", 0.0))
    return rate_chart(lo, [counts.get(m, 0) for m in range(lo, hi)], baseline,
                      (first - lo, last - lo))


def _build(console: Console, viewer: Viewer, flt: Filter) -> list[dict[str, Any]]:
    episodes = _episodes(console, viewer, flt)
    for i, episode in enumerate(episodes):
        episode["chart"] = _series(console, flt, episode) if i < SHOWN else None
        context = episode["details"].get("insightContext") or {}
        episode["stats"] = context.get("statistics") or {}
        episode["attributions"] = context.get("attributions") or []
    return episodes


async def insights_page(console: Console, request: Request, viewer: Viewer) -> Response:
    flt = console.filter(request, default_range="7d")
    episodes = await run_in_threadpool(_build, console, viewer, flt)
    regions = await run_in_threadpool(console.regions, viewer, flt.region)
    service = console.service
    running = service.insights_store is not None and await run_in_threadpool(
        service.insights_wanted)
    return console.render(request, "insights.html", viewer, filter=flt, episodes=episodes,
                          regions=regions, enabled=running)
