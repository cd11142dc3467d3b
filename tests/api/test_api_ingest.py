"""The batch ingest operation and dedup, end to end."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from conftest import Server, make_event, post_records, signed_post, wait_until

pytestmark = pytest.mark.e2e


def test_resent_event_is_acknowledged_once_stored_once(live_server: Server) -> None:
    event = make_event(when="2026-11-20T10:00:00Z")
    first = post_records(live_server, [event])
    again = post_records(live_server, [event, event])
    assert (first["accepted"], first["duplicates"]) == (1, 0)
    assert (again["accepted"], again["duplicates"]) == (0, 2)
    assert again["eventIds"] == [event["eventID"]] * 2
    ct: Any = live_server.client(role="reader")
    wait_until(lambda: ct.lookup_events(StartTime=1795160000, EndTime=1795200000)["Events"])
    assert len(ct.lookup_events(StartTime=1795160000, EndTime=1795200000)["Events"]) == 1


def test_bad_events_do_not_fail_their_neighbours(live_server: Server) -> None:
    good = make_event()
    no_name = make_event()
    del no_name["eventName"]
    bad_time = make_event(when="yesterday")
    result = post_records(live_server, [good, no_name, "not an object", bad_time])  # type: ignore[list-item]
    assert result["accepted"] == 1
    failed = {f["index"]: f for f in result["failed"]}  # type: ignore[attr-defined]
    assert set(failed) == {1, 2, 3}
    assert "eventName" in failed[1]["errorMessage"]
    assert "eventTime" in failed[3]["errorMessage"]
    assert result["eventIds"][0] == good["eventID"]  # type: ignore[index]


def test_ndjson_gzip_and_array_bodies(live_server: Server) -> None:
    key = live_server.key("writer")
    events = [make_event() for _ in range(3)]
    ndjson = gzip.compress(b"\n".join(json.dumps(e).encode() for e in events))
    response = signed_post(live_server.endpoint, "/opentrail/v1/events", ndjson, key,
                           headers={"Content-Encoding": "gzip"})
    assert response.json()["accepted"] == 3
    array = json.dumps([make_event(), make_event()]).encode()
    assert signed_post(live_server.endpoint, "/opentrail/v1/events", array,
                       key).json()["accepted"] == 2


def test_malformed_requests_get_clear_errors_and_server_keeps_serving(
        live_server: Server) -> None:
    key = live_server.key("writer")
    response = signed_post(live_server.endpoint, "/opentrail/v1/events", b"{nope", key)
    assert response.status_code == 400
    assert response.json()["message"]
    reader = live_server.key("reader")
    denied = signed_post(live_server.endpoint, "/opentrail/v1/events", b"[]", reader)
    assert denied.json()["__type"] == "AccessDeniedException"
    assert post_records(live_server, [make_event()])["accepted"] == 1


def test_unsigned_and_badly_signed_requests_are_refused(live_server: Server) -> None:
    import httpx

    from conftest import Key

    plain = httpx.post(f"{live_server.endpoint}/opentrail/v1/events", content=b"[]")
    assert plain.status_code == 403
    assert plain.json()["__type"] == "MissingAuthenticationTokenException"
    real = live_server.key("writer")
    wrong = Key(real.access_key_id, "x" * 40)
    response = signed_post(live_server.endpoint, "/opentrail/v1/events", b"[]", wrong)
    assert response.status_code == 403
    assert response.json()["__type"] == "InvalidSignatureException"
    unknown = Key("OTAKAAAAAAAAAAAAAAAA", "x" * 40)
    response = signed_post(live_server.endpoint, "/opentrail/v1/events", b"[]", unknown)
    assert response.json()["__type"] == "UnrecognizedClientException"
