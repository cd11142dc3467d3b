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


def test_large_batches_go_through_parse_workers_and_survive_one_killed(
        make_server: Any) -> None:
    """A body of 64 KiB or more is parsed in a worker process (--parse-workers): its
    answer is the one the server gives itself, bad records fail alone, and after a
    kill -9 of the worker the next batch is still stored (parsed in the server while a
    new worker starts) and every acknowledged event is found."""
    import psutil

    server = make_server("--parse-workers", "1")
    events = [make_event(f"Op{i}", requestParameters={"pad": "p" * 400}) for i in range(300)]
    bad = make_event()
    del bad["eventSource"]
    first = post_records(server, [*events[:150], bad])
    assert (first["accepted"], first["rejected"]) == (150, 1)
    assert first["failed"] == [{"index": 150, "errorCode": "FieldNotFound",  # type: ignore[comparison-overlap]
                                "errorMessage": "eventSource is required and must be a "
                                                "non-empty string."}]
    assert server.proc is not None
    workers = [p for p in psutil.Process(server.proc.pid).children()
               if "spawn_main" in " ".join(p.cmdline()) and not any(
                   f.path.endswith(".db") for f in p.open_files())]
    assert workers, "a parse worker runs beside the server"
    for worker in workers:
        worker.kill()
    second = post_records(server, events[150:])
    assert second["accepted"] == 150
    ct: Any = server.client(role="reader")

    def found() -> int:
        pages = ct.get_paginator("lookup_events").paginate(
            StartTime=1795160000, EndTime=1795200000)
        return sum(len(page["Events"]) for page in pages)

    wait_until(lambda: found() == 300)


def test_parse_workers_exit_when_the_server_is_killed(make_server: Any) -> None:
    """kill -9 of the server leaves no parse worker behind (nor the resource tracker
    it would keep alive)."""
    import signal

    import psutil

    server = make_server("--parse-workers", "1")
    events = [make_event(f"Op{i}", requestParameters={"pad": "p" * 400}) for i in range(200)]
    assert post_records(server, events)["accepted"] == 200
    assert server.proc is not None
    children = psutil.Process(server.proc.pid).children()
    assert any("spawn_main" in " ".join(c.cmdline()) for c in children)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait()
    _gone, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, [" ".join(p.cmdline()) for p in alive]
