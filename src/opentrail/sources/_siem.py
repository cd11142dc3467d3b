"""SIEM exports of CloudTrail records, turned back into the records they hold.

The tools people keep CloudTrail in today re-shape each record on the way in; an export
from them is not a CloudTrail log file. Recognised, from the content:

* **Elastic / Logstash**: `eventTime` moved to `@timestamp`, `@version` (and often
  `tags`, `host`, `type`, `log`, ...) added; the record as it is, or under a key
  (`{"@timestamp": ..., "cloudtrail": {record}}`), or still a JSON string in `message`.
* **Elasticsearch / OpenSearch search results**: `{"hits": {"hits": [hit, ...]}}` or one
  hit per line (elasticdump), the document under `_source` (hit metadata such as `_index`,
  `_id`, `_score` is dropped: it describes the export, not the event).
* **Splunk**: `_raw` holds the original JSON string and `_time` the time; JSON exports
  wrap each event as `{"preview": false, "result": {...}}` per line, or list them under
  `results`. Splunk's own fields (`_bkt`, `_cd`, ... and the search-time fields it
  extracted from `_raw`, such as `userIdentity.arn`) are dropped.
* **Athena / CSV** (`csv_records`): a header of CloudTrail column names in any case
  (Athena lower-cases them: `eventtime`, `useridentity`), nested columns as JSON strings.

`restore` returns the CloudTrail record; every field of the export that is not a
CloudTrail field goes under `additionalEventData` (the record's own members win on a
clash). A time field named by the user (`time_field`) wins over the detected one. A
value that is already a CloudTrail record comes back unchanged.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = ["CLOUDTRAIL_FIELDS", "csv_records", "export_entries", "looks_like_csv", "restore"]

CLOUDTRAIL_FIELDS = (
    "eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion",
    "sourceIPAddress", "userAgent", "errorCode", "errorMessage", "requestParameters",
    "responseElements", "additionalEventData", "requestID", "eventID", "readOnly",
    "resources", "eventType", "apiVersion", "managementEvent", "recipientAccountId",
    "serviceEventDetails", "sharedEventID", "vpcEndpointId", "vpcEndpointAccountId",
    "eventCategory", "addendum", "sessionCredentialFromConsole", "edgeDeviceDetails",
    "tlsDetails", "insightDetails", "eventContext",
)
_KNOWN = frozenset(CLOUDTRAIL_FIELDS)
_BY_LOWER = {name.lower(): name for name in CLOUDTRAIL_FIELDS}
_NESTED = frozenset({"userIdentity", "requestParameters", "responseElements",
                     "additionalEventData", "resources", "serviceEventDetails", "addendum",
                     "edgeDeviceDetails", "tlsDetails", "insightDetails", "eventContext"})
_ALWAYS = frozenset({"requestParameters", "responseElements"})
_BOOLEANS = frozenset({"readOnly", "managementEvent"})  # sessionCredentialFromConsole is text
_TIME_FIELDS = ("@timestamp", "_time", "timestamp")
_HIT_KEYS = frozenset({"_index", "_id", "_score", "_type", "_routing", "_version",
                       "_seq_no", "_primary_term", "sort", "fields", "highlight",
                       "_ignored", "matched_queries", "inner_hits"})


def _is_record(value: object) -> bool:
    return isinstance(value, dict) and ("eventName" in value or "eventSource" in value)


# --- containers ------------------------------------------------------------------------

def export_entries(value: object) -> list[Any] | None:
    """The entries of a whole-document export (a search response, Splunk's `results`),
    or None when `value` is not one."""
    if not isinstance(value, dict):
        return None
    hits = value.get("hits")
    if isinstance(hits, dict) and isinstance(hits.get("hits"), list):
        return list(hits["hits"])
    results = value.get("results")
    if isinstance(results, list):
        return results
    if _is_wrapped(value):
        return [value]
    return None


def _is_wrapped(value: dict[str, Any]) -> bool:
    return (isinstance(value.get("_source"), dict) or isinstance(value.get("result"), dict)
            or "_raw" in value or any(key in value for key in _TIME_FIELDS)
            or "@version" in value)


# --- one entry -------------------------------------------------------------------------

def restore(entry: object, time_field: str | None = None) -> object:
    """The CloudTrail record held by one export entry (see the module docstring).

    Entries that are not objects, and objects in which no record can be found, come back
    as they are: the server then names what is missing, as for any bad record.
    """
    if not isinstance(entry, dict) or (time_field is None and not _is_export(entry)):
        return entry  # a plain CloudTrail record (the common case) stays untouched
    wrapper = _unwrap(entry)
    record, extras = _split(wrapper)
    if record is None:
        return entry
    when = _time(wrapper, entry, time_field, record)
    if when is not None:
        record["eventTime"] = when
    if time_field is not None:
        extras = _without(extras, time_field)
    return _with_extras(record, extras)


def _without(extras: dict[str, Any], path: str) -> dict[str, Any]:
    """`extras` less the time field (it became eventTime), and parents it leaves empty."""
    if path in extras or "." not in path:
        return {k: v for k, v in extras.items() if k != path}
    head, rest = path.split(".", 1)
    inner = extras.get(head)
    if not isinstance(inner, dict):
        return extras
    left = _without(inner, rest)
    return {k: v for k, v in extras.items() if k != head} | ({head: left} if left else {})


def _is_export(entry: dict[str, Any]) -> bool:
    if _is_wrapped(entry):
        return True
    if _is_record(entry):
        return False
    message = _json_object(entry.get("message"))
    return (message is not None and _is_record(message)) or any(
        _is_record(value) for value in entry.values())


def _unwrap(entry: dict[str, Any]) -> dict[str, Any]:
    """The event inside Splunk's `result` and a search hit's `_source`."""
    inner = entry.get("result")
    if isinstance(inner, dict) and not _is_record(entry):
        entry = inner
    source = entry.get("_source")
    if isinstance(source, dict):
        entry = source
    return entry


def _split(entry: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(the record, the export's other fields) of an unwrapped entry."""
    raw = _json_object(entry.get("_raw"))
    if raw is not None:  # Splunk: _raw is the original; the rest is Splunk's
        extras = {k: v for k, v in entry.items()
                  if not k.startswith("_") and not _extracted(k, raw)}
        return raw, extras
    if _is_record(entry):  # Logstash: the record with the pipeline's fields added
        return ({k: v for k, v in entry.items() if k in _KNOWN},
                {k: v for k, v in entry.items() if k not in _KNOWN})
    message = _json_object(entry.get("message"))
    if message is not None and _is_record(message):  # Logstash without a json filter
        return message, {k: v for k, v in entry.items() if k != "message"}
    for key, value in entry.items():  # Logstash's json filter with a `target`
        if _is_record(value):
            return dict(value), {k: v for k, v in entry.items() if k != key}
    return None, {}


def _extracted(key: str, raw: dict[str, Any]) -> bool:
    """A field Splunk extracted from `_raw` at search time (`userIdentity.arn`,
    `resources{}.ARN`): a copy of part of the record, not an extra."""
    head = key.split(".", 1)[0].split("{", 1)[0]
    return head in raw or head in _KNOWN


def _json_object(value: object) -> dict[str, Any] | None:
    if not isinstance(value, str) or not value.lstrip().startswith("{"):
        return None
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _time(wrapper: dict[str, Any], entry: dict[str, Any], time_field: str | None,
          record: dict[str, Any]) -> str | None:
    """The eventTime to set: the named field's, else the record's own, else a detected
    export time field's. None leaves the record as it is."""
    if time_field is not None:
        value = _lookup(wrapper, time_field)
        if value is None:
            value = _lookup(entry, time_field)
        return _utc(value) if value is not None else None
    if "eventTime" in record:
        return None
    for name in _TIME_FIELDS:
        value = wrapper.get(name, entry.get(name))
        if value is not None:
            return _utc(value)
    return None


def _lookup(value: dict[str, Any], path: str) -> object:
    if path in value:
        return value[path]
    current: object = value
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            return None
        current = current[part]
    return current


def _utc(value: object) -> str | None:
    """CloudTrail's `YYYY-MM-DDTHH:MM:SSZ` from ISO 8601 with any offset, epoch seconds
    or epoch milliseconds (a number or digits); None (left for the server to refuse)
    when it is none of these."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            return _iso(text)
        value = number
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value  # epoch millis (after 1973)
        try:
            moment = datetime.fromtimestamp(int(seconds), UTC)
        except (OverflowError, OSError, ValueError):
            return None
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return None


def _iso(text: str) -> str | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None  # a time that does not say it is UTC is not guessed
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _with_extras(record: dict[str, Any], extras: dict[str, Any]) -> dict[str, Any]:
    extras = {k: v for k, v in extras.items()
              if k not in _KNOWN and k not in _TIME_FIELDS and k not in _HIT_KEYS}
    if not extras:
        return record
    current = record.get("additionalEventData")
    merged = dict(extras)
    if isinstance(current, dict):
        merged.update(current)  # the record's own members win
    elif current is not None:
        merged["additionalEventData"] = current
    record["additionalEventData"] = merged
    return record


# --- CSV -------------------------------------------------------------------------------

def looks_like_csv(data: bytes) -> bool:
    """A header line naming at least eventTime/eventName columns, in any case."""
    head = data.split(b"\n", 1)[0].decode("utf-8", "replace").lower()
    names = {cell.strip().strip('"') for cell in head.split(",")}
    return {"eventtime", "eventname"} <= names or {"eventsource", "eventname"} <= names


def csv_records(data: bytes) -> Iterator[dict[str, Any]]:
    """One CloudTrail record per CSV row: CloudTrail columns by name (any case), empty
    cells left out (requestParameters and responseElements become null, as CloudTrail
    writes them), nested columns and booleans parsed, other columns as extras."""
    text = data.decode("utf-8-sig")
    for row in csv.DictReader(io.StringIO(text, newline="")):
        record: dict[str, Any] = {}
        extras: dict[str, Any] = {}
        for column, cell in row.items():
            name = _BY_LOWER.get(column.strip().lower()) if column is not None else None
            if name in _ALWAYS and not cell:
                record[name] = None  # CloudTrail writes these two as null, never omits them
                continue
            if column is None or cell is None or cell == "":
                continue
            if name is None:
                extras[column.strip()] = cell
            else:
                record[name] = _cell(name, cell)
        yield _with_extras(record, extras)


def _cell(name: str, cell: str) -> object:
    if name in _NESTED:
        try:
            return orjson.loads(cell)
        except orjson.JSONDecodeError:
            return cell  # left as text: the server names the field and its type
    if name in _BOOLEANS and cell.lower() in ("true", "false"):
        return cell.lower() == "true"
    if name == "eventTime":
        return _utc(cell) or cell
    return cell
