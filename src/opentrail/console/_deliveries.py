"""The Rule deliveries page: event-rule deliveries that gave up (dead letters), newest
first, with the rule, the target, the attempts, the last error and the event.

Invariant: a viewer sees only their own account's deliveries (an organization key sees
every account's); a target's secrets are not shown (connections keep them sealed, and a
webhook URL shows only its origin).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from opentrail.console._console import Console, Viewer
from opentrail.rules import Delivery

__all__ = ["deliveries_page"]

SHOWN = 200


def _target(arn: str) -> str:
    """slack:/teams: webhook URLs carry their secret in the path: show the origin only."""
    kind, _, rest = arn.partition(":")
    if kind in ("slack", "teams"):
        parts = urlsplit(rest)
        return f"{kind}:{parts.scheme}://{parts.netloc}/…"
    return arn


def _row(d: Delivery) -> dict[str, Any]:
    detail = d.event.get("detail") if isinstance(d.event.get("detail"), dict) else {}
    assert isinstance(detail, dict)
    return {"id": d.id, "rule": d.rule, "account": d.account, "region": d.region,
            "target_id": d.target.get("Id", ""), "target": _target(str(d.target.get("Arn"))),
            "attempts": d.attempts, "error": d.last_error, "enqueued": d.enqueued,
            "event_name": detail.get("eventName", ""), "event_id": detail.get("eventID", ""),
            "detail_type": d.event.get("detail-type", "")}


async def deliveries_page(console: Console, request: Request, viewer: Viewer) -> Response:
    store = console.service.rules
    account = None if viewer.principal.organization else viewer.principal.account
    dead = await run_in_threadpool(store.dead_letters, account, SHOWN) if store else []
    pending = await run_in_threadpool(store.pending) if store else 0
    return console.render(request, "deliveries.html", viewer, dead=[_row(d) for d in dead],
                          pending=pending if viewer.principal.organization else None)
