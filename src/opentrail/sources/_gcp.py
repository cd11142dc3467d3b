"""GCP Cloud Audit Logs (a LogEntry whose `protoPayload` is an AuditLog) as CloudTrail.

Covers the four audit logs: Admin Activity, Data Access (eventCategory Data), System
Event (eventType AwsServiceEvent) and Policy Denied (an errorCode from the status).
The mapping, field by field, is in docs/sources.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentrail.sources._record import (
    Options,
    Unmappable,
    content_id,
    field,
    skeleton,
    text,
    utc_time,
)
from opentrail.sources._verbs import Verb, verb_of

__all__ = ["convert_gcp"]

# google.rpc.Code: the names GCP shows beside status.code.
_RPC_CODES = (
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
)
_FALLBACK_SOURCE = "cloudaudit.googleapis.com"  # the audit log's own service


def convert_gcp(entry: Mapping[str, Any], options: Options) -> dict[str, Any]:
    """One Cloud Audit Log entry as a CloudTrail record; Unmappable says why not."""
    payload = field(entry, "protoPayload")
    if not isinstance(payload, dict):
        raise Unmappable("protoPayload is missing: not a Cloud Audit Log entry.")
    method = text(field(payload, "methodName"))
    if method is None:
        raise Unmappable("protoPayload.methodName is missing: the operation is unknown.")
    log = _log_kind(entry)
    source = text(field(payload, "serviceName")) or _FALLBACK_SOURCE
    record = skeleton("gcp", _source_id(entry), _when(entry, payload), options, entry)
    record.update({
        "eventSource": source, "eventName": method,
        "userIdentity": _identity(field(payload, "authenticationInfo"), source),
        "readOnly": verb_of(method) == Verb.READ,
        "eventType": "AwsServiceEvent" if log == "system_event" else "AwsApiCall",
        "eventCategory": "Data" if log == "data_access" else "Management",
        "managementEvent": log != "data_access",
        "requestParameters": _object(field(payload, "request")),
        "responseElements": None,
    })
    record["awsRegion"] = _region(entry, payload) or options.region
    _add_caller(record, field(payload, "requestMetadata"), source)
    _add_outcome(record, field(payload, "status"))
    if log == "policy" and "errorCode" not in record:
        record["errorCode"] = "PERMISSION_DENIED"  # what a Policy Denied entry records
    if resources := _resources(entry, payload):
        record["resources"] = resources
    operation = field(entry, "operation")
    if isinstance(operation, dict) and text(operation.get("id")):
        record["requestID"] = operation["id"]
    return record


def _log_kind(entry: Mapping[str, Any]) -> str:
    """activity, data_access, system_event or policy, from logName."""
    name = text(field(entry, "logName")) or ""
    return name.rsplit("%2F", 1)[-1].rsplit("/", 1)[-1]


def _source_id(entry: Mapping[str, Any]) -> str:
    # A LogEntry is unique by (logName, timestamp, insertId): Logging's own dedup key.
    insert_id = text(field(entry, "insertId"))
    if insert_id is None:
        return content_id(entry)
    return f"{field(entry, 'logName')}|{field(entry, 'timestamp')}|{insert_id}"


def _when(entry: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
    metadata = field(payload, "requestMetadata")
    attributes = field(metadata, "requestAttributes") if isinstance(metadata, dict) else None
    for value, what in ((field(entry, "timestamp"), "timestamp"),
                        (field(payload, "timestamp"), "protoPayload.timestamp"),
                        (field(attributes, "time") if isinstance(attributes, dict) else None,
                         "requestMetadata.requestAttributes.time"),
                        (field(entry, "receiveTimestamp"), "receiveTimestamp")):
        if value:
            return utc_time(value, what)
    raise Unmappable("The entry has no timestamp (timestamp, receiveTimestamp).")


def _identity(auth: object, source: str) -> dict[str, Any]:
    email = text(field(auth, "principalEmail")) if isinstance(auth, dict) else None
    if email is None or not isinstance(auth, dict):
        return {"type": "GCPService", "invokedBy": source}
    kind = "GCPServiceAccount" if email.endswith(".gserviceaccount.com") else "GCPUser"
    identity = {"type": kind, "principalId": text(auth.get("principalSubject")) or email,
                "userName": email}
    if key := text(auth.get("serviceAccountKeyName")):
        identity["accessKeyId"] = key
    return identity


def _region(entry: Mapping[str, Any], payload: Mapping[str, Any]) -> str | None:
    resource = field(entry, "resource")
    labels = field(resource, "labels") if isinstance(resource, dict) else None
    if isinstance(labels, dict):
        for name in ("location", "region"):
            if value := text(labels.get(name)):
                return value
        if zone := text(labels.get("zone")):
            return zone.rsplit("-", 1)[0] if zone.count("-") == 2 else zone
    where = field(payload, "resourceLocation")
    current = where.get("currentLocations") if isinstance(where, dict) else None
    return text(current[0]) if isinstance(current, list) and current else None


def _add_caller(record: dict[str, Any], metadata: object, source: str) -> None:
    if not isinstance(metadata, dict):
        record["sourceIPAddress"] = source  # a service acting on its own, as in CloudTrail
        return
    # The API writes callerIp; some exports re-case it as callerIP.
    record["sourceIPAddress"] = (text(field(metadata, "callerIp"))
                                 or text(metadata.get("callerIP")) or source)
    if agent := text(field(metadata, "callerSuppliedUserAgent")):
        record["userAgent"] = agent


def _add_outcome(record: dict[str, Any], status: object) -> None:
    if not isinstance(status, dict):
        return
    code = status.get("code")
    if not isinstance(code, int) or isinstance(code, bool) or code == 0:
        return
    record["errorCode"] = _RPC_CODES[code] if 0 < code < len(_RPC_CODES) else str(code)
    if message := text(status.get("message")):
        record["errorMessage"] = message


def _resources(entry: Mapping[str, Any], payload: Mapping[str, Any]) -> list[dict[str, str]]:
    resource = field(entry, "resource")
    default_type = text(resource.get("type")) if isinstance(resource, dict) else None
    found: dict[str, dict[str, str]] = {}
    checks = field(payload, "authorizationInfo")
    for check in checks if isinstance(checks, list) else ():
        if not isinstance(check, dict):
            continue
        attributes = check.get("resourceAttributes")
        name = text(check.get("resource")) or (
            text(attributes.get("name")) if isinstance(attributes, dict) else None)
        kind = (text(attributes.get("type")) if isinstance(attributes, dict) else None)
        if name and name not in found:
            found[name] = _resource(name, kind or default_type)
    name = text(field(payload, "resourceName"))
    if name and name not in found:
        found[name] = _resource(name, default_type)
    return list(found.values())


def _resource(name: str, kind: str | None) -> dict[str, str]:
    return {"ARN": name, "type": kind} if kind else {"ARN": name}


def _object(value: object) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None
