"""Which source a record came from, and the fields a Sigma rule for that source sees.

A Sigma rule names a logsource (`product`, `service`) and fields in that product's own
names. OpenTrail stores CloudTrail records; converted records keep the source's entry
whole under `additionalEventData.original` (docs/sources.md). So:

    record ──source_of──▶ Source ──views_of──▶ the dicts a rule's fields are read from

* aws/cloudtrail: the CloudTrail record itself (dotted paths: `userIdentity.type`).
* gcp/gcp.audit, azure/activitylogs, azure/auditlogs|signinlogs, kubernetes/audit: the
  original entry (GCP's ECS names, `gcp.audit.method_name`, are translated by `path_of`).
* linux/auditd: one view per raw audit line (`type`, `a0`, `exe`, ...), since Sigma's
  auditd rules describe single lines; the record matches when one of its lines does.

A record maps to exactly one Source; a rule's logsource to at most one, or a reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = ["AUDITD", "CLOUDTRAIL", "Source", "path_of", "source_of", "source_of_rule",
           "views_of"]


class Source(NamedTuple):
    product: str
    service: str


CLOUDTRAIL = Source("aws", "cloudtrail")
GCP = Source("gcp", "gcp.audit")
AZURE = Source("azure", "activitylogs")
ENTRA_AUDIT = Source("azure", "auditlogs")
ENTRA_SIGNIN = Source("azure", "signinlogs")
KUBERNETES = Source("kubernetes", "audit")
AUDITD = Source("linux", "auditd")
SOURCES = (CLOUDTRAIL, GCP, AZURE, ENTRA_AUDIT, ENTRA_SIGNIN, KUBERNETES, AUDITD)
_BY_FORMAT = {"gcp": GCP, "azure": AZURE, "k8s": KUBERNETES, "auditd": AUDITD}

# CloudTrail's record fields (spec/cloudtrail-record): a rule naming another top-level
# field (SigmaHQ's `status`) could never match, so it is refused rather than run.
CLOUDTRAIL_FIELDS = frozenset({
    "eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion",
    "sourceIPAddress", "userAgent", "errorCode", "errorMessage", "requestParameters",
    "responseElements", "additionalEventData", "requestID", "eventID", "readOnly",
    "resources", "eventType", "apiVersion", "managementEvent", "recipientAccountId",
    "serviceEventDetails", "sharedEventID", "vpcEndpointId", "vpcEndpointAccountId",
    "eventCategory", "addendum", "sessionCredentialFromConsole", "edgeDeviceDetails",
    "tlsDetails", "insightDetails",
})
# Elastic Common Schema names of GCP audit fields (the SigmaHQ GCP rules use them).
GCP_ECS = {
    "gcp.audit.method_name": ("protoPayload", "methodName"),
    "gcp.audit.service_name": ("protoPayload", "serviceName"),
    "gcp.audit.resource_name": ("protoPayload", "resourceName"),
    "gcp.audit.type": ("protoPayload", "@type"),
    "gcp.audit.authentication_info.principal_email":
        ("protoPayload", "authenticationInfo", "principalEmail"),
    "gcp.audit.request_metadata.caller_ip":
        ("protoPayload", "requestMetadata", "callerIp"),
    "gcp.audit.status.code": ("protoPayload", "status", "code"),
    "gcp.audit.status.message": ("protoPayload", "status", "message"),
    "gcp.audit.request": ("protoPayload", "request"),
    "gcp.audit.response": ("protoPayload", "response"),
    "gcp.audit.authorization_info.permission":
        ("protoPayload", "authorizationInfo", "permission"),
    "gcp.audit.authorization_info.granted": ("protoPayload", "authorizationInfo", "granted"),
}
# Microsoft Sentinel's AzureActivity columns, as some SigmaHQ Azure rules name them.
AZURE_COLUMNS = {
    "OperationNameValue": ("operationName",), "ResourceProviderValue": ("resourceProviderName",),
    "CategoryValue": ("category",), "ResourceId": ("resourceId",),
    "ActivityStatusValue": ("status",),
}


def source_of(record: Mapping[str, Any]) -> Source:
    """The source a stored record came from: a converter's `sourceFormat`, else AWS."""
    extra = record.get("additionalEventData")
    if not isinstance(extra, dict) or "original" not in extra:
        return CLOUDTRAIL
    fmt = extra.get("sourceFormat")
    if fmt == "entra":
        return ENTRA_SIGNIN if str(record.get("eventSource", "")).startswith("signin.") \
            else ENTRA_AUDIT
    return _BY_FORMAT.get(str(fmt), CLOUDTRAIL)


def views_of(record: Mapping[str, Any], source: Source) -> list[Mapping[str, Any]]:
    """The dicts the rule's fields are read from (see the module docstring)."""
    if source == CLOUDTRAIL:
        return [record]
    original = record["additionalEventData"]["original"]
    if source == AUDITD:
        return _audit_lines(original)
    return [original] if isinstance(original, dict) else []


def _audit_lines(lines: object) -> list[Mapping[str, Any]]:
    from opentrail.sources import parse_audit_line

    views: list[Mapping[str, Any]] = []
    for number, raw in enumerate(lines if isinstance(lines, list) else [], 1):
        line = parse_audit_line(str(raw), number) if isinstance(raw, str) else None
        if line is not None:
            views.append({**line.fields, "type": line.kind, "node": line.key[0],
                          "\x00raw": raw})
    return views


def source_of_rule(product: str | None, service: str | None,
                   category: str | None) -> Source | str:
    """The Source a rule's logsource names, or why OpenTrail holds no such events. A
    category beside a known product and service (SigmaHQ's Kubernetes rules say
    `category: application`) narrows nothing here."""
    product, service = (product or "").lower(), (service or "").lower()
    if product == "aws" and not service and not category:
        return CLOUDTRAIL
    for source in SOURCES:
        if (product, service) == source:
            return source
    what = ", ".join(f"{k} {v!r}" for k, v in (("category", category), ("product", product),
                                                ("service", service)) if v)
    return (f"logsource {what or '(empty)'} is not a source OpenTrail records; supported "
            "(product/service): " + ", ".join(f"{s.product}/{s.service}" for s in SOURCES))


def path_of(source: Source, name: str) -> tuple[str, ...] | str:
    """The path a rule's field name reads in the source's views, or why it cannot."""
    if source == CLOUDTRAIL:
        return _cloudtrail_path(name)
    if source == GCP:
        return _gcp_path(name)
    if source == AZURE and name in AZURE_COLUMNS:
        return AZURE_COLUMNS[name]
    return (name,) if source == AUDITD else tuple(name.split("."))


def _cloudtrail_path(name: str) -> tuple[str, ...] | str:
    path = tuple(name.split("."))
    if path[0] not in CLOUDTRAIL_FIELDS:
        return f"field {name!r} is not a CloudTrail record field, so the rule could never match"
    return path


def _gcp_path(name: str) -> tuple[str, ...] | str:
    if name in GCP_ECS:
        return GCP_ECS[name]
    if name.startswith("gcp."):
        return f"field {name!r} is an ECS name OpenTrail does not map to GCP's own"
    return tuple(name.removeprefix("data.").split("."))  # Pub/Sub exports wrap it in data
