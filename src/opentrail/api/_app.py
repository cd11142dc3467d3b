"""The HTTP edge: routes, authentication, dispatch, and error mapping in one place."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from opentrail.api._audit import audit_record
from opentrail.api._edge import edge_middleware
from opentrail.api._ingest import ingest_batch, put_audit_events
from opentrail.api._operations import Operation, model_operations, operations
from opentrail.api._proofs import proof_routes
from opentrail.api._request import read_signed, require
from opentrail.api._webhook import WEBHOOK_PATH, kubernetes_audit_webhook
from opentrail.api._wire import error_response, json_response, new_request_id
from opentrail.auth import AuthContext
from opentrail.errors import OpenTrailError, ValidationError
from opentrail.events import parse_record
from opentrail.service import Service

__all__ = ["TARGET_PREFIX", "build_app"]

log = logging.getLogger(__name__)

TARGET_PREFIX = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."


class JsonApi:
    """`POST /` dispatched on X-Amz-Target, as AWS JSON 1.1 services are."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.ops = operations(service)

    async def handle(self, request: Request) -> Response:
        request_id = new_request_id()
        try:
            ctx, body = await read_signed(self.service, request,
                                          self.service.settings.max_request_bytes)
            op = self._operation(request.headers.get("x-amz-target", ""))
        except OpenTrailError as err:
            return error_response(err, request_id)
        return await self._run(request, request_id, ctx, op, body)

    def _operation(self, target: str) -> Operation:
        name = target.removeprefix(TARGET_PREFIX) if target.startswith(TARGET_PREFIX) else ""
        if name in self.ops:
            return self.ops[name]
        if name in model_operations():
            raise ValidationError(f"OpenTrail does not implement {name} yet.",
                                  code="UnsupportedOperationException")
        raise ValidationError(f"The operation {target!r} is not known.",
                              code="UnknownOperationException")

    async def _run(self, request: Request, request_id: str, ctx: AuthContext, op: Operation,
                   body: bytes) -> Response:
        params: dict[str, Any] = {}
        result: Any = None
        error: OpenTrailError | None = None
        try:
            params = _params(body)
            require(ctx, op.role, op.name)
            result = await run_in_threadpool(op.handler, params, ctx)
        except OpenTrailError as err:
            error = err
        except Exception:
            log.exception("%s failed", op.name)
            error = OpenTrailError("The server hit an internal error; the request was not "
                                   "completed. Retry, and report it if it persists.")
        await self._audit(request, request_id, ctx, op, params, result, error)
        if error is not None:
            return error_response(error, request_id)
        return json_response(result, request_id)

    async def _audit(self, request: Request, request_id: str, ctx: AuthContext, op: Operation,
                     params: dict[str, Any], result: Any, error: OpenTrailError | None) -> None:
        record = audit_record(
            ctx, op.name, params, source_ip=request.client.host if request.client else "",
            user_agent=request.headers.get("user-agent", ""), request_id=request_id,
            read_only=op.read_only, response=result, error=error,
            organization_account=self.service.settings.organization_account,
            now=self.service.clock.now())
        parsed = parse_record(record, default_account=record["recipientAccountId"],
                              default_region=ctx.region)
        future = self.service.writer.submit([parsed])
        if not op.read_only:  # a change to configuration is audited durably before we answer
            await asyncio.wrap_future(future)


def _params(body: bytes) -> dict[str, Any]:
    try:
        params = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"The request body is not valid JSON: {exc}.",
                              code="SerializationException") from None
    if not isinstance(params, dict):
        raise ValidationError("The request body must be a JSON object.",
                              code="SerializationException")
    return params


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def build_app(service: Service) -> Starlette:
    api = JsonApi(service)
    routes = [
        Route("/", api.handle, methods=["POST"]),
        Route("/PutAuditEvents", _bind(put_audit_events, service), methods=["POST"]),
        Route("/opentrail/v1/events", _bind(ingest_batch, service), methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Route(WEBHOOK_PATH, _bind(kubernetes_audit_webhook, service), methods=["POST"]),
        *proof_routes(service),
    ]
    from opentrail.console import console_routes  # lazy: the console imports api._lookup

    # The console's GET pages at /, /signin, /events, ... beside the AWS endpoints.
    return Starlette(routes=[*routes, *console_routes(service)],
                     middleware=edge_middleware(service.settings))


def _bind(handler: Any, service: Service) -> Any:
    async def endpoint(request: Request) -> Response:
        response: Response = await handler(service, request)
        return response

    return endpoint
