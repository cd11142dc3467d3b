"""The console's routes, mounted by the API's app beside the AWS endpoints.

GET pages only at `/`, `/signin`, `/events`, ...; the forms that change state or run work
(sign-in, sign-out, a trail's Validate now, a Lake query's
Run and Cancel) POST to their own paths. The AWS API keeps `POST /`.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from opentrail.console._compliance import (
    ReportJobs,
    compliance_download,
    compliance_html,
    compliance_job,
    compliance_page,
    compliance_run,
)
from opentrail.console._console import Console, Handler, Viewer, page
from opentrail.console._deliveries import deliveries_page
from opentrail.console._events import download, event_page, events_page
from opentrail.console._findings import acknowledge_submit, findings_page
from opentrail.console._insight import insights_page
from opentrail.console._lake import (
    cancel_submit,
    lake_page,
    query_download,
    query_page,
    query_submit,
)
from opentrail.console._overview import activity_page
from opentrail.console._resource import resource_page
from opentrail.console._signin import signin_page, signin_submit, signout
from opentrail.console._trail import trails_page
from opentrail.console._validate import validate_now
from opentrail.console._view import HERE
from opentrail.service import Service

__all__ = ["console_routes"]

def _with(jobs: ReportJobs, handler: object) -> Handler:
    """A compliance handler as a console page handler (the jobs bound in)."""
    async def bound(console: Console, request: Request, viewer: Viewer) -> Response:
        return await handler(jobs, request, viewer)  # type: ignore[operator,no-any-return]
    return bound


def console_routes(service: Service) -> list[BaseRoute]:
    console = Console(service)

    async def home(request: Request) -> Response:
        return RedirectResponse("/events" if console.viewer(request) else "/signin", 303)

    async def sign_in(request: Request) -> Response:
        return await signin_page(console, request)

    async def sign_in_post(request: Request) -> Response:
        return await signin_submit(console, request)

    async def sign_out(request: Request) -> Response:
        return await signout(console, request)

    return [
        Route("/", home, methods=["GET"]),
        Route("/signin", sign_in, methods=["GET"]),
        Route("/signin", sign_in_post, methods=["POST"]),
        Route("/signout", sign_out, methods=["POST"]),
        Route("/events", page(console, events_page), methods=["GET"]),
        Route("/events/{event_id}", page(console, event_page), methods=["GET"]),
        Route("/download", page(console, download), methods=["GET"]),
        Route("/resources", page(console, resource_page), methods=["GET"]),
        Route("/activity", page(console, activity_page), methods=["GET"]),
        Route("/trails", page(console, trails_page), methods=["GET"]),
        Route("/trails/validate", page(console, validate_now), methods=["POST"]),
        Route("/insights", page(console, insights_page), methods=["GET"]),
        Route("/findings", page(console, findings_page), methods=["GET"]),
        Route("/findings/acknowledge", page(console, acknowledge_submit), methods=["POST"]),
        Route("/deliveries", page(console, deliveries_page), methods=["GET"]),
        *_lake_routes(console),
        *_compliance_routes(console, ReportJobs(console)),
        Mount("/static", StaticFiles(directory=Path(HERE / "static")), name="static"),
    ]


def _lake_routes(console: Console) -> list[BaseRoute]:
    return [
        Route("/lake", page(console, lake_page), methods=["GET"]),
        Route("/lake/query", page(console, query_submit), methods=["POST"]),
        Route("/lake/queries/{query_id}", page(console, query_page), methods=["GET"]),
        Route("/lake/queries/{query_id}/download", page(console, query_download),
              methods=["GET"]),
        Route("/lake/queries/{query_id}/cancel", page(console, cancel_submit),
              methods=["POST"]),
    ]


def _compliance_routes(console: Console, jobs: ReportJobs) -> list[BaseRoute]:
    return [
        Route("/compliance", page(console, _with(jobs, compliance_page)), methods=["GET"]),
        Route("/compliance/run", page(console, _with(jobs, compliance_run)),
              methods=["POST"]),
        Route("/compliance/runs/{job_id}", page(console, _with(jobs, compliance_job)),
              methods=["GET"]),
        Route("/compliance/reports/{name}/download",
              page(console, _with(jobs, compliance_download)), methods=["GET"]),
        Route("/compliance/reports/{name}/report.html",
              page(console, _with(jobs, compliance_html)), methods=["GET"]),
    ]
