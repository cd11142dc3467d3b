"""LookupEvents: the wire request checked and turned into a history.LookupQuery."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from opentrail.auth import AuthContext
from opentrail.errors import ValidationError
from opentrail.events import Category
from opentrail.history import ATTRIBUTE_KEYS, INSIGHT_KEYS, Attr, LookupQuery, Lookups

__all__ = ["lookup_events", "parse_lookup"]

MAX_RESULTS = 50
MAX_ATTRIBUTES = 10  # CloudTrail takes one; OpenTrail ANDs up to this many
MIN_TIME, MAX_TIME = -62135596800, 253402300799  # 0001-01-01T00:00:00Z, 9999-12-31T23:59:59Z


def _error(code: str, message: str) -> ValidationError:
    return ValidationError(message, code=code)


def _timestamp(params: dict[str, Any], name: str) -> int | None:
    """Epoch seconds from a number or an ISO 8601 string (UTC unless it names an offset),
    from year 1 to year 9999."""
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        raise _error("InvalidTimeRangeException", f"{name} must be a timestamp.")
    seconds: float | None = None
    if isinstance(value, int | float):
        seconds = value
    elif isinstance(value, str):
        with contextlib.suppress(ValueError, OverflowError, OSError):
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
            seconds = (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
    if seconds is None:
        raise _error("InvalidTimeRangeException",
                     f"{name} is not a valid timestamp: {value!r}.")
    if not MIN_TIME <= seconds <= MAX_TIME:  # also refuses NaN
        raise _error("InvalidTimeRangeException",
                     f"{name} must be a time from 0001-01-01 to 9999-12-31 (epoch seconds "
                     f"{MIN_TIME} to {MAX_TIME}); got {value!r}.")
    return int(seconds)


def _attributes(params: dict[str, Any], insight: bool) -> list[tuple[str, str]]:
    raw = params.get("LookupAttributes") or []
    if not isinstance(raw, list):
        raise _error("InvalidLookupAttributesException", "LookupAttributes must be a list.")
    if len(raw) > MAX_ATTRIBUTES:
        raise _error("InvalidLookupAttributesException",
                     f"LookupAttributes may hold at most {MAX_ATTRIBUTES} attributes (they "
                     f"are ANDed); got {len(raw)}.")
    out = []
    for item in raw:
        key = item.get("AttributeKey") if isinstance(item, dict) else None
        value = item.get("AttributeValue") if isinstance(item, dict) else None
        if key not in ATTRIBUTE_KEYS:
            raise _error("InvalidLookupAttributesException",
                         f"AttributeKey {key!r} is not valid. Use one of: "
                         + ", ".join(ATTRIBUTE_KEYS) + ".")
        if insight and key not in INSIGHT_KEYS:
            raise _error("InvalidLookupAttributesException",
                         f"AttributeKey {key} cannot be used with EventCategory insight; "
                         "use EventId, EventName or EventSource.")
        if not isinstance(value, str) or not 1 <= len(value) <= 2000:
            raise _error("InvalidLookupAttributesException",
                         f"AttributeValue for {key} must be 1 to 2000 characters.")
        out.append((key, value))
    return out


def _category(params: dict[str, Any]) -> Category:
    value = params.get("EventCategory")
    if value is None:
        return Category.MANAGEMENT
    if value == "internal":  # OpenTrail's own health records (docs/compliance.md)
        return Category.INTERNAL
    if value != "insight":
        raise _error("InvalidEventCategoryException",
                     f"EventCategory {value!r} is not valid; use 'insight' (or 'internal' "
                     "for OpenTrail's own health records).")
    return Category.INSIGHT


def _max_results(params: dict[str, Any]) -> int:
    value = params.get("MaxResults", MAX_RESULTS)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RESULTS:
        raise _error("InvalidMaxResultsException",
                     f"MaxResults must be an integer from 1 to {MAX_RESULTS}; got {value!r}.")
    return value


def _accounts(ctx: AuthContext, pairs: list[tuple[str, str]]) -> tuple[str, ...] | None:
    wanted = {v for k, v in pairs if k == "RecipientAccountId"}
    if len(wanted) > 1:
        return ()  # AND of two different accounts matches nothing
    if ctx.principal.organization:
        return tuple(wanted) if wanted else None
    own = ctx.principal.account or ""
    return (own,) if not wanted or wanted == {own} else ()


def parse_lookup(params: dict[str, Any], ctx: AuthContext) -> LookupQuery:
    category = _category(params)
    pairs = _attributes(params, category is Category.INSIGHT)
    start, end = _timestamp(params, "StartTime"), _timestamp(params, "EndTime")
    if start is not None and end is not None and start > end:
        raise _error("InvalidTimeRangeException",
                     "StartTime must be before or equal to EndTime.")
    token = params.get("NextToken")
    if token is not None and not isinstance(token, str):
        raise _error("InvalidNextTokenException", "NextToken must be a string.")
    event_ids = {v for k, v in pairs if k == "EventId"}
    terms: list[tuple[Attr, str]] = []
    for key, value in pairs:
        attr = ATTRIBUTE_KEYS[key]
        if attr is not None:
            terms.append((attr, value))
    accounts = _accounts(ctx, pairs)
    if len(event_ids) > 1:
        accounts = ()
    return LookupQuery(accounts, ctx.region, category, tuple(terms),
                       next(iter(event_ids), None), start, end, _max_results(params), token)


def lookup_events(history: Lookups, params: dict[str, Any],
                  ctx: AuthContext) -> dict[str, Any]:
    result = history.lookup(parse_lookup(params, ctx))
    out: dict[str, Any] = {"Events": result.events}
    if result.next_token:
        out["NextToken"] = result.next_token
    return out
