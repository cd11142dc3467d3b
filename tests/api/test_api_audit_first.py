"""Attacks on the self-audit: no change of configuration may go unrecorded.

An admin call padded with an unknown parameter that makes its requestParameters
unstorable (over 256 KB, or nested past orjson's 254 levels in a 623-byte body) used to
run, answer a bare 500, and leave no record. Now the record is built, fitted and
validated before the call runs, and journaled durably before a change is made.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from conftest import Server, free_port, make_event, signed_post, wait_until

pytestmark = pytest.mark.e2e

TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."
BIG = {"Padding": "x" * (300 * 1024)}
DEEP_TEXT = '"Padding":' + "[" * 300 + "]" * 300


def call(server: Server, op: str, body: bytes) -> httpx.Response:
    return signed_post(server.endpoint, "/", body, server.key("admin"), service="cloudtrail",
                       headers={"X-Amz-Target": TARGET + op,
                                "Content-Type": "application/x-amz-json-1.1"})


def padded(name: str, padding: str) -> bytes:
    if padding == "big":
        return orjson.dumps({"Name": name, **BIG})
    return b'{"Name":"' + name.encode() + b'",' + DEEP_TEXT.encode() + b"}"


def audit_of(server: Server, op: str, request_id: str) -> dict[str, Any]:
    """The self-audit record of the call answered with `request_id` (waits for it)."""
    ct: Any = server.client()
    found: list[dict[str, Any]] = []

    def look() -> bool:
        events = ct.lookup_events(LookupAttributes=[
            {"AttributeKey": "EventName", "AttributeValue": op}])["Events"]
        found[:] = [r for e in events
                    if (r := json.loads(e["CloudTrailEvent"]))["requestID"] == request_id]
        return bool(found)

    wait_until(look)
    return found[0]


@pytest.mark.parametrize("padding", ["big", "deep"])
def test_delete_trail_with_unstorable_padding_is_recorded(live_server: Server,
                                                           padding: str) -> None:
    ct: Any = live_server.client()
    ct.create_trail(Name="doomed", S3BucketName="audit-bucket")
    body = padded("doomed", padding)
    if padding == "deep":
        assert len(body) < 700  # the reviewer's 623-byte body
    response = call(live_server, "DeleteTrail", body)
    assert response.status_code == 200, response.text
    assert ct.describe_trails()["trailList"] == []  # done ...
    record = audit_of(live_server, "DeleteTrail", response.headers["x-amzn-RequestId"])
    # ... and recorded: the trail's name kept, the padding left out and marked as CloudTrail
    # marks a field it cut
    assert record["requestParameters"] == {"name": "doomed", "omitted": True}
    assert "errorCode" not in record


@pytest.mark.parametrize("padding", ["big", "deep"])
def test_stop_logging_with_unstorable_padding_is_recorded(live_server: Server,
                                                          padding: str) -> None:
    ct: Any = live_server.client()
    ct.create_trail(Name="watched", S3BucketName="audit-bucket")
    ct.start_logging(Name="watched")
    response = call(live_server, "StopLogging", padded("watched", padding))
    assert response.status_code == 200, response.text
    assert ct.get_trail_status(Name="watched")["IsLogging"] is False
    record = audit_of(live_server, "StopLogging", response.headers["x-amzn-RequestId"])
    assert record["requestParameters"] == {"name": "watched", "omitted": True}


def test_a_refused_padded_change_is_recorded_with_its_error(live_server: Server) -> None:
    response = call(live_server, "StopLogging", padded("missing", "deep"))
    assert response.status_code == 400
    record = audit_of(live_server, "StopLogging", response.headers["x-amzn-RequestId"])
    assert record["errorCode"] == response.json()["__type"]
    assert record["requestParameters"] == {"name": "missing", "omitted": True}


def test_large_known_parameters_are_kept_whole(live_server: Server) -> None:
    """Fitting only cuts what breaks a limit: a real call's parameters stay as sent."""
    ct: Any = live_server.client()
    ct.create_trail(Name="tagged", S3BucketName="audit-bucket")
    arn = ct.describe_trails()["trailList"][0]["TrailARN"]
    tags = [{"Key": f"k{i}", "Value": "v" * 200} for i in range(40)]
    response = call(live_server, "AddTags", orjson.dumps({"ResourceId": arn, "TagsList": tags}))
    assert response.status_code == 200, response.text
    record = audit_of(live_server, "AddTags", response.headers["x-amzn-RequestId"])
    assert record["requestParameters"] == {
        "resourceId": arn, "tagsList": [{"key": t["Key"], "value": t["Value"]} for t in tags]}


def test_throttled_writer_never_loses_a_changes_record(tmp_path: Path) -> None:
    """With the ledger's queue full, a change is refused before it runs (nothing changed)
    or runs with its record admitted: every 200 has its record, and the trail's state is
    the one the last answered-200 call set."""
    server = Server(tmp_path / "data", free_port(), ("--max-pending-events", "1"))
    server.start()
    ct: Any = server.client()
    ct.create_trail(Name="busy", S3BucketName="audit-bucket")
    writer = server.key("writer")
    stop = threading.Event()

    def flood() -> None:
        while not stop.is_set():
            body = json.dumps({"Records": [make_event() for _ in range(1500)]}).encode()
            signed_post(server.endpoint, "/opentrail/v1/events", body, writer)

    threads = [threading.Thread(target=flood) for _ in range(4)]
    for t in threads:
        t.start()
    answered: list[tuple[str, str]] = []
    throttled = 0
    logging = False
    try:
        deadline = time.monotonic() + 60
        while (throttled == 0 or len(answered) < 4) and time.monotonic() < deadline:
            op = "StopLogging" if logging else "StartLogging"
            response = call(server, op, b'{"Name":"busy"}')
            if response.status_code == 200:
                answered.append((op, response.headers["x-amzn-RequestId"]))
                logging = not logging
            else:
                assert response.json()["__type"] == "ThrottlingException", response.text
                throttled += 1
    finally:
        stop.set()
        for t in threads:
            t.join()
    try:
        assert throttled, "the queue never filled; the test did not attack anything"
        assert ct.get_trail_status(Name="busy")["IsLogging"] is logging
        conn = sqlite3.connect(server.data_dir / "ledger.db")
        bodies = [json.loads(b) for (b,) in conn.execute(
            "SELECT body FROM events WHERE instr(body, ?)", (b"cloudtrail.amazonaws.com",))]
        conn.close()
        recorded = {(r["eventName"], r["requestID"]) for r in bodies}
        assert set(answered) <= recorded
    finally:
        server.kill(signal.SIGTERM)
