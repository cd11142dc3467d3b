"""The HTTP edge: routes, authentication, dispatch, and error mapping in one place."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from opentrail.api._audit import audit_record, outcome, prepare
from opentrail.api._compliance import compliance_routes
from opentrail.api._deliveries import delivery_routes
from opentrail.api._edge import edge_middleware
from opentrail.api._health import healthz, readyz
from opentrail.api._ingest import ingest_batch, put_audit_events
from opentrail.api._operations import (
    Operation,
    events_operations,
    model_operations,
    operations,
)
from opentrail.api._organizations import ORGANIZATIONS_TARGET_PREFIX
from opentrail.api._proofs import REST_JSON, proof_routes
from opentrail.api._request import read_signed, require
from opentrail.api._webhook import WEBHOOK_PATH, kubernetes_audit_webhook
from opentrail.api._wire import JSON_11, error_response, json_response, new_request_id
from opentrail.auth import AuthContext
from opentrail.errors import OpenTrailError, ValidationError
from opentrail.events import Record
from opentrail.service import Service

__all__ = ["EVENTS_PREFIX", "TARGET_PREFIX", "build_app"]

log = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]
PARSE_OFF_LOOP_BYTES = 64 * 1024  # larger JSON bodies are parsed in the threadpool

TARGET_PREFIX = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."
EVENTS_PREFIX = "AWSEvents."  # EventBridge's event rules (rules/, docs/rules.md)


class JsonApi:
    """`POST /` dispatched on X-Amz-Target, as AWS JSON 1.1 services are."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.ops = operations(service)
        self.events_ops = events_operations(service)

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
        if target.startswith(EVENTS_PREFIX):
            return self._events_operation(target)
        name = target.removeprefix(TARGET_PREFIX) if target.startswith(TARGET_PREFIX) else ""
        if name == "DescribeOrganization":  # not a CloudTrail operation
            name = ""
        if target == f"{ORGANIZATIONS_TARGET_PREFIX}DescribeOrganization":
            name = "DescribeOrganization"  # validate-logs of organization trails needs it
        if name in self.ops:
            return self.ops[name]
        if name in model_operations():
            raise ValidationError(f"OpenTrail does not implement {name} yet.",
                                  code="UnsupportedOperationException")
        raise ValidationError(f"The operation {target!r} is not known.",
                              code="UnknownOperationException")

    def _events_operation(self, target: str) -> Operation:
        name = target.removeprefix(EVENTS_PREFIX)
        if name in self.events_ops:
            return self.events_ops[name]
        if name in model_operations("events"):
            raise ValidationError(f"OpenTrail does not implement EventBridge's {name}.",
                                  code="UnsupportedOperationException")
        raise ValidationError(f"The operation {target!r} is not known.",
                              code="UnknownOperationException")

    async def _run(self, request: Request, request_id: str, ctx: AuthContext, op: Operation,
                   body: bytes) -> Response:
        """Audit first: the record is built and validated, and its place in the ledger's
        queue reserved, before the call runs; a change's record is durable (journal)
        before the change is made. A call that could not be recorded is refused."""
        params: dict[str, Any] = {}
        refused: OpenTrailError | None = None
        try:
            params = await _params(body)
            require(ctx, op.role, op.name)
        except OpenTrailError as err:
            refused = err
        try:
            record = await run_in_threadpool(self._record, request, request_id, ctx, op,
                                             params)
            self.service.writer.reserve()
        except OpenTrailError as err:  # unstorable record or full queue: not run
            return error_response(err, request_id)
        result, error = None, refused
        submitted = False
        try:
            if error is None:
                result, error = await self._call(op, params, ctx, record)
            done = outcome(record, result, error)
            future = self.service.writer.submit([done], reserved=True)
            submitted = True
        finally:
            if not submitted:
                self.service.writer.release()
        if not op.read_only:  # a change to configuration is audited durably before we answer
            error = await self._committed(future, done, error)
        if error is not None:
            return error_response(error, request_id)
        return json_response(result, request_id)

    def _record(self, request: Request, request_id: str, ctx: AuthContext, op: Operation,
                params: dict[str, Any]) -> dict[str, Any]:
        record = audit_record(
            ctx, op.name, params, source_ip=request.client.host if request.client else "",
            user_agent=request.headers.get("user-agent", ""), request_id=request_id,
            read_only=op.read_only, event_source=op.event_source,
            organization_account=self.service.settings.organization_account,
            now=self.service.clock.now())
        record["eventSource"] = op.event_source
        prepare(record)  # refuses the call if its record could not be stored
        return record

    async def _call(self, op: Operation, params: dict[str, Any], ctx: AuthContext,
                    record: dict[str, Any]) -> tuple[Any, OpenTrailError | None]:
        """Run the handler; a change runs only once its record is in the journal."""
        journal = self.service.audit_journal
        if not op.read_only and journal is not None:
            try:
                await run_in_threadpool(journal.write, prepare(record))
            except OpenTrailError as err:  # the database's journal: ServiceUnavailable
                log.error("%s refused: its audit record could not be journaled: %s",
                          op.name, err.message)
                return None, err
            except OSError as exc:
                log.error("%s refused: its audit record could not be journaled: %s",
                          op.name, exc)
                return None, OpenTrailError(
                    "The audit record of this call could not be made durable, so the call "
                    "was not run. Retry, and report it if it persists.")
        try:
            return await run_in_threadpool(op.handler, params, ctx), None
        except OpenTrailError as err:
            return None, err
        except Exception:
            log.exception("%s failed", op.name)
            return None, _internal()

    async def _committed(self, future: Future[list[bool]], done: Record,
                         error: OpenTrailError | None) -> OpenTrailError | None:
        """Wait for the ledger's commit, then forget the journal's copy. Should the commit
        fail, the copy stays (it is recorded at the next start) and the caller is told."""
        try:
            await asyncio.wrap_future(future)
        except Exception:
            log.exception("the audit record %s could not be committed; it stays in the "
                          "audit journal", done.event_id)
            ran = "failed" if error is not None else "was done"
            return OpenTrailError(f"The call {ran}, but its audit record could not be "
                                  "written to the ledger; it is kept in the audit journal "
                                  "and written at the next start. Report this.")
        if self.service.audit_journal is not None:
            self.service.audit_journal.remove(done)
        return error


async def _params(body: bytes) -> dict[str, Any]:
    """The JSON body as an object; a large one is parsed off the event loop."""
    if len(body) > PARSE_OFF_LOOP_BYTES:
        return await run_in_threadpool(_parse_params, body)
    return _parse_params(body)


def _parse_params(body: bytes) -> dict[str, Any]:
    try:
        params = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"The request body is not valid JSON: {exc}.",
                              code="SerializationException") from None
    if not isinstance(params, dict):
        raise ValidationError("The request body must be a JSON object.",
                              code="SerializationException")
    return params


def _internal() -> OpenTrailError:
    return OpenTrailError("The server hit an internal error; the request was not completed. "
                          "Retry, and report it if it persists.")


def guarded(endpoint: Endpoint, content_type: str = JSON_11) -> Endpoint:
    """The one place an unexpected error becomes an AWS-shaped 500 (logged once, with its
    traceback). Endpoints map OpenTrailError themselves, after their audit record is
    safe; this catches what escapes them."""
    async def guard(request: Request) -> Response:
        try:
            return await endpoint(request)
        except OpenTrailError as err:
            return error_response(err, new_request_id(), content_type=content_type)
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            return error_response(_internal(), new_request_id(), content_type=content_type)

    return guard


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def build_app(service: Service) -> Starlette:
    api = JsonApi(service)
    routes = [
        Route("/", guarded(api.handle), methods=["POST"]),
        Route("/PutAuditEvents", guarded(_bind(put_audit_events, service)), methods=["POST"]),
        Route("/opentrail/v1/events", guarded(_bind(ingest_batch, service)), methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", guarded(_bind(readyz, service)), methods=["GET"]),
        Route(WEBHOOK_PATH, guarded(_bind(kubernetes_audit_webhook, service)),
              methods=["POST"]),
        *(Route(r.path, guarded(r.endpoint, REST_JSON), methods=r.methods)
          for r in proof_routes(service)),
        *(Route(r.path, guarded(r.endpoint, REST_JSON), methods=r.methods)
          for r in delivery_routes(service)),
        *(Route(r.path, guarded(r.endpoint, REST_JSON), methods=r.methods)
          for r in compliance_routes(service)),
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
