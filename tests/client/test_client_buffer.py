"""EventBuffer: batching, retries with the same eventIDs, overflow, flush and close."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.session
import httpx
import pytest

import opentrail.client
from conftest import Server, wait_until
from opentrail.client import EventBuffer, IngestClient, RetryPolicy

FAST = RetryPolicy(max_attempts=1_000, base=0.001, cap=0.01)


class FakeServer:
    """An httpx transport answering like POST /opentrail/v1/events; can be 'down'."""

    def __init__(self) -> None:
        self.down = threading.Event()
        self.batches: list[list[dict[str, Any]]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down.is_set():
            return httpx.Response(503, json={"__type": "ServiceUnavailable", "message": "x"})
        records = json.loads(gzip.decompress(request.content))["Records"]
        self.batches.append(records)
        bad = [i for i, r in enumerate(records) if "eventName" not in r]
        return httpx.Response(200, json={
            "accepted": len(records) - len(bad), "duplicates": 0, "rejected": len(bad),
            "eventIds": [r.get("eventID") for r in records], "duplicateIndexes": [],
            "failed": [{"index": i, "errorCode": "FieldNotFound",
                        "errorMessage": "eventName is required."} for i in bad]})

    @property
    def ids(self) -> list[str]:
        return [r["eventID"] for batch in self.batches for r in batch]


def make_buffer(server: FakeServer, **options: Any) -> EventBuffer:
    session = botocore.session.Session()
    session.set_credentials("AKIATEST", "secret")
    client = IngestClient("http://opentrail.test", session=session,
                          transport=httpx.MockTransport(server.handle),
                          retry=RetryPolicy(max_attempts=1))
    return EventBuffer(client, backoff=FAST, **options)


def test_events_are_sent_in_batches_and_flushed_on_demand() -> None:
    server = FakeServer()
    buffer = make_buffer(server, batch_size=10, interval=30)
    for n in range(25):
        assert buffer.record({"eventName": f"E{n}"})
    assert buffer.flush(timeout=30)
    assert sum(len(b) for b in server.batches) == 25
    assert max(len(b) for b in server.batches) <= 10
    assert buffer.stats().sent == 25
    buffer.close()


def test_events_wait_while_down_and_keep_their_ids() -> None:
    server = FakeServer()
    server.down.set()
    buffer = make_buffer(server, capacity=4, interval=0.01)
    results = [buffer.record({"eventName": f"E{n}"}) for n in range(6)]
    assert results == [True] * 4 + [False] * 2
    assert not buffer.flush(timeout=0.2)
    stats = buffer.stats()
    assert (stats.pending, stats.dropped, stats.sent) == (4, 2, 0)
    assert stats.last_error is not None and "ServiceUnavailable" in stats.last_error
    server.down.clear()
    assert buffer.flush(timeout=30)
    assert len(server.ids) == len(set(server.ids)) == 4
    assert buffer.stats().last_error is None
    buffer.close()


def test_rejected_events_are_counted_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    server = FakeServer()
    buffer = make_buffer(server)
    buffer.record({"eventName": "Good"})
    buffer.record({"eventSource": "no name"})
    assert buffer.flush(timeout=30)
    assert (buffer.stats().sent, buffer.stats().rejected) == (1, 1)
    assert "eventName is required" in caplog.text
    buffer.close()


def test_close_flushes_and_reports_what_it_could_not_send() -> None:
    server = FakeServer()
    buffer = make_buffer(server, interval=30)
    buffer.record({"eventName": "Last"})
    assert buffer.close(timeout=30) is True
    assert len(server.ids) == 1
    down = FakeServer()
    down.down.set()
    stuck = make_buffer(down)
    stuck.record({"eventName": "Lost"})
    assert stuck.close(timeout=0.1) is False


def test_connect_defers_credential_errors_to_the_sender_thread() -> None:
    session = botocore.session.Session(profile="no-such-profile-for-opentrail")
    buffer = EventBuffer.connect("http://127.0.0.1:9", session=session, backoff=FAST)
    assert buffer.record({"eventName": "Kept"})
    assert not buffer.flush(timeout=0.2)
    assert buffer.stats().last_error is not None
    buffer.close(timeout=0.1)


def test_exports() -> None:
    assert {"EventBuffer", "BufferStats"} <= set(opentrail.client.__all__)
    assert all(hasattr(opentrail.client, name) for name in opentrail.client.__all__)


@pytest.mark.e2e
def test_events_recorded_just_before_exit_are_flushed_at_exit(live_server: Server) -> None:
    script = (
        "from opentrail.client import EventBuffer\n"
        f"buffer = EventBuffer.connect({live_server.endpoint!r}, interval=60)\n"
        "for n in range(3):\n"
        "    buffer.record({'eventName': 'AtExit', 'eventSource': 'jobs.example.com',\n"
        f"                   'eventTime': {recent()!r}, 'awsRegion': 'us-east-1'}})\n"
    )  # no flush, no close: the atexit hook must send them
    subprocess.run([sys.executable, "-c", script], env=live_server.env("writer"),
                   check=True, timeout=120)
    client: Any = live_server.client()

    def stored() -> int:
        return len(client.lookup_events(LookupAttributes=[
            {"AttributeKey": "EventName", "AttributeValue": "AtExit"}])["Events"])
    wait_until(lambda: stored() == 3, timeout=60)


def recent() -> str:
    return (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
