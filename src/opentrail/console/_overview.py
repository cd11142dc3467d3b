"""The activity overview: events and errors per hour, top event names and top users."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from opentrail.console._chart import hourly_chart, ranked_bars
from opentrail.console._console import Console, Viewer
from opentrail.errors import ValidationError

__all__ = ["activity_page"]

MAX_HOURS = 24 * 92


async def activity_page(console: Console, request: Request, viewer: Viewer) -> Response:
    flt = console.filter(request, default_range="7d")
    start, end = flt.window()
    now = int(console.service.clock.now())
    hi = min(end if end is not None else now, now)
    floor = now - console.service.settings.history_retention_days * 86400
    lo = start if start is not None else floor
    if (hi - lo) // 3600 > MAX_HOURS:
        raise ValidationError("The overview covers at most 92 days; choose a shorter range.")
    accounts = viewer.accounts
    wanted = {v for k, v in flt.attributes if k == "RecipientAccountId"}
    if wanted:  # an account filter narrows; it never widens what the key may see
        inside = accounts is None or wanted <= set(accounts)
        accounts = tuple(sorted(wanted)) if inside and len(wanted) == 1 else ()
    data = await run_in_threadpool(console.activity.overview, accounts, flt.region,
                                   max(lo, 0), hi)
    regions = await run_in_threadpool(console.regions, viewer, flt.region)
    return console.render(
        request, "activity.html", viewer, filter=flt, data=data, regions=regions,
        chart=hourly_chart(data.lo, data.counts, data.errors),
        names=ranked_bars(data.top_names), users=ranked_bars(data.top_users))
