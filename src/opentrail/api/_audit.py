"""Self-audit: every call to OpenTrail's management API becomes a CloudTrail record.

The record is built and validated before the call runs (`prepare`), so that a call whose
record could not be stored is refused instead of run unrecorded. Whatever a caller
sends, the record fits: `requestParameters` and `responseElements` keep at most
`MAX_FIELD_BYTES` of canonical JSON nested at most `MAX_DEPTH` levels; the members that
break a limit are left out, largest first, and the field then carries
`"omitted": true`, the marker CloudTrail documents for a field it cut. Once the call has
run, `outcome` adds only bounded text (errorCode, errorMessage) and a fitted
responseElements to the validated record, so it cannot fail to be stored.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson

from opentrail.auth import AuthContext
from opentrail.errors import InvalidRecord, OpenTrailError, ValidationError
from opentrail.events import ORIGIN_FIELD, SERVER_ORIGIN, Record, parse_record

__all__ = ["MAX_DEPTH", "MAX_FIELD_BYTES", "audit_record", "fit", "outcome", "prepare",
           "redact"]

HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"
SECRET_WORDS = ("secret", "password", "token", "credential", "privatekey", "apikeyvalue")
SAFE = frozenset({"nextToken"})  # pagination tokens carry no secret
MAX_FIELD_BYTES = 100 * 1024  # CloudTrail's limit for requestParameters/responseElements
MAX_DEPTH = 32  # levels of objects/arrays in one field, the field itself being level 1
MAX_TEXT = 1024  # userAgent, errorMessage: CloudTrail truncates them at 1 KB
OMITTED = "omitted"
_MARK = b',"omitted":true'


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def redact(value: Any) -> Any:
    """CloudTrail-style requestParameters: camelCase keys, secrets hidden."""
    if isinstance(value, dict):
        out = {}
        secret_value = value.get("IsValueSecret") is True  # EventBridge's connection params
        for key, item in value.items():
            name = _camel(key)
            hidden = (name not in SAFE and any(w in name.lower() for w in SECRET_WORDS)) or (
                secret_value and name == "value")
            out[name] = HIDDEN if hidden else redact(item)
        return out
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def fit(value: Any) -> dict[str, Any] | None:
    """`value` redacted and cut to what a record field can hold (see the module doc)."""
    if not isinstance(value, dict) or not value:
        return None
    if _fits(value):  # the common case: one pass
        whole: dict[str, Any] = redact(value)
        if len(orjson.dumps(whole)) <= MAX_FIELD_BYTES:
            return whole
    kept: dict[str, Any] = {}
    sizes: dict[str, int] = {}
    cut = False
    for key, item in value.items():
        member = _member(key, item)
        if member is None:
            cut = True
            continue
        name, redacted, size = member
        kept[name], sizes[name] = redacted, size
    total = len(orjson.dumps(kept)) + len(_MARK)
    for name in sorted(sizes, key=sizes.__getitem__, reverse=True):
        if total <= MAX_FIELD_BYTES:
            break
        del kept[name]
        total -= sizes[name] - 1  # its bytes in {...} are its own less the braces, plus a comma
        cut = True
    if cut:
        kept[OMITTED] = True
    return kept if len(orjson.dumps(kept)) <= MAX_FIELD_BYTES else {OMITTED: True}


def _fits(value: dict[str, Any]) -> bool:
    try:
        return len(orjson.dumps(value)) <= MAX_FIELD_BYTES and not any(
            _too_deep(item, MAX_DEPTH) for item in value.values())
    except (orjson.JSONEncodeError, UnicodeError):
        return False


def _member(key: Any, item: Any) -> tuple[str, Any, int] | None:
    """(camelCase name, redacted value, its size) of one member, or None if it cannot be
    kept: deeper than MAX_DEPTH, larger than MAX_FIELD_BYTES, or not storable JSON."""
    if not isinstance(key, str):
        return None
    try:  # orjson measures in C and refuses depth past 254 itself
        if len(orjson.dumps(item)) > MAX_FIELD_BYTES or _too_deep(item, MAX_DEPTH):
            return None
        (name, redacted), = redact({key: item}).items()
        return name, redacted, len(orjson.dumps({name: redacted}))
    except (orjson.JSONEncodeError, UnicodeError):
        return None


def _too_deep(value: Any, limit: int) -> bool:
    """Whether a member (level 2 of its field) holds a container below level `limit`."""
    stack: list[tuple[Any, int]] = [(value, 2)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if level > limit:
            return True
        stack.extend((child, level + 1) for child in children)
    return False


def _text(value: str) -> str:
    """At most MAX_TEXT characters of valid Unicode (a lone surrogate is escaped)."""
    return value[:MAX_TEXT].encode("utf-8", "backslashreplace").decode("utf-8")


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
                 organization_account: str, now: float | None = None,
                 event_source: str = "cloudtrail.amazonaws.com") -> dict[str, Any]:
    """The record of a call, before its outcome is known (`outcome` adds it)."""
    identity = _identity(ctx, organization_account)
    return {
        "eventVersion": "1.11",
        "userIdentity": identity,
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now or time.time())),
        "eventSource": event_source,
        "eventName": operation,
        "awsRegion": ctx.region,
        "sourceIPAddress": _text(source_ip),
        "userAgent": _text(user_agent),
        "requestParameters": fit(params),
        "responseElements": None,
        "requestID": request_id,
        "eventID": str(uuid.uuid4()),
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": identity["accountId"],
        "eventCategory": "Management",
        ORIGIN_FIELD: SERVER_ORIGIN,  # self-audit: made here, never taken from a client
    }


def prepare(record: dict[str, Any]) -> Record:
    """Validate the record up front: ValidationError (the call is then refused, not run)
    if it could not be stored."""
    try:
        return parse_record(record, default_account=record["recipientAccountId"],
                            default_region=record["awsRegion"])
    except InvalidRecord as err:
        raise ValidationError(f"The audit record of this call cannot be stored ({err.field}: "
                              f"{err.message}); the call was not run.") from None


def outcome(record: dict[str, Any], response: Any, error: OpenTrailError | None) -> Record:
    """The prepared record with the call's outcome: on success the fitted response
    (change calls only), on failure the error code and message."""
    done = dict(record)
    if error is not None:
        done["errorCode"] = _text(error.code)
        done["errorMessage"] = _text(error.message)
    elif not record["readOnly"]:
        done["responseElements"] = fit(response)
    try:
        return prepare(done)
    except ValidationError:  # unreachable by construction; keep the validated record
        done.update(responseElements={OMITTED: True} if error is None else None)
        return prepare(done)
