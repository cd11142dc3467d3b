"""A CloudTrail record as an OCSF API Activity event (class_uid 6003).

OCSF is the neutral schema security lakes ingest (Amazon Security Lake among them). The
mapping, field by field, is in docs/sources.md; every record field it does not map is
kept under `unmapped`, so the export loses nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from opentrail import __version__
from opentrail.sources._verbs import Verb, verb_of

__all__ = ["OCSF_VERSION", "to_ocsf"]

OCSF_VERSION = "1.1.0"
_CLASS_UID, _CATEGORY_UID = 6003, 6
_ACTIVITY_IDS = {Verb.CREATE: 1, Verb.READ: 2, Verb.UPDATE: 3, Verb.DELETE: 4,
                 Verb.OTHER: 99}
# Record fields the mapping consumes; the rest go to `unmapped`.
_MAPPED = frozenset({
    "eventVersion", "eventTime", "eventID", "eventName", "eventSource", "awsRegion",
    "sourceIPAddress", "userAgent", "userIdentity", "errorCode", "errorMessage", "readOnly",
    "recipientAccountId", "requestID", "eventType", "eventCategory", "resources",
})
_PROVIDERS = {"gcp": "GCP", "azure": "Azure", "entra": "Azure", "k8s": "Kubernetes",
              "auditd": "Linux"}


def to_ocsf(record: Mapping[str, Any]) -> dict[str, Any]:
    """The OCSF 1.1 API Activity event for one CloudTrail record."""
    name = str(record.get("eventName") or "")
    verb = Verb.READ if record.get("readOnly") is True else verb_of(name)
    activity_id = _ACTIVITY_IDS[verb]
    failed = bool(record.get("errorCode"))
    event: dict[str, Any] = {
        "class_uid": _CLASS_UID, "class_name": "API Activity",
        "category_uid": _CATEGORY_UID, "category_name": "Application Activity",
        "activity_id": activity_id, "activity_name": verb,
        "type_uid": _CLASS_UID * 100 + activity_id,
        "type_name": f"API Activity: {verb}",
        "severity_id": 1, "severity": "Informational",
        "time": _millis(record.get("eventTime")),
        "status_id": 2 if failed else 1, "status": "Failure" if failed else "Success",
        "actor": _actor(record.get("userIdentity")),
        "api": _api(record),
        "cloud": _cloud(record),
        "src_endpoint": _endpoint(record),
        "metadata": _metadata(record),
    }
    if failed:
        event["status_code"] = str(record["errorCode"])
        if record.get("errorMessage"):
            event["status_detail"] = str(record["errorMessage"])
    if resources := _resources(record.get("resources")):
        event["resources"] = resources
    if agent := record.get("userAgent"):
        event["http_request"] = {"user_agent": agent}
    if unmapped := {k: v for k, v in record.items() if k not in _MAPPED}:
        event["unmapped"] = unmapped
    return event


def _millis(value: object) -> int:
    if not isinstance(value, str):
        return 0
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return 0
    return int(moment.replace(tzinfo=moment.tzinfo or UTC).timestamp() * 1000)


def _actor(identity: object) -> dict[str, Any]:
    who = identity if isinstance(identity, Mapping) else {}
    user = {k: v for k, v in (
        ("name", who.get("userName") or _session_name(who)), ("uid", who.get("principalId")),
        ("type", who.get("type")), ("uid_alt", who.get("arn")),
        ("credential_uid", who.get("accessKeyId")),
    ) if v}
    if who.get("accountId"):
        user["account"] = {"uid": who["accountId"], "type": "AWS Account", "type_id": 10}
    actor: dict[str, Any] = {"user": user}
    if who.get("invokedBy"):
        actor["invoked_by"] = who["invokedBy"]
    return actor


def _session_name(who: Mapping[str, Any]) -> str | None:
    principal = who.get("principalId")
    if isinstance(principal, str) and ":" in principal:
        return principal.split(":", 1)[1]
    return None


def _api(record: Mapping[str, Any]) -> dict[str, Any]:
    api: dict[str, Any] = {"operation": record.get("eventName"),
                           "service": {"name": record.get("eventSource")}}
    if record.get("requestID"):
        api["request"] = {"uid": record["requestID"]}
    if record.get("errorCode"):
        api["response"] = {"error": record["errorCode"],
                           "error_message": record.get("errorMessage")}
    return api


def _cloud(record: Mapping[str, Any]) -> dict[str, Any]:
    extra = record.get("additionalEventData")
    source = extra.get("sourceFormat") if isinstance(extra, Mapping) else None
    cloud: dict[str, Any] = {"provider": _PROVIDERS.get(str(source), "AWS"),
                             "region": record.get("awsRegion")}
    if record.get("recipientAccountId"):
        cloud["account"] = {"uid": record["recipientAccountId"]}
    return cloud


def _endpoint(record: Mapping[str, Any]) -> dict[str, Any]:
    address = record.get("sourceIPAddress")
    if not isinstance(address, str) or not address:
        return {}
    try:
        return {"ip": str(ipaddress.ip_address(address))}
    except ValueError:  # CloudTrail puts service names here for calls made by AWS itself
        return {"domain": address}


def _metadata(record: Mapping[str, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "version": OCSF_VERSION, "uid": record.get("eventID"),
        "product": {"name": "OpenTrail", "vendor_name": "OpenTrail", "version": __version__,
                    "feature": {"name": "CloudTrail"}},
        "event_code": record.get("eventType"),
        "log_name": record.get("eventCategory") or "Management",
    }
    if record.get("eventVersion"):
        metadata["log_version"] = record["eventVersion"]
    return metadata


def _resources(value: object) -> list[dict[str, Any]]:
    items = value if isinstance(value, list) else []
    found = []
    for item in items:
        if isinstance(item, Mapping):
            resource = {k: v for k, v in (("uid", item.get("ARN") or item.get("ARNPrefix")),
                                          ("type", item.get("type"))) if v}
            if item.get("accountId"):
                resource["owner"] = {"account": {"uid": item["accountId"]}}
            found.append(resource)
    return found
