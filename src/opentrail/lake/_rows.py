"""How a query's answer becomes strings: GetQueryResults' rows and the delivered CSV.

Every value is a string (spec lake.md §4); the spec leaves the rendering of other types
open (§13, question 1). OpenTrail's choice, documented in docs/lake.md ("Queries"):

| SQL value | string |
|---|---|
| NULL | `""` (test with `IS NULL` in SQL to tell it from an empty string) |
| varchar | itself |
| timestamp | `2023-07-10 11:42:13.000` (UTC, milliseconds: how Trino prints timestamp(3)) |
| date | `2023-07-10` |
| boolean | `true` / `false` |
| integer, decimal | digits (`42`, `3.50`) |
| double | the shortest text that reads back to the same double (`0.1`, `1e+20`) |
| map, struct, array | compact JSON, keys sorted (engines disagree on map order) |

Column keys are the select list's names, lower-cased as Trino does; an unnamed expression
is `_col<i>` (its position, from 0).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from typing import Any

__all__ = ["render", "render_row"]


def _timestamp(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"


def _plain(value: Any) -> Any:
    """A value made of JSON types, for maps, structs and arrays."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else render(value)
    return render(value)


def _scalar(value: Any) -> str:
    if isinstance(value, datetime):
        return _timestamp(value)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else repr(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    return str(value)  # int, Decimal, and anything else an engine may hand back


def render(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list | tuple):
        return json.dumps(_plain(value), separators=(",", ":"), ensure_ascii=False,
                          sort_keys=True)
    return _scalar(value)


def render_row(columns: Sequence[str], values: Sequence[Any]) -> list[dict[str, str]]:
    """One result row: a list of one-entry maps in select order."""
    return [{column: render(value)} for column, value in zip(columns, values, strict=True)]
