"""Ingest routes: OpenTrail's batch operation and cloudtrail-data PutAuditEvents.

Both validate every event first (a bad event never fails its neighbours), hand the good
ones to the ledger writer, and answer only after the writer's commit is durable.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from opentrail.api._request import read_signed, require
from opentrail.api._wire import error_response, json_response, new_request_id
from opentrail.auth import AuthContext, Role
from opentrail.channels import CHANNEL_ARN, Channel
from opentrail.errors import InvalidRecord, OpenTrailError, ValidationError
from opentrail.events import Owner, Prepared, Record, parse_record, wrap_audit_event
from opentrail.service import Service

__all__ = ["ingest_batch", "put_audit_events"]

MAX_AUDIT_EVENTS = 100
MAX_AUDIT_BYTES = 1024 * 1024
AUDIT_ID = re.compile(r"^[-_A-Za-z0-9]{1,128}$")
REST_JSON = "application/json"


def _owner(service: Service, ctx: AuthContext) -> Owner:
    """Whose records these are: an organization key may name any account, any other key
    its own only (a key without an account, none)."""
    principal = ctx.principal
    return Owner(default_account=principal.account or service.settings.organization_account,
                 default_region=ctx.region,
                 writable=None if principal.organization else (principal.account or ""),
                 access_key_id=principal.access_key_id)


async def ingest_batch(service: Service, request: Request) -> Response:
    request_id = new_request_id()
    try:
        ctx, body = await read_signed(service, request, service.settings.max_request_bytes)
        require(ctx, Role.WRITER, "ingest")
        prepared = await run_in_threadpool(service.parsers.prepare, body, _owner(service, ctx),
                                           service.settings.max_request_bytes)
        stored = await _store(service, prepared.records)
    except OpenTrailError as err:
        return error_response(err, request_id)
    return json_response(_batch_result(prepared, stored), request_id)


async def _store(service: Service, records: list[Record]) -> list[bool]:
    if not records:
        return []
    return await asyncio.wrap_future(service.writer.submit(records))


def _batch_result(prepared: Prepared, stored: list[bool]) -> dict[str, Any]:
    total = len(prepared.records) + len(prepared.failed)
    ids: list[str | None] = [None] * total
    duplicates = []
    for index, record, fresh in zip(prepared.positions, prepared.records, stored, strict=True):
        ids[index] = record.event_id
        if not fresh:
            duplicates.append(index)
    failed = [{"index": i, "errorCode": e.code, "errorMessage": e.message}
              for i, e in prepared.failed]
    return {"accepted": len(stored) - len(duplicates), "duplicates": len(duplicates),
            "rejected": len(failed), "eventIds": ids, "duplicateIndexes": duplicates,
            "failed": failed}


# --- cloudtrail-data PutAuditEvents (rest-json) ---------------------------------------


def _data_error(code: str, message: str) -> OpenTrailError:
    return ValidationError(message, code=code)


def _channel(service: Service, ctx: AuthContext, ref: str | None) -> Channel:
    if not ref:
        raise _data_error("InvalidChannelARN", "The channelArn query parameter is required.")
    if ref.startswith("arn:"):
        if not CHANNEL_ARN.match(ref):
            raise _data_error("InvalidChannelARN", f"The channel ARN {ref!r} is not valid.")
        channel = service.channels.owner_of(ref)
    else:
        account = ctx.principal.account or ""
        channel = service.channels.owner_of(
            f"arn:aws:cloudtrail:{ctx.region}:{account}:channel/{ref}")
    if channel is None:
        raise _data_error("ChannelNotFound", f"The channel {ref} was not found.")
    if not ctx.principal.may_access(channel.account) or not ctx.principal.allows(Role.WRITER):
        raise _data_error("ChannelInsufficientPermission",
                          f"Access key {ctx.principal.access_key_id} may not write to the "
                          f"channel {channel.arn}.")
    return channel


def _audit_events(body: bytes) -> list[dict[str, Any]]:
    if len(body) > MAX_AUDIT_BYTES:
        raise _data_error("ValidationException", "A PutAuditEvents request may be at most 1 MB.")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _data_error("ValidationException", "The request body is not valid JSON.") from None
    events = data.get("auditEvents") if isinstance(data, dict) else None
    if not isinstance(events, list) or not 1 <= len(events) <= MAX_AUDIT_EVENTS:
        raise _data_error("ValidationException",
                          f"auditEvents must be a list of 1 to {MAX_AUDIT_EVENTS} events.")
    ids = [e.get("id") if isinstance(e, dict) else None for e in events]
    seen: set[Any] = set()
    for i in ids:
        if i in seen:
            raise _data_error("DuplicatedAuditEventId",
                              f"The id {i!r} appears more than once in this request.")
        seen.add(i)
    return events


def _wrap(service: Service, channel: Channel, event: dict[str, Any]) -> Record:
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) \
            or not AUDIT_ID.match(event["id"]):
        raise InvalidRecord("id", "id must be 1-128 characters of letters, digits, '-' or '_'.",
                            code="InvalidData")
    data = event.get("eventData")
    if not isinstance(data, str):
        raise InvalidRecord("eventData", "eventData is required and must be a JSON string.",
                            code="FieldNotFound")
    checksum = event.get("eventDataChecksum")
    wrapped = wrap_audit_event(data, checksum=checksum if isinstance(checksum, str) else None,
                               channel_arn=channel.arn, account=channel.account,
                               region=channel.region, now=service.clock.now())
    return parse_record(wrapped, default_account=channel.account, default_region=channel.region)


def _prepare_audit(service: Service, channel: Channel,
                   events: list[dict[str, Any]]) -> Prepared:
    out = Prepared()
    for index, event in enumerate(events):
        try:
            out.records.append(_wrap(service, channel, event))
            out.positions.append(index)
        except InvalidRecord as err:
            out.failed.append((index, err))
    return out


async def put_audit_events(service: Service, request: Request) -> Response:
    request_id = new_request_id()
    try:
        ctx, body = await read_signed(service, request, MAX_AUDIT_BYTES * 2)
        channel = _channel(service, ctx, request.query_params.get("channelArn"))
        events = _audit_events(body)
        prepared = await run_in_threadpool(_prepare_audit, service, channel, events)
        await _store(service, prepared.records)
    except OpenTrailError as err:
        return error_response(err, request_id, content_type=REST_JSON)
    result = _audit_result(events, prepared)
    _note_ingestion(service, channel, prepared, events)
    return json_response(result, request_id, content_type=REST_JSON)


def _audit_result(events: list[dict[str, Any]], prepared: Prepared) -> dict[str, Any]:
    ok = [{"id": events[i]["id"], "eventID": r.event_id}
          for i, r in zip(prepared.positions, prepared.records, strict=True)]
    failed = [{"id": str(events[i].get("id", "")) if isinstance(events[i], dict) else "",
               "errorCode": e.code, "errorMessage": e.message} for i, e in prepared.failed]
    return {"successful": ok, "failed": failed}


def _note_ingestion(service: Service, channel: Channel, prepared: Prepared,
                    events: list[dict[str, Any]]) -> None:
    now = service.clock.now()
    status = dict(channel.ingestion)
    status["LatestIngestionAttemptTime"] = now
    if prepared.records:
        status["LatestIngestionSuccessTime"] = now
        status["LatestIngestionSuccessEventID"] = prepared.records[-1].event_id
        status["LatestIngestionAttemptEventID"] = prepared.records[-1].event_id
    if prepared.failed:
        status["LatestIngestionErrorCode"] = prepared.failed[-1][1].code
    service.channels.record_ingestion(channel.arn, status)
