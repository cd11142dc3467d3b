"""Health probes for load balancers and orchestrators: unauthenticated, tiny, no secrets.

`GET /healthz` (liveness) answers 200 while the process serves HTTP at all. `GET /readyz`
(readiness) asks the backend whether it can serve now: embedded, the data dir takes a
durable write and the ledger file opens; on PostgreSQL, the database answers and its
schema is this release's. Not ready is 503 with Retry-After; why goes to the log only
(the body names no path, URL or error: the probes are open to anyone who can connect).
`GET /readyz?verbose` adds `roles`: the elected roles this node holds (which node signs
checkpoints, delivers trails, ...: docs/deployment.md); role names are no secret.
`GET /health` is the original liveness probe, kept as it was.
"""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from opentrail.service import Service

__all__ = ["RETRY_AFTER", "healthz", "readyz"]

log = logging.getLogger(__name__)

RETRY_AFTER = 5  # seconds a probe or client should wait before asking again


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(service: Service, request: Request) -> Response:
    backend = service.backend
    problems = await run_in_threadpool(backend.problems) if backend is not None else []
    if not problems:
        if "verbose" in request.query_params:
            return JSONResponse({"status": "ready", "roles": service.held_roles()})
        return JSONResponse({"status": "ready"})
    for problem in problems:
        log.warning("not ready: %s", problem)
    return JSONResponse({"status": "not ready"}, status_code=503,
                        headers={"Retry-After": str(RETRY_AFTER)})
