"""Import operations of the cloudtrail API (CloudTrail Lake "copy trail events", spec
lake.md §8): StartImport, GetImport, ListImports, ListImportFailures, StopImport.

This module checks and shapes requests; `lake.ImportRunner` keeps the imports and runs
them on its thread. An import belongs to the caller's account (an organization key acts
for `settings.organization_account`), like the stores it writes to.
"""

from __future__ import annotations

import base64
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from opentrail.api._stores import _account, _owner
from opentrail.auth import AuthContext
from opentrail.errors import (
    EventDataStoreARNInvalid,
    InvalidImportSource,
    InvalidNextToken,
    ValidationError,
)
from opentrail.lake import ImportRunner, parse_store_ref
from opentrail.lake._imports import IMPORT_STATUSES, Import, parse_s3_uri
from opentrail.storage import StorageError

if TYPE_CHECKING:
    from opentrail.service import Service

__all__ = ["IMPORT_OPERATIONS"]

IMPORT_ID = re.compile(r"[a-f0-9\-]{36}")
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
ROLE_ARN = re.compile(r"arn:aws[a-z\-]*:iam::\d{12}:role/[\w+=,.@\-/]{1,512}")
MAX_PAGE = 1000


def _runner(service: Service) -> ImportRunner:
    runner: ImportRunner | None = service.lake_imports
    if runner is None:
        raise ValidationError("Imports are not available: the Lake writer is not running.")
    return runner


def _import_id(params: dict[str, Any]) -> str:
    value = params.get("ImportId")
    if value in (None, ""):
        raise ValidationError("ImportId is required.")
    if not isinstance(value, str) or not IMPORT_ID.fullmatch(value):
        raise ValidationError(f"ImportId {value!r} is not valid: an import ID is 36 "
                              "characters of a-f, 0-9 and '-'.")
    return value


def _time(params: dict[str, Any], name: str) -> float | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{name} must be a timestamp (epoch seconds).")
    return float(value)


def _source(params: dict[str, Any]) -> dict[str, Any]:
    source = params.get("ImportSource")
    if not isinstance(source, dict) or not isinstance(source.get("S3"), dict):
        raise ValidationError("ImportSource with its S3 member is required for a new import.")
    s3 = source["S3"]
    for name in ("S3LocationUri", "S3BucketRegion", "S3BucketAccessRoleArn"):
        if not isinstance(s3.get(name), str) or not s3[name]:
            raise ValidationError(f"ImportSource.S3.{name} is required and must be a string.")
    try:
        parse_s3_uri(s3["S3LocationUri"])
    except ValueError as exc:
        raise InvalidImportSource(str(exc)) from None
    if not REGION.fullmatch(s3["S3BucketRegion"]):
        raise InvalidImportSource(f"S3BucketRegion {s3['S3BucketRegion']!r} is not a "
                                  "Region name such as us-east-1.")
    if not ROLE_ARN.fullmatch(s3["S3BucketAccessRoleArn"]):
        raise InvalidImportSource(
            f"S3BucketAccessRoleArn {s3['S3BucketAccessRoleArn']!r} is not an IAM role ARN "
            "(arn:aws:iam::123456789012:role/NAME).")
    return {"S3": {k: s3[k] for k in ("S3LocationUri", "S3BucketRegion",
                                      "S3BucketAccessRoleArn")}}


def _check_bucket(service: Service, source: dict[str, Any]) -> None:
    runner = _runner(service)
    s3 = source["S3"]
    opened = runner.open_source(s3)
    try:
        exists = opened.storage.bucket_exists(opened.bucket)
    except StorageError as exc:
        raise InvalidImportSource(f"The bucket {opened.bucket} of {s3['S3LocationUri']} "
                                  f"cannot be reached: {exc.code}: {exc.message}") from None
    if not exists:
        raise InvalidImportSource(f"The bucket {opened.bucket} of {s3['S3LocationUri']} "
                                  "does not exist.")


def _shape(job: Import, *, statistics: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ImportId": job.id, "Destinations": [job.store_arn], "ImportSource": job.source,
        "ImportStatus": job.status, "CreatedTimestamp": job.created,
        "UpdatedTimestamp": job.updated}
    if job.start_time is not None:
        out["StartEventTime"] = job.start_time
    if job.end_time is not None:
        out["EndEventTime"] = job.end_time
    if statistics:
        out["ImportStatistics"] = {
            "PrefixesFound": job.prefixes_found, "PrefixesCompleted": job.prefixes_completed,
            "FilesCompleted": job.files_completed, "EventsCompleted": job.events_completed,
            "FailedEntries": job.failed_entries}
    return out


def start_import(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    runner = _runner(service)
    account = _account(service, ctx)
    if params.get("ImportId") is not None:
        others = [k for k in ("Destinations", "ImportSource", "StartEventTime", "EndEventTime")
                  if params.get(k) is not None]
        if others:
            raise ValidationError(
                f"A retry gives only ImportId; {', '.join(others)} cannot be changed. Start "
                "a new import (without ImportId) to import elsewhere or another window.")
        return _shape(runner.retry(account, _import_id(params)))
    destinations = params.get("Destinations")
    if not isinstance(destinations, list) or len(destinations) != 1:
        raise ValidationError("Destinations must list exactly one event data store (its ARN "
                              "or ID) for a new import, or give ImportId to retry one.")
    source = _source(params)
    start, end = _time(params, "StartEventTime"), _time(params, "EndEventTime")
    if start is not None and end is not None and start > end:
        raise ValidationError(
            f"StartEventTime ({_iso(start)}) is after EndEventTime ({_iso(end)}).")
    ref = destinations[0]
    catalog = service.lake
    assert catalog is not None  # Service.open opens it
    store = catalog.resolve(ref, _owner(service, ctx, ref), ctx.region, active=True)
    from opentrail.lake._imports import check_destination

    check_destination(store)
    _check_bucket(service, source)
    return _shape(runner.start(account, store, source, start, end))


def _iso(value: float) -> str:
    from datetime import UTC

    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def get_import(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    job = _runner(service).get(_account(service, ctx), _import_id(params))
    return _shape(job, statistics=True)


def stop_import(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    job = _runner(service).stop(_account(service, ctx), _import_id(params))
    return _shape(job, statistics=True)


def _page_size(params: dict[str, Any]) -> int:
    size = params.get("MaxResults", MAX_PAGE)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_PAGE:
        raise ValidationError(f"MaxResults {size!r} is not valid: give 1 to {MAX_PAGE}.")
    return size


def _token(kind: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{offset}".encode()).decode()


def _offset(params: dict[str, Any], kind: str) -> int:
    token = params.get("NextToken")
    if token is None:
        return 0
    try:
        name, _, offset = base64.urlsafe_b64decode(str(token).encode()).decode().partition(":")
        if name == kind and offset.isdigit():
            return int(offset)
    except (ValueError, UnicodeDecodeError):
        pass
    raise InvalidNextToken(f"NextToken {str(token)[:64]!r} is not a token this operation "
                           "returned.")


def _page(items: list[Any], params: dict[str, Any], kind: str) -> tuple[list[Any], str | None]:
    size = _page_size(params)
    offset = _offset(params, kind)
    page = items[offset : offset + size]
    more = offset + size < len(items)
    return page, _token(kind, offset + size) if more else None


def list_imports(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    account = _account(service, ctx)
    status = params.get("ImportStatus")
    if status is not None and status not in IMPORT_STATUSES:
        raise ValidationError(f"ImportStatus {status!r} is not valid: give one of "
                              f"{', '.join(IMPORT_STATUSES)}.")
    store_id = None
    destination = params.get("Destination")
    if destination is not None:
        if not isinstance(destination, str) or not 3 <= len(destination) <= 256:
            raise EventDataStoreARNInvalid(f"Destination {destination!r} is not an event "
                                           "data store ARN or ID.")
        store_id = parse_store_ref(destination)[2]
    _page_size(params)
    jobs = _runner(service).imports(account, store_id, status)
    page, token = _page(jobs, params, "imports")
    out: dict[str, Any] = {"Imports": [
        {"ImportId": j.id, "ImportStatus": j.status, "Destinations": [j.store_arn],
         "CreatedTimestamp": j.created, "UpdatedTimestamp": j.updated} for j in page]}
    if token is not None:
        out["NextToken"] = token
    return out


def list_import_failures(service: Service, params: dict[str, Any], ctx: AuthContext) -> Any:
    """An ImportId that names no import of the caller's account lists no failures (the
    model gives this operation no ImportNotFoundException)."""
    import_id = _import_id(params)
    _page_size(params)
    failures = _runner(service).failures(_account(service, ctx), import_id)
    page, token = _page(failures, params, "failures")
    out: dict[str, Any] = {"Failures": [
        {"Location": f.location, "Status": f.status, "ErrorType": f.error_type,
         "ErrorMessage": f.message, "LastUpdatedTime": f.updated} for f in page]}
    if token is not None:
        out["NextToken"] = token
    return out


IMPORT_OPERATIONS = {
    "StartImport": start_import,
    "GetImport": get_import,
    "ListImports": list_imports,
    "ListImportFailures": list_import_failures,
    "StopImport": stop_import,
}
