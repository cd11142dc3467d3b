"""Azure Activity Log entries as CloudTrail records.

Both shapes are read: the diagnostic-settings export (`time`, `operationName`,
`callerIpAddress`, `identity.claims`, ...) and the REST API's (`eventTimestamp`,
`operationName: {"value": ...}`, `caller`, `eventDataId`, `status`). The mapping,
field by field, is in docs/sources.md.
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

__all__ = ["convert_azure"]

_UPN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
_OID = "http://schemas.microsoft.com/identity/claims/objectidentifier"
_FAILED = frozenset({"failed", "failure"})
# Categories that record data-plane access (resource logs), not control-plane calls.
_DATA = frozenset({"storageread", "storagewrite", "storagedelete"})
_SERVICE = frozenset({"policy", "recommendation", "servicehealth", "resourcehealth",
                      "autoscale", "alert"})


def convert_azure(entry: Mapping[str, Any], options: Options) -> dict[str, Any]:
    """One Activity Log entry as a CloudTrail record; Unmappable says why not."""
    operation = text(field(entry, "operationName"))
    if operation is None:
        raise Unmappable("operationName is missing: the operation is unknown.")
    when = field(entry, "time") or field(entry, "eventTimestamp")
    if not when:
        raise Unmappable("The entry has no time (time, eventTimestamp).")
    category = (text(field(entry, "category")) or "").lower()
    source_id = text(field(entry, "eventDataId")) or content_id(entry)
    record = skeleton("azure", source_id, utc_time(when, "time"), options, entry)
    record.update({
        "eventSource": _provider(operation, text(field(entry, "resourceId"))),
        "eventName": operation,
        "userIdentity": _identity(entry),
        "readOnly": operation.lower().endswith("/read") or category == "storageread",
        "eventType": "AwsServiceEvent" if category in _SERVICE else "AwsApiCall",
        "eventCategory": "Data" if category in _DATA else "Management",
        "managementEvent": category not in _DATA,
        "requestParameters": _object(field(entry, "properties")),
        "responseElements": None,
    })
    record["awsRegion"] = text(field(entry, "location")) or options.region
    if address := text(field(entry, "callerIpAddress")) or _claim(entry, "ipaddr"):
        record["sourceIPAddress"] = address
    if correlation := text(field(entry, "correlationId")):
        record["requestID"] = correlation
    _add_outcome(record, entry)
    if resource := text(field(entry, "resourceId")):
        record["resources"] = [{"ARN": resource, "type": _resource_type(resource)}]
    return record


def _provider(operation: str, resource_id: str | None) -> str:
    """`Microsoft.Storage/storageAccounts/write` -> `microsoft.storage` (case varies)."""
    if "/" in operation:
        return operation.split("/", 1)[0].lower()
    parts = (resource_id or "").split("/")
    lowered = [p.lower() for p in parts]
    if "providers" in lowered and lowered.index("providers") + 1 < len(parts):
        return lowered[lowered.index("providers") + 1]
    return "microsoft.resources"


def _resource_type(resource_id: str) -> str:
    """`.../providers/Microsoft.Storage/storageAccounts/x/blobServices/default` ->
    `Microsoft.Storage/storageAccounts/blobServices` (Azure's own resource type)."""
    parts = resource_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    if "providers" not in lowered:
        return "Microsoft.Resources/" + ("resourceGroups" if len(parts) > 2 else "subscriptions")
    rest = parts[lowered.index("providers") + 1:]
    return "/".join([rest[0], *rest[1::2]]) if rest else "Microsoft.Resources"


def _claims(entry: Mapping[str, Any]) -> dict[str, Any]:
    identity = field(entry, "identity")
    claims = identity.get("claims") if isinstance(identity, dict) else None
    return claims if isinstance(claims, dict) else {}


def _claim(entry: Mapping[str, Any], name: str) -> str | None:
    return text(_claims(entry).get(name))


def _identity(entry: Mapping[str, Any]) -> dict[str, Any]:
    claims = _claims(entry)
    user = (text(claims.get(_UPN)) or text(claims.get("name"))
            or text(field(entry, "caller")))
    app = text(claims.get("appid"))
    principal = text(claims.get(_OID)) or user or app
    if principal is None:
        identity = field(entry, "identity")
        kind = text(identity.get("type")) if isinstance(identity, dict) else None
        return {"type": f"Azure{kind}" if kind else "Unknown"}
    kind = "AzureUser" if user and "@" in user else "AzureServicePrincipal"
    found = {"type": kind, "principalId": principal}
    if user or app:
        found["userName"] = user or app or ""
    return found


def _add_outcome(record: dict[str, Any], entry: Mapping[str, Any]) -> None:
    result = text(field(entry, "resultType")) or text(field(entry, "status")) or ""
    if result.lower() not in _FAILED:
        return
    record["errorCode"] = (text(field(entry, "resultSignature"))
                           or text(field(entry, "statusCode")) or "Failed")
    message = text(field(entry, "resultDescription")) or text(field(entry, "statusText"))
    if message:
        record["errorMessage"] = message


def _object(value: object) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None
