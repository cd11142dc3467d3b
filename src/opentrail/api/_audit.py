"""Self-audit: every call to OpenTrail's management API becomes a CloudTrail record."""

from __future__ import annotations

import time
import uuid
from typing import Any

from opentrail.auth import AuthContext
from opentrail.errors import OpenTrailError
from opentrail.events import ORIGIN_FIELD, SERVER_ORIGIN

__all__ = ["audit_record", "redact"]

HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"
SECRET_WORDS = ("secret", "password", "token", "credential", "privatekey")
SAFE = frozenset({"nextToken"})  # pagination tokens carry no secret


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def redact(value: Any) -> Any:
    """CloudTrail-style requestParameters: camelCase keys, secrets hidden."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            name = _camel(key)
            hidden = name not in SAFE and any(w in name.lower() for w in SECRET_WORDS)
            out[name] = HIDDEN if hidden else redact(item)
        return out
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _identity(ctx: AuthContext, organization_account: str) -> dict[str, Any]:
    p = ctx.principal
    account = p.account or organization_account
    return {
        "type": "IAMUser",
        "principalId": p.access_key_id,
        "arn": f"arn:aws:iam::{account}:user/opentrail/{p.name}",
        "accountId": account,
        "accessKeyId": p.access_key_id,
        "userName": p.name,
    }


def audit_record(ctx: AuthContext, operation: str, params: dict[str, Any], *,
                 source_ip: str, user_agent: str, request_id: str, read_only: bool,
                 response: dict[str, Any] | None, error: OpenTrailError | None,
                 organization_account: str, now: float | None = None) -> dict[str, Any]:
    identity = _identity(ctx, organization_account)
    record: dict[str, Any] = {
        "eventVersion": "1.11",
        "userIdentity": identity,
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now or time.time())),
        "eventSource": "cloudtrail.amazonaws.com",
        "eventName": operation,
        "awsRegion": ctx.region,
        "sourceIPAddress": source_ip,
        "userAgent": user_agent[:1024],
        "requestParameters": redact(params) or None,
        "responseElements": None if read_only or error else redact(response) or None,
        "requestID": request_id,
        "eventID": str(uuid.uuid4()),
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": identity["accountId"],
        "eventCategory": "Management",
        ORIGIN_FIELD: SERVER_ORIGIN,  # self-audit: made here, never taken from a client
    }
    if error is not None:
        record["errorCode"] = error.code
        record["errorMessage"] = error.message[:1024]
    return record
