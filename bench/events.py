"""The events the bench sends: realistic records from `opentrail.sources.demo`, batched.

Bodies are serialised before any clock starts, so the client spends its time sending.
`Sample` keeps the lookup values of a thin sample of events, computed here (not with the
server's code) so that queries are drawn from the data and DuckDB can check the answers.
"""

from __future__ import annotations

import gc
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from opentrail.sources.demo import generate

__all__ = ["ACCOUNT", "BATCH", "Batch", "batches", "lookup_values", "probe_batches"]

ACCOUNT = "123456789012"
BATCH = 5_000
PROBE_BUCKET = "arn:aws:s3:::opentrail-bench-probe"

Event = dict[str, Any]


@dataclass(frozen=True)
class Batch:
    body: bytes  # {"Records": [...]}, exactly what a CloudTrail log file holds
    count: int
    probe_id: str  # eventID of the batch's last management event
    probe_arn: str  # a ResourceName only that event has (found only through the index)


def batches(*, seed: int, count: int, start: float, end: float) -> Iterator[list[Event]]:
    """Lists of BATCH records in time order, as delivered log files hold them."""
    records = generate(seed=seed, count=count, start=start, end=end, account=ACCOUNT)
    while chunk := list(itertools.islice(records, BATCH)):
        yield chunk


def _with_probe(chunk: list[Event], arn: str) -> tuple[list[Event], str]:
    """Mark the last management event with a unique resource; LookupEvents never returns
    data events, so a probe must be a management one."""
    index = max(i for i, e in enumerate(chunk) if e.get("eventCategory") != "Data")
    event = dict(chunk[index])  # demo records share nested values: copy, never mutate
    event["resources"] = [*event.get("resources", ()), {"type": "AWS::S3::Object",
                                                         "ARN": arn}]
    return [*chunk[:index], event, *chunk[index + 1:]], event["eventID"]


def probe_batches(*, seed: int, count: int, start: float, end: float) -> list[Batch]:
    """All ingest bodies, serialised up front (GC off: millions of fresh dicts)."""
    out = []
    gc.disable()
    try:
        for n, chunk in enumerate(batches(seed=seed, count=count, start=start, end=end)):
            arn = f"{PROBE_BUCKET}/{seed}/{n}"
            records, probe_id = _with_probe(chunk, arn)
            out.append(Batch(orjson.dumps({"Records": records}), len(records), probe_id, arn))
    finally:
        gc.enable()
    return out


def _username(who: dict[str, Any]) -> str | None:
    """CloudTrail's User name: userName, else the role session name, else root."""
    if name := who.get("userName"):
        return str(name)
    principal = who.get("principalId") or ""
    if who.get("type") in ("AssumedRole", "FederatedUser") and ":" in principal:
        return str(principal.split(":", 1)[1])
    return "root" if who.get("type") == "Root" else None


def lookup_values(event: Event) -> dict[str, list[str]]:
    """Each LookupEvents attribute -> the values this event can be found by."""
    who = event.get("userIdentity") or {}
    out: dict[str, list[str]] = {
        "EventId": [event["eventID"]], "EventName": [event["eventName"]],
        "EventSource": [event["eventSource"]],
        "ReadOnly": ["true" if event.get("readOnly") else "false"],
    }
    for key, value in (("Username", _username(who)), ("AccessKeyId", who.get("accessKeyId")),
                       ("ErrorCode", event.get("errorCode"))):
        if value:
            out[key] = [value]
    resources = event.get("resources") or ()
    if types := sorted({r["type"] for r in resources if r.get("type")}):
        out["ResourceType"] = types
    names = sorted({r.get("ARN") or r.get("ARNPrefix") for r in resources} - {None, ""})
    if names:
        out["ResourceName"] = names
    return out
