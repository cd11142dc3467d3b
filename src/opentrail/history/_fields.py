"""What event history can look events up by, and the summary LookupEvents returns.

CloudTrail's eight lookup attributes plus OpenTrail's extras. Records of PutAuditEvents
channels (ActivityAuditLog) keep their who/what inside `eventData`; Insights records keep
theirs inside `insightDetails`: both are read from there.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

__all__ = ["ATTRIBUTE_KEYS", "INSIGHT_KEYS", "Attr", "lookup_terms", "summarize"]


class Attr(IntEnum):
    ALL = 0
    EVENT_NAME = 1
    READ_ONLY = 2
    USERNAME = 3
    RESOURCE_TYPE = 4
    RESOURCE_NAME = 5
    EVENT_SOURCE = 6
    ACCESS_KEY_ID = 7
    ERROR_CODE = 8
    USER_IDENTITY_ARN = 9
    SOURCE_IP = 10
    EVENT_TYPE = 11


# AttributeKey on the wire -> Attr. EventId and RecipientAccountId are answered from the
# ledger's id index and the account dimension, not from postings.
ATTRIBUTE_KEYS: dict[str, Attr | None] = {
    "EventId": None,
    "EventName": Attr.EVENT_NAME,
    "ReadOnly": Attr.READ_ONLY,
    "Username": Attr.USERNAME,
    "ResourceType": Attr.RESOURCE_TYPE,
    "ResourceName": Attr.RESOURCE_NAME,
    "EventSource": Attr.EVENT_SOURCE,
    "AccessKeyId": Attr.ACCESS_KEY_ID,
    "ErrorCode": Attr.ERROR_CODE,
    "UserIdentityArn": Attr.USER_IDENTITY_ARN,
    "SourceIPAddress": Attr.SOURCE_IP,
    "EventType": Attr.EVENT_TYPE,
    "RecipientAccountId": None,
}
INSIGHT_KEYS = frozenset({"EventId", "EventName", "EventSource"})


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _identity(obj: dict[str, Any]) -> dict[str, Any]:
    who = obj.get("userIdentity")
    return who if isinstance(who, dict) else {}


def username(obj: dict[str, Any]) -> str | None:
    """CloudTrail's 'User name': userName, else the role session name, else root."""
    if obj.get("eventCategory") == "ActivityAuditLog":
        data = obj.get("eventData") or {}
        return _str(_identity(data).get("principalId"))
    who = _identity(obj)
    if name := _str(who.get("userName")):
        return name
    principal = _str(who.get("principalId")) or ""
    if who.get("type") in ("AssumedRole", "FederatedUser") and ":" in principal:
        return principal.split(":", 1)[1]
    if who.get("type") == "Root":
        return "root"
    return None


def _what(obj: dict[str, Any]) -> tuple[str | None, str | None]:
    """(eventName, eventSource), wherever this kind of record keeps them."""
    if obj.get("eventCategory") == "ActivityAuditLog":
        inner = obj.get("eventData") or {}
    elif obj.get("eventCategory") == "Insight":
        inner = obj.get("insightDetails") or {}
    else:
        inner = obj
    return _str(inner.get("eventName")), _str(inner.get("eventSource"))


def resources(obj: dict[str, Any]) -> list[tuple[str | None, str | None]]:
    out = []
    for item in obj.get("resources") or ():
        if isinstance(item, dict):
            name = _str(item.get("ARN")) or _str(item.get("ARNPrefix"))
            out.append((_str(item.get("type")), name))
    return out


def _read_only(obj: dict[str, Any]) -> str | None:
    value = obj.get("readOnly")
    return ("true" if value else "false") if isinstance(value, bool) else None


def lookup_terms(obj: dict[str, Any]) -> list[tuple[Attr, str]]:
    """Every (attribute, value) this record can be found by, ALL first, each once.

    Runs once per indexed event, so it reads each field once and skips the helpers'
    generality where a plain management record needs none.
    """
    name, source = _what(obj)
    who = _identity(obj)
    terms: list[tuple[Attr, str]] = [(Attr.ALL, "")]
    for attr, value in ((Attr.EVENT_NAME, name), (Attr.EVENT_SOURCE, source),
                        (Attr.READ_ONLY, _read_only(obj)), (Attr.USERNAME, username(obj)),
                        (Attr.ACCESS_KEY_ID, who.get("accessKeyId")),
                        (Attr.ERROR_CODE, obj.get("errorCode")),
                        (Attr.USER_IDENTITY_ARN, who.get("arn")),
                        (Attr.SOURCE_IP, obj.get("sourceIPAddress")),
                        (Attr.EVENT_TYPE, obj.get("eventType"))):
        if value and isinstance(value, str):
            terms.append((attr, value))
    if obj.get("resources"):
        seen: set[tuple[Attr, str]] = set()
        for rtype, rname in resources(obj):
            if rtype is not None:
                seen.add((Attr.RESOURCE_TYPE, rtype))
            if rname is not None:
                seen.add((Attr.RESOURCE_NAME, rname))
        terms.extend(sorted(seen))
    return terms


def summarize(obj: dict[str, Any], body: bytes, event_time: int) -> dict[str, Any]:
    """One item of LookupEvents' `Events`, shaped as the API model says."""
    name, source = _what(obj)
    event: dict[str, Any] = {"EventId": obj.get("eventID"), "EventName": name}
    if (read_only := _read_only(obj)) is not None:
        event["ReadOnly"] = read_only
    if key := _str(_identity(obj).get("accessKeyId")):
        event["AccessKeyId"] = key
    event["EventTime"] = event_time
    event["EventSource"] = source
    if user := username(obj):
        event["Username"] = user
    event["Resources"] = [
        {k: v for k, v in (("ResourceType", t), ("ResourceName", n)) if v is not None}
        for t, n in resources(obj)
    ]
    event["CloudTrailEvent"] = body.decode()
    return {k: v for k, v in event.items() if v is not None}
