"""The entries of a JSON export, whatever the layout its system writes.

Accepted, detected from the content: a JSON array (`gcloud logging read --format=json`),
NDJSON (log sinks, kube-apiserver's audit log file), or one object that lists its
entries under `Records`, `records` (Azure diagnostic settings blobs), `value` (Microsoft
Graph), `entries` (the Logging API) or `items` (a Kubernetes `EventList`). Anything
else is one entry. An entry shaped `{"log": {...}, ...}` with no fields of its own
beyond a test case's `rule`/`name`/`expected` is unwrapped (the layout of rule-test
fixtures such as the samples in shared/datasets).
"""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import orjson

__all__ = ["Unreadable", "json_entries"]

_LISTS = ("Records", "records", "value", "entries", "items")
_FIXTURE_KEYS = frozenset({"log", "rule", "name", "expected", "mocks", "description"})


class Unreadable:
    """An entry that is not usable JSON: `reason` says why (one bad NDJSON line)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def json_entries(data: bytes) -> list[Any]:
    """Every entry of `data` (gzip or not); bad NDJSON lines come back as `Unreadable`."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"broken gzip data ({exc})") from exc
    data = data.removeprefix(b"\xef\xbb\xbf")
    if not data.strip():
        return []
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return [_line(line) for line in data.splitlines() if line.strip()]
    return [_unwrap(item) for item in _listed(value)]


def _listed(value: object) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        for key in _LISTS:
            inner = value.get(key)
            if isinstance(inner, list):
                return inner
    return [value]


def _line(line: bytes) -> Any:
    try:
        return _unwrap(orjson.loads(line))
    except orjson.JSONDecodeError as exc:
        return Unreadable(f"The line is not valid JSON ({exc}).")


def _unwrap(item: Any) -> Any:
    if isinstance(item, dict) and isinstance(item.get("log"), dict) \
            and _FIXTURE_KEYS.issuperset(item):
        return item["log"]
    return item
