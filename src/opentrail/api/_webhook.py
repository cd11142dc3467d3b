"""The Kubernetes audit webhook: kube-apiserver's `--audit-webhook-config-file` target.

kube-apiserver POSTs batches as an `audit.k8s.io/v1` `EventList`. Its webhook kubeconfig
can send a bearer token or a client certificate, not a SigV4 signature, so this route
takes `Authorization: Bearer <access key id>:<secret>` of an OpenTrail writer key and
compares the secret in constant time. Events are converted by the k8s converter
(`opentrail.sources`), validated like any ingested record, and the answer is 200 only
once the ledger commit is durable; kube-apiserver retries a batch on 429 and 5xx.
The kubeconfig to use is in docs/collect.md.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from opentrail.api._request import read_body
from opentrail.api._wire import error_response, json_response, new_request_id
from opentrail.auth import AuthContext, Principal, Role
from opentrail.errors import AccessDenied, AuthError, InvalidRecord, OpenTrailError, Throttled
from opentrail.events import Record, parse_record
from opentrail.service import Service
from opentrail.sources import DEFAULT_REGION, ConversionError, Options, convert

__all__ = ["WEBHOOK_PATH", "kubernetes_audit_webhook"]

WEBHOOK_PATH = "/opentrail/v1/kubernetes-audit"
log = logging.getLogger(__name__)


def bearer_principal(service: Service, header: str) -> Principal:
    """The key named by `Bearer <id>:<secret>`; AuthError unless the secret matches."""
    scheme, _, token = header.partition(" ")
    key_id, sep, secret = token.strip().partition(":")
    if scheme.lower() != "bearer" or not sep or not key_id or not secret:
        raise AuthError("The webhook needs 'Authorization: Bearer <access key id>:<secret>' "
                        "(the token of the webhook kubeconfig's user).",
                        code="MissingAuthenticationToken")
    found = service.keys.lookup(key_id)
    # Compare even for an unknown key, so timing does not tell which key ids exist.
    expected = found[1] if found is not None else "\x00" * len(secret)
    if not hmac.compare_digest(expected.encode(), secret.encode()) or found is None:
        raise AuthError("The access key id or secret in the bearer token is not valid.",
                        code="UnrecognizedClientException")
    principal = found[0]
    if not principal.allows(Role.WRITER):
        raise AccessDenied(f"Access key {key_id} has the role {principal.role}; the "
                           f"webhook needs the role {Role.WRITER} or higher.")
    return principal


def _options(service: Service, request: Request, principal: Principal) -> Options:
    region = request.query_params.get("region") or DEFAULT_REGION
    account = request.query_params.get("account") or principal.account \
        or service.settings.organization_account
    return Options(region=region, account=account)


def convert_batch(service: Service, ctx: AuthContext, options: Options,
                  body: bytes) -> tuple[list[Record], list[dict[str, Any]]]:
    """Records to store, and one failure entry per event that could not be stored."""
    records: list[Record] = []
    failed: list[dict[str, Any]] = []
    for item in convert("k8s", body, options):
        if isinstance(item, ConversionError):
            failed.append({"index": item.index, "errorCode": "Unmappable",
                           "errorMessage": item.reason})
            continue
        try:
            record = parse_record(item.record, default_account=options.account or "",
                                  default_region=options.region)
            if not ctx.principal.may_access(record.account):
                raise InvalidRecord("recipientAccountId",
                                    f"Access key {ctx.principal.access_key_id} may not write "
                                    f"to account {record.account}.", code="InvalidRecipient")
        except InvalidRecord as err:
            failed.append({"index": item.index, "errorCode": err.code,
                           "errorMessage": err.message})
            continue
        records.append(record)
    return records, failed


async def kubernetes_audit_webhook(service: Service, request: Request) -> Response:
    request_id = new_request_id()
    try:
        principal = bearer_principal(service, request.headers.get("authorization", ""))
        body = await read_body(request, service.settings.max_request_bytes)
        options = _options(service, request, principal)
        ctx = AuthContext(principal, options.region, "kubernetes-audit")
        records, failed = await run_in_threadpool(convert_batch, service, ctx, options, body)
        stored = await asyncio.wrap_future(service.writer.submit(records)) if records else []
    except Throttled as err:
        # kube-apiserver's webhook backoff retries 429 and 5xx, not a 400.
        response = error_response(err, request_id)
        response.status_code, response.headers["Retry-After"] = 429, "1"
        return response
    except OpenTrailError as err:
        return error_response(err, request_id)
    # Unmappable events are answered 200 too: a retry would fail the same way forever.
    for entry in failed:
        log.warning("kubernetes audit event %d not stored: %s", entry["index"],
                    entry["errorMessage"])
    fresh = sum(stored)
    return json_response({"accepted": fresh, "duplicates": len(stored) - fresh,
                          "rejected": len(failed), "failed": failed}, request_id,
                         content_type="application/json")
