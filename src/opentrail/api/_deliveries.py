"""`GET /opentrail/v1/trails/objects`: the delivery record of a trail, with Object Lock facts.

What a trail delivered in a window (every log file, digest and checkpoint: bucket, key,
S3 VersionId, the Object Lock mode and retain-until date it was written with, delivery
time) and what its destination guarantees (the bucket's Object Lock configuration, or the
folder's honest "not WORM"). The compliance report's Object Lock check (OT-14) and
auditors read it; HeadObject by these version IDs shows whether each lock is still there.

Query parameters: `trailArn` (required), `startTime` / `endTime` (epoch seconds, optional:
delivery times in [start, end)), `kind` (optional: only `log`, `digest` or `checkpoint`
objects). SigV4-signed like every route, role reader; a trail of an
account the key may not read does not exist for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from opentrail.api._proofs import PROOFS_PREFIX, REST_JSON
from opentrail.api._request import read_signed, require
from opentrail.api._wire import error_response, json_response, new_request_id
from opentrail.auth import AuthContext, Role
from opentrail.errors import OpenTrailError, TrailNotFound, ValidationError
from opentrail.service import Service
from opentrail.storage import guarantee
from opentrail.trails import DeliveredObject, delivered_objects, parse_trail_ref

__all__ = ["DELIVERIES_PATH", "delivery_routes"]

DELIVERIES_PATH = f"{PROOFS_PREFIX}/trails/objects"
MAX_QUERY_BODY = 1024
KINDS = ("log", "digest", "checkpoint")


def _time(params: Mapping[str, str], name: str) -> float | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        return float(str(raw))
    except ValueError:
        raise ValidationError(f"{name} must be a time in epoch seconds, not {raw!r}.") from None


def _object(row: DeliveredObject) -> dict[str, Any]:
    return {"Kind": row.kind, "Bucket": row.bucket, "Key": row.key, "VersionId": row.version_id,
            "ObjectLockMode": row.lock_mode, "ObjectLockRetainUntilDate": row.retain_until,
            "DeliveryTime": row.delivered}


def _storage(service: Service, bucket: str) -> dict[str, Any]:
    said = guarantee(service.trail_storage, bucket)
    default = ({"Mode": said.lock.mode, "Days": said.lock.days, "Years": said.lock.years}
               if said.lock.mode else None)
    return {"Bucket": bucket, "Type": service.settings.trail_storage,
            "ObjectLockEnabled": said.lock.enabled, "DefaultRetention": default,
            "Worm": said.worm, "Guarantee": said.text}


def trail_objects(service: Service, ctx: AuthContext, params: Mapping[str, str]
                  ) -> dict[str, Any]:
    ref = parse_trail_ref(params.get("trailArn"), "trailArn")
    if not ref.is_arn or ref.account is None or not ctx.principal.may_access(ref.account):
        raise TrailNotFound(f"Unknown trail: {params.get('trailArn')} for the user: "
                            f"{ctx.principal.account or service.settings.organization_account}")
    window = (params["trailArn"], _time(params, "startTime"), _time(params, "endTime"))
    rows = (service.delivery.delivered_objects(*window) if service.delivery is not None
            else delivered_objects(service.settings.data_dir, *window))
    kind = params.get("kind")
    if kind:
        if kind not in KINDS:
            raise ValidationError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}.")
        rows = [r for r in rows if r.kind == kind]
    buckets = sorted({r.bucket for r in rows})
    return {"TrailARN": params["trailArn"], "Objects": [_object(r) for r in rows],
            "Storage": [_storage(service, b) for b in buckets]}


def _endpoint(service: Service) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        request_id = new_request_id()
        try:
            ctx, _ = await read_signed(service, request, MAX_QUERY_BODY)
            require(ctx, Role.READER, "reading a trail's delivery record")
            params = {k: str(v) for k, v in request.query_params.items()}
            result = await run_in_threadpool(trail_objects, service, ctx, params)
        except OpenTrailError as err:
            return error_response(err, request_id, content_type=REST_JSON)
        return json_response(result, request_id, content_type=REST_JSON)

    return endpoint


def delivery_routes(service: Service) -> list[Route]:
    return [Route(DELIVERIES_PATH, _endpoint(service), methods=["GET"])]
