"""JSON types of the record fields CloudTrail documents (spec sections 1.1 and 1.2).

Only known fields are checked; anything else is kept verbatim. The tables follow what
real CloudTrail emits: `requestParameters`/`responseElements` may be null, identity
members are all optional (service events carry a `userIdentity` with no `type`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentrail.errors import InvalidRecord

__all__ = ["check_types", "json_kind"]

# (accepted Python types, the JSON name used in messages)
_Expected = tuple[tuple[type, ...], str]
_STRING: _Expected = ((str,), "a string")
_OBJECT: _Expected = ((dict,), "an object")
_OBJECT_OR_NULL: _Expected = ((dict, type(None)), "an object or null")
_BOOLEAN: _Expected = ((bool,), "a boolean")
_ARRAY: _Expected = ((list,), "an array of objects")

_TOP: dict[str, _Expected] = {
    **dict.fromkeys((
        "eventVersion", "eventTime", "eventSource", "eventName", "awsRegion",
        "sourceIPAddress", "userAgent", "errorCode", "errorMessage", "requestID", "eventID",
        "eventType", "apiVersion", "recipientAccountId", "sharedEventID", "vpcEndpointId",
        "vpcEndpointAccountId", "eventCategory", "sessionCredentialFromConsole",
    ), _STRING),
    **dict.fromkeys((
        "userIdentity", "additionalEventData", "serviceEventDetails", "addendum",
        "edgeDeviceDetails", "tlsDetails", "eventContext", "insightDetails", "eventData",
        "metadata",
    ), _OBJECT),
    "requestParameters": _OBJECT_OR_NULL,
    "responseElements": _OBJECT_OR_NULL,
    "readOnly": _BOOLEAN,
    "managementEvent": _BOOLEAN,
    "resources": _ARRAY,
}
_IDENTITY: dict[str, _Expected] = {
    **dict.fromkeys((
        "type", "principalId", "arn", "accountId", "accessKeyId", "userName", "invokedBy",
        "credentialId", "identityProvider",
    ), _STRING),
    **dict.fromkeys(("sessionContext", "invokedByDelegate", "onBehalfOf", "inScopeOf"), _OBJECT),
}
_RESOURCE: dict[str, _Expected] = dict.fromkeys(("ARN", "ARNPrefix", "accountId", "type"), _STRING)


def check_types(record: Mapping[str, Any]) -> None:
    """Raise InvalidRecord (InvalidData) for the first known field of the wrong type."""
    _check_members(record, _TOP, "")
    identity = record.get("userIdentity")
    if identity is not None:
        _check_members(identity, _IDENTITY, "userIdentity.")
    resources = record.get("resources")
    if resources is not None:
        for index, item in enumerate(resources):
            prefix = f"resources[{index}]"
            if not isinstance(item, dict):
                raise _wrong_type(prefix, _OBJECT, item)
            _check_members(item, _RESOURCE, prefix + ".")


def json_kind(value: object) -> str:
    """What a value is called in JSON, with its article: 'a string', 'null', ..."""
    if value is None:
        return "null"
    for types, name in (_BOOLEAN, _STRING, _OBJECT, ((list,), "an array")):
        if isinstance(value, types):
            return name
    if isinstance(value, int | float):
        return "a number"
    return f"a Python {type(value).__name__}"


def _check_members(obj: Mapping[str, Any], table: dict[str, _Expected], prefix: str) -> None:
    # One pass over the members present (a record has ~20), not over the whole table.
    for key, value in obj.items():
        expected = table.get(key)
        if expected is not None and not isinstance(value, expected[0]):
            raise _wrong_type(prefix + key, expected, value)


def _wrong_type(field: str, expected: _Expected, value: object) -> InvalidRecord:
    message = f"{field} must be {expected[1]}, not {json_kind(value)}."
    return InvalidRecord(field, message, code="InvalidData")
