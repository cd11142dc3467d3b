"""Compliance routes: what `opentrail compliance report` needs beyond the CloudTrail API.

* `GET  /opentrail/v1/checkpoints?start=S&end=E` (reader): the signed checkpoints of a
  period (epoch seconds, half-open), with the last one before it first, and as
  `periodEnd` the first one signed at or after E, which holds every event of the period
  (signed on the spot when none is yet; then later runs find that same one);
* `GET  /opentrail/v1/compliance/system` (admin): the configuration facts a report's
  system description prints;
* `GET  /opentrail/v1/compliance/public-key` (reader): the report signing key;
* `POST /opentrail/v1/compliance/reports` (admin): records a report: a `VerifierRun`
  and a `ReportGenerated` internal event go into the ledger (durable before the answer),
  and the manifest's SHA-256 comes back in a signed note, signed with the report key
  (DATA_DIR/report.key, a name other than the checkpoint key's, spec compliance.md §8.1).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from opentrail import __version__
from opentrail.api._proofs import PROOFS_PREFIX, REST_JSON
from opentrail.api._request import read_signed, require
from opentrail.api._wire import error_response, json_response, new_request_id
from opentrail.auth import AuthContext, Role
from opentrail.compliance import manifest_note_text
from opentrail.errors import OpenTrailError, ValidationError
from opentrail.events import internal_record, parse_record
from opentrail.ledger import NoteSigner, load_signer
from opentrail.service import Service

__all__ = ["REPORT_KEY_FILE", "compliance_routes", "object_lock"]

REPORT_KEY_FILE = "report.key"
MAX_REPORT_BODY = 64 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")
_REPORT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

Work = Callable[["_Keys", Service, AuthContext, Mapping[str, str], bytes], dict[str, Any]]


class _Keys:
    """The report signer, loaded (or created) on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._signer: NoteSigner | None = None

    def signer(self, service: Service) -> NoteSigner:
        with self._lock:
            if self._signer is None:
                self._signer = load_signer(service.settings.data_dir, REPORT_KEY_FILE,
                                           "reports")
            return self._signer


def _epoch(params: Mapping[str, str], name: str) -> int:
    raw = params.get(name, "")
    if not (raw.isascii() and raw.isdigit()):
        raise ValidationError(f"The {name} query parameter must be epoch seconds; got "
                              f"{raw[:40]!r}.")
    return int(raw)


def checkpoints(keys: _Keys, service: Service, ctx: AuthContext, params: Mapping[str, str],
                body: bytes) -> dict[str, Any]:
    start, end = _epoch(params, "start"), _epoch(params, "end")
    if start >= end:
        raise ValidationError("start must be before end.")
    checkpoints = service.checkpoints
    assert checkpoints is not None
    found = checkpoints.between(start, end)
    closing = checkpoints.first_since(end)
    if closing is None and end <= service.clock.now():
        closing = checkpoints.make_checkpoint()  # the latest, if nothing grew since
    return {"checkpoints": [c.to_json() for c in found],
            "periodEnd": closing.to_json() if closing else None,
            "publicKey": checkpoints.public_key.text()}


def system(keys: _Keys, service: Service, ctx: AuthContext, params: Mapping[str, str],
           body: bytes) -> dict[str, Any]:
    s = service.settings
    assert service.checkpoints is not None
    return {"version": __version__, "region": s.region,
            "historyRetentionDays": s.history_retention_days,
            "trailStorage": s.trail_storage, "s3EndpointUrl": s.s3_endpoint_url or None,
            "deliveryInterval": s.delivery_interval, "digestInterval": s.digest_interval,
            "checkpointInterval": s.checkpoint_interval,
            "signingKeyRotationDays": s.signing_key_rotation_days,
            "healthSampleInterval": s.health_sample_interval,
            "checkpointKey": service.checkpoints.public_key.text(),
            "reportKey": keys.signer(service).verifier().text(),
            "objectLock": object_lock(service, ctx),
            "fileAccess": _file_access(service, ctx),
            # Whom the report covers: an account key its account, an organization key
            # every account (acting as the organization's management account).
            "callerScope": "organization" if ctx.principal.organization else "account",
            "callerAccount": ctx.principal.account or s.organization_account,
            "organizationId": service.organization_id}


def _file_access(service: Service, ctx: AuthContext) -> dict[str, Any]:
    """OT-13's server side: the ledger's files and, for a folder destination, the
    caller's bucket folders (compliance/_file_access.py)."""
    from opentrail.compliance._file_access import file_access

    s = service.settings
    buckets = ({t.s3_bucket_name for t in service.trails.list(ctx.principal.account)}
               if s.trail_storage == "folder" else set())
    return file_access(s.data_dir, buckets)


def object_lock(service: Any, ctx: AuthContext) -> dict[str, Any] | None:
    """What the trail storage says about Object Lock on the caller's trail buckets: None
    when the storage reports no lock facts (no `lock_config`). The explicit
    --object-lock-mode/--object-lock-days the server writes with win over a bucket's
    default retention; the weakest bucket decides (any off: off; any GOVERNANCE: it)."""
    lock_config = getattr(service.trail_storage, "lock_config", None)
    if lock_config is None:
        return None
    s = service.settings
    mode, days = getattr(s, "object_lock_mode", "") or None, getattr(s, "object_lock_days", 0)
    account = ctx.principal.account
    buckets = []
    for bucket in sorted({t.s3_bucket_name for t in service.trails.list(account)}):
        config = lock_config(bucket)
        period = days or config.days or (config.years or 0) * 365
        buckets.append({"bucket": bucket, "enabled": bool(config.enabled),
                        "mode": mode or config.mode, "days": period or 0})
    if not buckets:
        return None
    modes = {b["mode"] for b in buckets}
    weakest = next((m for m in (None, "GOVERNANCE") if m in modes), "COMPLIANCE")
    return {"enabled": all(b["enabled"] for b in buckets), "mode": weakest,
            "days": min(b["days"] for b in buckets), "buckets": buckets}


def public_key(keys: _Keys, service: Service, ctx: AuthContext, params: Mapping[str, str],
               body: bytes) -> dict[str, Any]:
    key = keys.signer(service).verifier()
    return {"publicKey": key.text(), "keyName": key.name, "algorithm": "Ed25519"}


def _report_fields(body: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(doc, dict):
        raise ValidationError("The request body must be a JSON object.")
    if not _REPORT_ID.fullmatch(str(doc.get("reportId", ""))):
        raise ValidationError("reportId must be 1 to 128 letters, digits or ._:- .")
    if not _SHA256.fullmatch(str(doc.get("manifestSha256", ""))):
        raise ValidationError("manifestSha256 must be 64 lowercase hex digits.")
    if not isinstance(doc.get("verifier", {}), dict):
        raise ValidationError("verifier must be a JSON object.")
    return doc


def record_report(keys: _Keys, service: Service, ctx: AuthContext, params: Mapping[str, str],
                  body: bytes) -> dict[str, Any]:
    doc = _report_fields(body)
    account = ctx.principal.account or service.settings.organization_account
    region = service.settings.region
    who = {"accessKeyId": ctx.principal.access_key_id, "userName": ctx.principal.name}
    common = {"reportId": doc["reportId"], "profile": str(doc.get("profile", "")),
              "periodStart": str(doc.get("periodStart", "")),
              "periodEnd": str(doc.get("periodEnd", "")), "requestedBy": who,
              "checkpointSize": doc.get("checkpointSize")
              if isinstance(doc.get("checkpointSize"), int) else None}
    records = [internal_record("VerifierRun", account, region,
                               {**common, "results": doc.get("verifier", {})}),
               internal_record("ReportGenerated", account, region,
                               {**common, "manifestSha256": doc["manifestSha256"]})]
    service.writer.submit([parse_record(r, default_account=account, default_region=region)
                           for r in records]).result()
    event_id = str(records[1]["eventID"])
    signer = keys.signer(service)
    note = signer.sign(manifest_note_text(doc["reportId"], doc["manifestSha256"], event_id))
    return {"signature": note, "eventId": event_id, "accountId": account,
            "keyName": signer.name, "publicKey": signer.verifier().text()}


def _endpoint(keys: _Keys, service: Service, work: Work, role: Role,
              what: str) -> Callable[..., Any]:
    async def endpoint(request: Request) -> Response:
        request_id = new_request_id()
        try:
            ctx, body = await read_signed(service, request, MAX_REPORT_BODY)
            require(ctx, role, what)
            if service.checkpoints is None:
                raise OpenTrailError("This server does not keep a Merkle tree.")
            params = {k: str(v) for k, v in request.query_params.items()}
            result = await run_in_threadpool(work, keys, service, ctx, params, body)
        except OpenTrailError as err:
            return error_response(err, request_id, content_type=REST_JSON)
        return json_response(result, request_id, content_type=REST_JSON)

    return endpoint


def compliance_routes(service: Service) -> list[Route]:
    p, keys = PROOFS_PREFIX, _Keys()
    table: list[tuple[str, str, Work, Role, str]] = [
        (f"{p}/checkpoints", "GET", checkpoints, Role.READER, "listing checkpoints"),
        (f"{p}/compliance/system", "GET", system, Role.ADMIN, "reading the configuration"),
        (f"{p}/compliance/public-key", "GET", public_key, Role.READER,
         "reading the report key"),
        (f"{p}/compliance/reports", "POST", record_report, Role.ADMIN, "recording a report"),
    ]
    return [Route(path, _endpoint(keys, service, work, role, what), methods=[method])
            for path, method, work, role, what in table]
