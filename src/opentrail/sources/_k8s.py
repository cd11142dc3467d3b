"""Kubernetes audit events (`audit.k8s.io/v1` Event) as CloudTrail records.

Entries come from a kube-apiserver audit log file (NDJSON), an `EventList` (webhook
batches), EKS (the Event as is; `user.extra.arn` is the IAM identity) or AKS diagnostic
logs (the Event as a JSON string under `properties.log`). The mapping, field by field,
is in docs/sources.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from opentrail.sources._record import Options, Unmappable, content_id, field, skeleton, text
from opentrail.sources._record import utc_time as _utc

__all__ = ["SOURCE", "convert_k8s"]

SOURCE = "k8s.io"  # what GKE's audit logs name the Kubernetes API, for one search across both
_READ = frozenset({"get", "list", "watch"})


def convert_k8s(entry: Mapping[str, Any], options: Options) -> dict[str, Any]:
    """One audit Event as a CloudTrail record; Unmappable says why not."""
    event = _event(entry)
    verb = text(event.get("verb"))
    if verb is None:
        raise Unmappable("verb is missing: not a Kubernetes audit event.")
    audit_id = text(event.get("auditID"))
    stage = text(event.get("stage")) or ""
    # One request is logged once per stage (RequestReceived, ResponseComplete, ...).
    source_id = f"{audit_id}|{stage}" if audit_id else content_id(event)
    record = skeleton("k8s", source_id, _when(event, entry), options, entry)
    ref = event.get("objectRef")
    ref = ref if isinstance(ref, dict) else {}
    record.update({
        "eventSource": SOURCE, "eventName": _operation(verb, ref, event),
        "userIdentity": _identity(event.get("user")),
        "readOnly": verb in _READ,
        "eventType": "AwsApiCall", "eventCategory": "Management", "managementEvent": True,
        "requestParameters": _object(event.get("requestObject")),
        "responseElements": None,
    })
    _add_optional(record, event, audit_id)
    if name := _resource_name(ref):
        record["resources"] = [{"ARN": name, "type": f"{SOURCE}/{ref.get('resource')}"}]
    return record


def _event(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(field(entry, "protoPayload"), dict):
        raise Unmappable("A GCP Cloud Audit Log entry (GKE): import it with --format gcp.")
    properties = field(entry, "properties")
    log = properties.get("log") if isinstance(properties, dict) else None
    if isinstance(log, str):  # AKS: the Event is a JSON string inside the diagnostic log
        try:
            inner = orjson.loads(log)
        except orjson.JSONDecodeError as exc:
            raise Unmappable(f"properties.log is not a JSON audit event ({exc}).") from exc
        if isinstance(inner, dict):
            return inner
    return entry


def _when(event: Mapping[str, Any], entry: Mapping[str, Any]) -> str:
    for name in ("requestReceivedTimestamp", "stageTimestamp", "timestamp"):
        if value := event.get(name):
            return _utc(value, name)
    if event is not entry and (value := field(entry, "time")):
        return _utc(value, "time")  # AKS: the diagnostic log's own time
    raise Unmappable("The event has no time (requestReceivedTimestamp, stageTimestamp).")


def _operation(verb: str, ref: Mapping[str, Any], event: Mapping[str, Any]) -> str:
    """GKE's method names: io.k8s.<group>.<version>.<resource>[.<sub>].<verb>."""
    resource = text(ref.get("resource"))
    if resource is None:  # a non-resource URL such as /healthz or /version
        uri = text(event.get("requestURI")) or "/"
        return f"{verb} {uri.split('?', 1)[0]}"
    parts = ["io.k8s", text(ref.get("apiGroup")) or "core", text(ref.get("apiVersion")),
             resource, text(ref.get("subresource")), verb]
    return ".".join(p for p in parts if p)


def _resource_name(ref: Mapping[str, Any]) -> str | None:
    """GKE's resource names: <group>/<version>/namespaces/<ns>/<resource>/<name>."""
    resource = text(ref.get("resource"))
    if resource is None:
        return None
    parts = [text(ref.get("apiGroup")) or "core", text(ref.get("apiVersion"))]
    if namespace := text(ref.get("namespace")):
        parts += ["namespaces", namespace]
    parts += [resource, text(ref.get("name")), text(ref.get("subresource"))]
    return "/".join(p for p in parts if p)


def _identity(user: object) -> dict[str, Any]:
    if not isinstance(user, dict) or not text(user.get("username")):
        return {"type": "Unknown"}
    name: str = user["username"]
    kind = ("KubernetesServiceAccount" if name.startswith("system:serviceaccount:")
            else "KubernetesUser")
    identity = {"type": kind, "principalId": text(user.get("uid")) or name, "userName": name}
    extra = user.get("extra")
    for key, target in (("arn", "arn"), ("accessKeyId", "accessKeyId")):
        values = extra.get(key) if isinstance(extra, dict) else None
        if isinstance(values, list) and values and text(values[0]):
            identity[target] = values[0]  # EKS: the IAM identity behind the user
    return identity


def _add_optional(record: dict[str, Any], event: Mapping[str, Any],
                  audit_id: str | None) -> None:
    ips = event.get("sourceIPs")
    if isinstance(ips, list) and ips and text(ips[0]):
        record["sourceIPAddress"] = ips[0]
    if agent := text(event.get("userAgent")):
        record["userAgent"] = agent
    if audit_id:
        record["requestID"] = audit_id
    status = event.get("responseStatus")
    code = status.get("code") if isinstance(status, dict) else None
    if isinstance(status, dict) and isinstance(code, int) and code >= 400:
        record["errorCode"] = text(status.get("reason")) or str(code)
        if message := text(status.get("message")):
            record["errorMessage"] = message


def _object(value: object) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None
