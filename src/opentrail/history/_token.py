"""NextToken: where the last page ended, bound to the query that produced it."""

from __future__ import annotations

import base64
import binascii
import hashlib

import orjson

from opentrail.errors import ValidationError

__all__ = ["decode_token", "encode_token", "query_digest"]


def query_digest(parts: object) -> str:
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()[:24]


def encode_token(event_time: int, seq: int, digest: str) -> str:
    raw = orjson.dumps({"t": event_time, "s": seq, "q": digest})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, digest: str) -> tuple[int, int]:
    """(time, seq) of the last event returned; the same query must be asked again."""
    bad = ValidationError("The NextToken is not valid.", code="InvalidNextTokenException")
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        when, seq, their = int(data["t"]), int(data["s"]), data["q"]
    except (binascii.Error, ValueError, TypeError, KeyError, orjson.JSONDecodeError):
        raise bad from None
    if their != digest:
        raise ValidationError(
            "The NextToken was issued for different parameters; repeat the original "
            "LookupAttributes, StartTime, EndTime and EventCategory with it.",
            code="InvalidNextTokenException")
    return when, seq
