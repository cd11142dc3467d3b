"""Parse workers (events/_parsers.py): a body prepared in a worker process gives exactly
what preparing it in the server gives (records, positions, each failure's field, message
and code, a request-level error), and a worker that dies loses nothing."""

from __future__ import annotations

import gzip
import json
import os
import signal
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from opentrail.errors import InvalidRecord, OpenTrailError, PayloadTooLarge, ValidationError
from opentrail.events import ORIGIN_FIELD, Owner, ParserPool, Prepared, prepare_batch

ACCOUNT = "123456789012"
OWNER = Owner(ACCOUNT, "eu-west-3", ACCOUNT, "OTAKEXAMPLE")
MAX = 64 * 1024 * 1024


def _event(i: int, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventVersion": "1.11", "eventTime": f"2026-11-20T10:{i % 60:02d}:00Z",
        "eventSource": "ec2.amazonaws.com", "eventName": f"Describe{i}",
        "eventID": f"00000000-0000-4000-8000-{i:012d}", "recipientAccountId": ACCOUNT,
        "userIdentity": {"type": "IAMUser", "accountId": ACCOUNT, "userName": "ünïcode"},
        "requestParameters": {"pad": "x" * 300, "n": i}, "eventCategory": "Management"}
    event.update(extra)
    return event


def _mixed() -> list[Any]:
    """Good records among every kind of bad one the server refuses per record."""
    records: list[Any] = [_event(i) for i in range(300)]
    no_name = _event(300)
    del no_name["eventName"]
    records[7] = no_name
    records[11] = "not an object"
    records[13] = _event(13, eventTime="yesterday")
    records[17] = _event(17, recipientAccountId="999999999999")  # not the key's account
    records[19] = _event(19, **{ORIGIN_FIELD: "server"})
    records[23] = _event(23, requestParameters={"big": 10**30})  # beyond 64 bits
    records[29] = _event(29, eventVersion="2.0")
    records[31] = _event(31, eventCategory="Data", readOnly=False)
    records[37] = _event(37, awsRegion="")  # filled with the default region
    return records


def _failures(prepared: Prepared) -> list[tuple[int, str, str, str]]:
    return [(i, e.field, e.message, e.code) for i, e in prepared.failed]


def _workers() -> list[psutil.Process]:
    """This process's parse workers (not multiprocessing's resource tracker)."""
    return [p for p in psutil.Process(os.getpid()).children()
            if "resource_tracker" not in " ".join(p.cmdline())]


@pytest.fixture
def pool() -> Iterator[ParserPool]:
    parsers = ParserPool(1)
    yield parsers
    parsers.close()


def _same(pool: ParserPool, body: bytes) -> Prepared:
    here = prepare_batch(body, OWNER, MAX)
    there = pool.prepare(body, OWNER, MAX)
    assert there.records == here.records
    assert there.positions == here.positions
    assert _failures(there) == _failures(here)
    assert all(isinstance(e, InvalidRecord) for _, e in there.failed)
    return there


@pytest.mark.parametrize("form", ["records", "array", "ndjson", "gzip"])
def test_a_worker_prepares_exactly_what_the_server_would(pool: ParserPool, form: str) -> None:
    records = _mixed()
    if form == "records":
        body = json.dumps({"Records": records}).encode()
    elif form == "array":
        body = json.dumps(records).encode()
    else:
        lines = [json.dumps(r).encode() for r in records]
        lines[41] = b'{"broken": '  # NDJSON: a bad line fails alone
        body = b"\n".join(lines)
        body = gzip.compress(body) if form == "gzip" else body
    assert len(body) >= 64 * 1024 or form == "gzip"
    prepared = _same(pool, body)
    assert len(prepared.records) == 300 - len(prepared.failed) > 250
    codes = {i: code for i, _, _, code in _failures(prepared)}
    assert codes[17] == "InvalidRecipient" and codes[7] == "FieldNotFound"
    assert prepared.records[prepared.positions.index(37)].region == "eu-west-3"


def test_a_request_error_comes_back_as_the_same_error(pool: ParserPool) -> None:
    not_json = b"{" + b"x" * 100_000
    too_many = json.dumps([{"a": 1}] * 10_001).encode()
    for body, kind in ((not_json, ValidationError), (too_many, PayloadTooLarge)):
        with pytest.raises(OpenTrailError) as here:
            prepare_batch(body, OWNER, MAX)
        with pytest.raises(OpenTrailError) as there:
            pool.prepare(body, OWNER, MAX)
        assert type(there.value) is type(here.value) is kind
        assert (there.value.message, there.value.code) == (here.value.message,
                                                           here.value.code)


def test_a_worker_killed_loses_nothing_and_is_replaced(pool: ParserPool) -> None:
    body = json.dumps({"Records": [_event(i) for i in range(200)]}).encode()
    expected = prepare_batch(body, OWNER, MAX).records
    assert pool.prepare(body, OWNER, MAX).records == expected
    workers = _workers()
    assert workers, "the large body went to a worker process"
    for worker in workers:
        os.kill(worker.pid, signal.SIGKILL)
    psutil.wait_procs(workers, timeout=10)
    assert pool.prepare(body, OWNER, MAX).records == expected  # parsed here, pool replaced
    assert pool.prepare(body, OWNER, MAX).records == expected  # by a new worker
    assert {p.pid for p in _workers()} - {w.pid for w in workers}


def test_small_bodies_and_zero_workers_stay_in_the_caller() -> None:
    body = json.dumps([_event(1)]).encode()
    for parsers in (ParserPool(1), ParserPool(0)):
        try:
            assert parsers.prepare(body, OWNER, MAX).records == prepare_batch(
                body, OWNER, MAX).records
            assert not _workers()
        finally:
            parsers.close()


def test_parse_workers_setting(tmp_path: Any) -> None:
    """--parse-workers takes 'auto' or a count (also a TOML integer); anything else
    refuses to start with a message naming the flag."""
    from opentrail.config import Settings, parse_workers_of, settings_from, validate_settings

    assert parse_workers_of("0") == 0 and parse_workers_of("3") == 3
    assert 0 <= parse_workers_of("auto") <= 4
    for bad in ("many", "-1", "65", ""):
        with pytest.raises(ValueError, match="--parse-workers"):
            validate_settings(Settings(parse_workers=bad))
    config = tmp_path / "opentrail.toml"
    config.write_text("parse_workers = 2\n")
    assert settings_from(config, {}).parse_workers == "2"


def test_a_closed_pool_still_prepares_in_the_caller() -> None:
    """A request racing the pool's replacement or the server's shutdown is parsed in the
    caller instead of failing."""
    parsers = ParserPool(1)
    body = json.dumps({"Records": [_event(i) for i in range(200)]}).encode()
    pool = parsers._current()
    assert pool is not None
    pool.shutdown(wait=True)  # what a racing _discard does to the pool this call holds
    assert parsers.prepare(body, OWNER, MAX).records == prepare_batch(body, OWNER, MAX).records
    parsers.close()
