"""Microsoft Entra ID (Azure AD) audit and sign-in logs as CloudTrail records.

Read in both shapes: the diagnostic-settings export (`time`, `operationName`,
`category`, the event under `properties`) and Microsoft Graph's `directoryAudit` /
`signIn` objects (the event itself). Sign-ins become `AwsConsoleSignIn` events, like
CloudTrail's ConsoleLogin. The mapping, field by field, is in docs/sources.md.
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

__all__ = ["convert_entra"]

AUDIT_SOURCE = "entra.microsoft.com"
SIGNIN_SOURCE = "signin.entra.microsoft.com"
_FAILED = frozenset({"failure", "failed", "timeout"})


def convert_entra(entry: Mapping[str, Any], options: Options) -> dict[str, Any]:
    """One Entra audit or sign-in entry as a CloudTrail record; Unmappable says why not."""
    inner = field(entry, "properties")
    event: Mapping[str, Any] = inner if isinstance(inner, dict) else entry
    signin = _is_signin(entry, event)
    name = (text(field(event, "activityDisplayName")) or text(field(entry, "operationName"))
            or ("Sign-in activity" if signin else None))
    if name is None:
        raise Unmappable("Neither activityDisplayName nor operationName names the activity.")
    record = skeleton("entra", text(field(event, "id")) or content_id(entry),
                      _when(entry, event), options, entry)
    record.update({
        "eventSource": SIGNIN_SOURCE if signin else AUDIT_SOURCE,
        "eventName": name,
        "userIdentity": _identity(entry, event),
        "readOnly": not signin and verb_of(name) == Verb.READ,
        "eventType": "AwsConsoleSignIn" if signin else "AwsApiCall",
        "eventCategory": "Management", "managementEvent": True,
        "requestParameters": None, "responseElements": None,
    })
    if address := _address(entry, event):
        record["sourceIPAddress"] = address
    if agent := text(field(event, "userAgent")):
        record["userAgent"] = agent
    if correlation := text(field(event, "correlationId")) or text(field(entry, "correlationId")):
        record["requestID"] = correlation
    _add_outcome(record, entry, event)
    if resources := _resources(event):
        record["resources"] = resources
    return record


def _is_signin(entry: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    category = text(field(entry, "category")) or ""
    return "signin" in category.lower() or (
        field(event, "activityDisplayName") is None and field(event, "createdDateTime")
        is not None)


def _when(entry: Mapping[str, Any], event: Mapping[str, Any]) -> str:
    for name, holder in (("activityDateTime", event), ("createdDateTime", event),
                         ("time", entry)):
        if value := field(holder, name):
            return utc_time(value, name)
    raise Unmappable("The entry has no time (activityDateTime, createdDateTime, time).")


def _identity(entry: Mapping[str, Any], event: Mapping[str, Any]) -> dict[str, Any]:
    initiated = field(event, "initiatedBy")
    if isinstance(initiated, dict):
        if isinstance(initiated.get("user"), dict) and _has_id(initiated["user"]):
            return _user(initiated["user"])
        if isinstance(initiated.get("app"), dict) and _has_id(initiated["app"]):
            return _app(initiated["app"])
    if _has_id(event):
        return _user(event) if text(field(event, "userPrincipalName")) else _app(event)
    if who := text(field(entry, "identity")):
        return {"type": "EntraUser", "principalId": who, "userName": who}
    return {"type": "Unknown"}


def _has_id(who: Mapping[str, Any]) -> bool:
    return any(text(who.get(k)) for k in ("userPrincipalName", "userId", "id", "appId",
                                          "servicePrincipalId"))


def _user(who: Mapping[str, Any]) -> dict[str, Any]:
    name = text(who.get("userPrincipalName")) or text(who.get("displayName"))
    principal = text(who.get("id")) or text(who.get("userId")) or name or ""
    return {"type": "EntraUser", "principalId": principal, "userName": name or principal}


def _app(who: Mapping[str, Any]) -> dict[str, Any]:
    name = (text(who.get("servicePrincipalName")) or text(who.get("displayName"))
            or text(who.get("appDisplayName")))
    principal = (text(who.get("servicePrincipalId")) or text(who.get("appId"))
                 or text(who.get("id")) or name or "")
    return {"type": "EntraServicePrincipal", "principalId": principal,
            "userName": name or principal}


def _address(entry: Mapping[str, Any], event: Mapping[str, Any]) -> str | None:
    initiated = field(event, "initiatedBy")
    user = initiated.get("user") if isinstance(initiated, dict) else None
    return ((text(user.get("ipAddress")) if isinstance(user, dict) else None)
            or text(field(event, "ipAddress")) or text(field(entry, "callerIpAddress")))


def _add_outcome(record: dict[str, Any], entry: Mapping[str, Any],
                 event: Mapping[str, Any]) -> None:
    status = field(event, "status")
    code = status.get("errorCode") if isinstance(status, dict) else None
    if isinstance(code, int) and not isinstance(code, bool) and code != 0:
        record["errorCode"] = str(code)
        if reason := text(status.get("failureReason")) if isinstance(status, dict) else None:
            record["errorMessage"] = reason
        return
    result = text(field(event, "result")) or text(field(entry, "resultType")) or ""
    if result.lower() in _FAILED or (result.isdigit() and result != "0"):
        record["errorCode"] = result
        if reason := text(field(event, "resultReason")) or text(
                field(entry, "resultDescription")):
            record["errorMessage"] = reason


def _resources(event: Mapping[str, Any]) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    targets = field(event, "targetResources")
    for target in targets if isinstance(targets, list) else ():
        if isinstance(target, dict) and (rid := text(target.get("id"))
                                         or text(target.get("displayName"))):
            kind = text(target.get("type"))
            found.append({"ARN": rid, "type": f"Entra.{kind}"} if kind else {"ARN": rid})
    if not found and (app := text(field(event, "resourceId"))):
        found.append({"ARN": app, "type": "Entra.Application"})
    return found
