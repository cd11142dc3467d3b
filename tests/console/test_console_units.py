"""The console's pure parts: sessions, filters, CSV rows, charts, and its public face."""

from __future__ import annotations

import calendar
import csv
import io
import json
from typing import Any

import pytest

from conftest import make_event
from opentrail import console
from opentrail.clock import ManualClock
from opentrail.console._chart import hourly_chart, ranked_bars
from opentrail.console._export import CSV_COLUMNS, csv_chunks, csv_row, escape_cell, json_chunks
from opentrail.console._filter import parse_filter
from opentrail.console._session import SessionStore
from opentrail.errors import ValidationError


def test_public_face_is_pinned() -> None:
    assert console.__all__ == ["console_routes"]


# --- sessions ----------------------------------------------------------------------------

def test_session_ids_are_random_and_csrf_is_per_session() -> None:
    store = SessionStore(ManualClock(1000.0))
    a, b = store.create("AK1"), store.create("AK1")
    assert a.id != b.id and a.csrf != b.csrf and len(a.id) >= 40
    assert a.csrf_ok(a.csrf) and not a.csrf_ok(b.csrf) and not a.csrf_ok(None)
    assert store.get(a.id) is a and store.get("made-up") is None and store.get(None) is None


def test_sessions_expire_when_idle_and_after_their_lifetime() -> None:
    clock = ManualClock(1000.0)
    store = SessionStore(clock, lifetime=600, idle=100)
    idle, busy = store.create("AK1"), store.create("AK2")
    clock.advance(90)
    assert store.get(busy.id) is busy
    clock.advance(20)
    assert store.get(idle.id) is None  # 110 s without a request
    assert store.get(busy.id) is busy
    for _ in range(5):
        clock.advance(95)
        assert store.get(busy.id) is busy
    clock.advance(95)
    assert store.get(busy.id) is None  # 585 + 95 s > the 600 s lifetime


def test_ended_session_is_gone() -> None:
    store = SessionStore(ManualClock(0.0))
    session = store.create("AK1")
    store.end(session.id)
    assert store.get(session.id) is None


# --- filters -----------------------------------------------------------------------------

def _filter(query: dict[str, str], k: list[str] | None = None, v: list[str] | None = None,
            now: float = 1_800_000_000) -> Any:
    return parse_filter(query, {"k": k or [], "v": v or []}, default_region="us-east-1",
                        default_range="90d", now=now)


def test_relative_range_is_pinned_to_the_first_page() -> None:
    first = _filter({"range": "24h"}, ["Username", "EventName"], ["alice", " "])
    assert first.attributes == (("Username", "alice"),)  # a blank row is no filter
    assert first.window() == (1_800_000_000 - 86400, 1_800_000_000)
    again = _filter(dict(p for p in first.pairs()), ["Username"], ["alice"], now=1_800_009_999)
    assert again.window() == first.window()
    assert "at=1800000000" in first.query() and "at=" not in first.query(pinned=False)


def test_custom_range_reads_utc_times() -> None:
    flt = _filter({"range": "custom", "start": "2027-01-15T10:00", "end": "2027-01-15"})
    with pytest.raises(ValidationError, match="after its end"):
        flt.window()
    flt = _filter({"range": "custom", "start": "2027-01-15T10:00", "end": ""})
    assert flt.window() == (calendar.timegm((2027, 1, 15, 10, 0, 0)), None)


@pytest.mark.parametrize(("query", "k", "message"), [
    ({"region": "Mars"}, [], "not a region"),
    ({"range": "5y"}, [], "not a time range"),
    ({}, ["Colour"], "not an attribute"),
])
def test_bad_filters_are_named(query: dict[str, str], k: list[str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _filter(query, k, ["x"] * len(k))


def test_bad_custom_time_says_what_is_expected() -> None:
    with pytest.raises(ValidationError, match="2026-05-01T12:00"):
        _filter({"range": "custom", "start": "yesterday"}).window()


# --- downloads ---------------------------------------------------------------------------

def _summary(record: dict[str, Any]) -> dict[str, Any]:
    from opentrail.history import summarize

    body = json.dumps(record).encode()
    return summarize(record, body, 1_795_000_000)


def test_csv_rows_match_the_cli_download() -> None:
    from opentrail.cli.lookup import CSV_COLUMNS as CLI_COLUMNS
    from opentrail.cli.lookup import csv_row as cli_row

    events = [
        _summary(make_event("RunInstances", errorCode="Client.Unauthorized",
                            resources=[{"ARN": "arn:aws:ec2:us-east-1:1:instance/i-1",
                                        "type": "AWS::EC2::Instance"}])),
        _summary(make_event("=cmd|' /C calc'!A0", sourceIPAddress="-1+1")),
    ]
    assert CSV_COLUMNS == CLI_COLUMNS
    for event in events:
        assert csv_row(event) == cli_row(event)


def test_formula_cells_are_neutralised() -> None:
    for bad in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert escape_cell(bad) == "'" + bad
    assert escape_cell("alice") == "alice" and escape_cell("") == ""
    text = "".join(csv_chunks([[_summary(make_event("=HYPERLINK(\"x\")"))], []]))
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[1][3] == "'=HYPERLINK(\"x\")"


def test_json_download_is_the_records() -> None:
    a, b, c = (_summary(make_event(name)) for name in "ABC")
    pages = [[a, b], [], [c]]
    data = json.loads("".join(json_chunks(pages)))
    assert [r["eventName"] for r in data["Records"]] == ["A", "B", "C"]
    assert json.loads("".join(json_chunks([]))) == {"Records": []}


# --- charts ------------------------------------------------------------------------------

def test_hourly_chart_draws_one_bar_per_busy_hour() -> None:
    chart = hourly_chart(1_795_000_000 - 1_795_000_000 % 3600, [0, 5, 0, 12], [0, 1, 0, 0])
    assert chart.events_path.count("M") == 2 and chart.errors_path.count("M") == 1
    assert chart.y_ticks[-1][1] == "20"  # a round maximum above the peak of 12
    assert "17 events and 1 errors" in chart.summary


def test_ranked_bars_scale_to_the_largest() -> None:
    bars = ranked_bars([("a", 10), ("b", 5)])
    assert bars.rows[0][3] == pytest.approx(2 * bars.rows[1][3])
    assert ranked_bars([]).rows == []


def test_failed_sign_ins_from_one_address_are_limited() -> None:
    from opentrail.console._limiter import SignInLimiter

    clock = ManualClock(0.0)
    limiter = SignInLimiter(clock, max_failures=3, window=600)
    for _ in range(3):
        assert not limiter.blocked("198.51.100.1")
        limiter.failed("198.51.100.1")
        clock.advance(10)
    assert limiter.blocked("198.51.100.1") and not limiter.blocked("198.51.100.2")
    clock.advance(580)  # the first failure leaves the window
    assert not limiter.blocked("198.51.100.1")
