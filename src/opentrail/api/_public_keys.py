"""ListPublicKeys: the keys that verify digest signatures, by validity window (spec 4.3)."""

from __future__ import annotations

import base64
from typing import Any

from opentrail.api._lookup import _timestamp
from opentrail.auth import AuthContext
from opentrail.errors import ValidationError
from opentrail.trails._signing import SigningKeys

__all__ = ["list_public_keys"]


def list_public_keys(keys: SigningKeys, params: dict[str, Any], ctx: AuthContext) -> Any:
    """Keys of the request's region whose window meets [StartTime, EndTime] (default: now).
    `Value` is the DER PKCS#1 RSAPublicKey (base64 on the wire, a blob to botocore) and
    `Fingerprint` the hex MD5 of those bytes, as digests name it."""
    now = keys.clock.now()
    given_start, given_end = _timestamp(params, "StartTime"), _timestamp(params, "EndTime")
    start: float = now if given_start is None else given_start
    end: float = max(now, start) if given_end is None else given_end
    if start > end:
        raise ValidationError("StartTime must be before or equal to EndTime.",
                              code="InvalidTimeRangeException")
    try:
        found = keys.between(ctx.region, start, end)
    except ValueError as exc:
        raise ValidationError(f"The request's region is not valid: {exc}") from exc
    return {"PublicKeyList": [
        {"Value": base64.b64encode(k.public_der).decode(), "ValidityStartTime": k.valid_from,
         "ValidityEndTime": k.valid_until, "Fingerprint": k.fingerprint} for k in found]}
