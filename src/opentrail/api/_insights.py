"""ListInsightsMetricData: the per-minute series behind Insights, summed per period."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import TYPE_CHECKING, Any

import orjson

from opentrail.api._lookup import _timestamp
from opentrail.auth import AuthContext
from opentrail.errors import ValidationError
from opentrail.insights import CALL_RATE, ERROR_RATE

if TYPE_CHECKING:
    from opentrail.service import Service

__all__ = ["list_insights_metric_data"]

PERIODS = (60, 300, 3600)
MAX_RESULTS = 21600
DEFAULT_SPAN = 90 * 86400
SOURCE = re.compile(r"^[a-z0-9_-]+\.amazonaws\.com$")
NAME = re.compile(r"^[A-Za-z0-9_]+$")
ERROR = re.compile(r"^[\w\d\s_.,\-:\[\]]+$")


def _bad(message: str, code: str = "InvalidParameterException") -> ValidationError:
    return ValidationError(message, code=code)


def _text(params: dict[str, Any], name: str, pattern: re.Pattern[str], limit: int,
          required: bool = True) -> str | None:
    value = params.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= limit or not pattern.match(value):
        raise _bad(f"{name} is required and must match {pattern.pattern} (at most {limit} "
                   f"characters); got {value!r}." if required else
                   f"{name} must match {pattern.pattern}; got {value!r}.")
    return value


def _choice(params: dict[str, Any], name: str, allowed: tuple[Any, ...], default: Any) -> Any:
    value = params.get(name, default)
    if value not in allowed or isinstance(value, bool):
        raise _bad(f"{name} must be one of {', '.join(map(str, allowed))}; got {value!r}.")
    return value


def _range(params: dict[str, Any], now: float, period: int) -> tuple[int, int]:
    end = _timestamp(params, "EndTime")
    end = int(now) if end is None else end
    start = _timestamp(params, "StartTime")
    start = end - DEFAULT_SPAN if start is None else start
    if start >= end:
        raise _bad("StartTime must be before EndTime.")
    return start - start % period, end


def _max_results(params: dict[str, Any]) -> int:
    value = params.get("MaxResults", MAX_RESULTS)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RESULTS:
        raise _bad(f"MaxResults must be an integer from 1 to {MAX_RESULTS}; got {value!r}.")
    return value


def _token(params: dict[str, Any], fingerprint: str, start: int, end: int) -> int:
    token = params.get("NextToken")
    if token is None:
        return start
    try:
        data = orjson.loads(base64.urlsafe_b64decode(str(token)))
        at, seen = int(data["at"]), str(data["q"])
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise _bad("NextToken is not a token this operation returned.") from None
    if seen != fingerprint or not start <= at < end:
        raise _bad("NextToken was returned for a different request; repeat the same "
                   "parameters with it.")
    return at


def _fingerprint(params: dict[str, Any]) -> str:
    same = {k: v for k, v in sorted(params.items()) if k not in ("NextToken", "MaxResults")}
    return hashlib.sha256(orjson.dumps(same, default=str)).hexdigest()[:16]


def _query(params: dict[str, Any]) -> tuple[str, str, str, str | None]:
    source = _text(params, "EventSource", SOURCE, 256)
    name = _text(params, "EventName", NAME, 128)
    kind = _choice(params, "InsightType", (CALL_RATE, ERROR_RATE), None)
    error = _text(params, "ErrorCode", ERROR, 128, required=False)
    if error is not None and kind != ERROR_RATE:
        raise _bad("ErrorCode can be given only with InsightType ApiErrorRateInsight.",
                   "InvalidParameterCombinationException")
    return str(source), str(name), str(kind), error


def list_insights_metric_data(service: Service, params: dict[str, Any],
                              ctx: AuthContext) -> dict[str, Any]:
    key = _query(params)
    period = _choice(params, "Period", PERIODS, 3600)
    fill = _choice(params, "DataType", ("FillWithZeros", "NonZeroData"),
                   "FillWithZeros") == "FillWithZeros"
    start, end = _range(params, service.clock.now(), period)
    limit = _max_results(params)
    fingerprint = _fingerprint(params)
    at = _token(params, fingerprint, start, end)
    account = None if ctx.principal.organization else (ctx.principal.account or "")
    counters = service.insights_store
    assert counters is not None  # Service.open starts Insights
    per_minute = counters.metric(account, ctx.region, key, at // 60, -(-end // 60))
    sums: dict[int, int] = {}
    for minute, n in per_minute.items():
        bucket = minute * 60 - minute * 60 % period
        sums[bucket] = sums.get(bucket, 0) + n
    stamps = range(at, end, period) if fill else sorted(sums)
    chosen = list(stamps)[:limit]
    out: dict[str, Any] = {"EventSource": key[0], "EventName": key[1], "InsightType": key[2],
                           "Timestamps": chosen,
                           "Values": [float(sums.get(t, 0)) for t in chosen]}
    if key[3] is not None:
        out["ErrorCode"] = key[3]
    rest = [t for t in stamps if t > chosen[-1]] if chosen else []
    if rest:
        token = orjson.dumps({"at": rest[0], "q": fingerprint})
        out["NextToken"] = base64.urlsafe_b64encode(token).decode()
    return out
