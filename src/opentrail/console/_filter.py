"""The console's filter: region, time range and lookup attributes, read from the URL.

Every page that shows events takes the same query string, so a filtered view is a link
that can be bookmarked or shared. A relative range ("last 24 hours") is pinned to the
moment of the first page (`at`) so that paging, downloads and the links between pages
all ask the same question.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from opentrail.errors import ValidationError
from opentrail.history import ATTRIBUTE_KEYS

__all__ = ["ATTRIBUTE_LABELS", "RANGES", "Filter", "parse_filter"]

RANGES: dict[str, tuple[str, int]] = {
    "1h": ("Last hour", 3600),
    "24h": ("Last 24 hours", 86400),
    "7d": ("Last 7 days", 7 * 86400),
    "30d": ("Last 30 days", 30 * 86400),
    "90d": ("Last 90 days", 90 * 86400),
}
ATTRIBUTE_LABELS: dict[str, str] = {
    "EventName": "Event name", "Username": "User name", "EventSource": "Event source",
    "ResourceType": "Resource type", "ResourceName": "Resource name",
    "ReadOnly": "Read-only", "AccessKeyId": "AWS access key", "EventId": "Event ID",
    "ErrorCode": "Error code", "SourceIPAddress": "Source IP address",
    "UserIdentityArn": "User ARN", "EventType": "Event type",
    "RecipientAccountId": "Account",
}
MAX_ATTRIBUTES = 8
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
_TIME_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")


def _bad(message: str) -> ValidationError:
    return ValidationError(message, code="InvalidParameterException")


def _parse_time(text: str, name: str) -> int:
    for fmt in _TIME_FORMATS:
        try:
            return int(datetime.strptime(text.strip(), fmt).replace(tzinfo=UTC).timestamp())
        except ValueError:
            continue
    raise _bad(f"The {name} time {text!r} is not a date and time such as "
               "2026-05-01T12:00 (UTC).")


@dataclass(frozen=True)
class Filter:
    region: str
    range: str  # a key of RANGES, or "custom"
    start: str  # custom range, as typed (UTC)
    end: str
    attributes: tuple[tuple[str, str], ...]
    at: int  # the moment a relative range ends at

    def window(self) -> tuple[int | None, int | None]:
        """(StartTime, EndTime) in epoch seconds; None leaves that side open."""
        if self.range == "custom":
            start = _parse_time(self.start, "start") if self.start.strip() else None
            end = _parse_time(self.end, "end") if self.end.strip() else None
            if start is not None and end is not None and start > end:
                raise _bad("The start of the time range is after its end.")
            return start, end
        return self.at - RANGES[self.range][1], self.at

    def lookup_params(self, max_results: int = 50) -> dict[str, Any]:
        start, end = self.window()
        params: dict[str, Any] = {"MaxResults": max_results, "LookupAttributes": [
            {"AttributeKey": k, "AttributeValue": v} for k, v in self.attributes]}
        if start is not None:
            params["StartTime"] = start
        if end is not None:
            params["EndTime"] = end
        return params

    def pairs(self, pinned: bool = True) -> list[tuple[str, str]]:
        out = [("region", self.region), ("range", self.range)]
        if self.range == "custom":
            out += [("start", self.start), ("end", self.end)]
        elif pinned:
            out.append(("at", str(self.at)))
        for key, value in self.attributes:
            out += [("k", key), ("v", value)]
        return out

    def query(self, *extra: tuple[str, str], pinned: bool = True) -> str:
        """This filter as a query string (plus extra pairs), for links."""
        return urlencode([*self.pairs(pinned), *extra])

    def with_attribute(self, key: str, value: str) -> Filter:
        kept = tuple((k, v) for k, v in self.attributes if k != key)
        return replace(self, attributes=(*kept, (key, value)))

    def plain(self) -> Filter:
        """The same region and range without lookup attributes."""
        return replace(self, attributes=())

    def without(self, key: str, value: str) -> Filter:
        kept = tuple(p for p in self.attributes if p != (key, value))
        return replace(self, attributes=kept)

    @property
    def range_label(self) -> str:
        if self.range != "custom":
            return RANGES[self.range][0]
        return f"{self.start or 'the beginning'} to {self.end or 'now'} UTC"


def _attributes(keys: Sequence[str], values: Sequence[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for key, value in zip(keys, values, strict=False):
        if not value.strip():
            continue  # an empty filter row is no filter
        if key not in ATTRIBUTE_KEYS:
            raise _bad(f"{key!r} is not an attribute events can be filtered by.")
        out.append((key, value.strip()))
    if len(out) > MAX_ATTRIBUTES:
        raise _bad(f"Use at most {MAX_ATTRIBUTES} filters at once.")
    return tuple(out)


def parse_filter(params: Mapping[str, str], lists: Mapping[str, list[str]], *,
                 default_region: str, default_range: str, now: float) -> Filter:
    """Read the filter from a query string; raises ValidationError naming the field."""
    region = params.get("region", "").strip() or default_region
    if not _REGION.fullmatch(region):
        raise _bad(f"{region!r} is not a region name such as us-east-1.")
    span = params.get("range", "") or default_range
    if span != "custom" and span not in RANGES:
        raise _bad(f"{span!r} is not a time range; choose one from the list.")
    at_text = params.get("at", "")
    at = int(at_text) if at_text.isdigit() else int(now)
    return Filter(region, span, params.get("start", ""), params.get("end", ""),
                  _attributes(lists.get("k", []), lists.get("v", [])), at)
