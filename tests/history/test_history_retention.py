"""Retention: expired events leave the history; their bodies go, their leaves stay."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from opentrail.clock import ManualClock
from opentrail.events import Category, parse_record
from opentrail.history import HistoryIndexer, HistoryReader, LookupQuery
from opentrail.ledger import LedgerWriter, open_reader, verify_ledger
from opentrail.ledger import _sqlite_sequencer as ledger_writer

NOW = 1795600000.0
DAY = 86400


def _record(when: float) -> object:
    raw = {"eventVersion": "1.11", "eventSource": "s3.amazonaws.com", "eventName": "ListBuckets",
           "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when)),
           "awsRegion": "us-east-1", "eventID": str(uuid.uuid4()),
           "recipientAccountId": "123456789012"}
    return parse_record(raw, default_account="x", default_region="us-east-1")


def _all(reader: HistoryReader) -> int:
    query = LookupQuery(("123456789012",), "us-east-1", Category.MANAGEMENT, (), None, None,
                        None, 50)
    return len(reader.lookup(query).events)


def test_expired_events_leave_history_and_keep_their_leaves(tmp_path: Path) -> None:
    clock = ManualClock(NOW - 100 * DAY)  # ingested 100 days ago...
    writer = LedgerWriter(tmp_path, clock)
    writer.start()
    writer.submit([_record(NOW - 95 * DAY), _record(NOW - 1 * DAY), _record(NOW)]).result()
    clock.advance(100 * DAY)
    indexer = HistoryIndexer(tmp_path, clock, 90)
    indexer.step()
    assert _all(HistoryReader(tmp_path, clock, 90)) == 2  # the 95-day-old one is out
    assert _all(HistoryReader(tmp_path, clock, 0)) == 3  # 0 keeps everything
    assert indexer.purge() == 3  # its postings: ALL, EventName, EventSource
    assert writer.purge(int(clock.now()) - 90 * DAY) == 1
    writer.close()
    report = verify_ledger(open_reader(tmp_path))
    assert report.ok
    assert (report.size, report.expired, report.checked) == (3, 1, 2)


def test_recent_ingest_of_old_events_keeps_their_bodies(tmp_path: Path) -> None:
    """Importing 2023 logs today must not drop them at once: both clocks must agree."""
    clock = ManualClock(NOW)
    writer = LedgerWriter(tmp_path, clock)
    writer.start()
    writer.submit([_record(NOW - 400 * DAY)]).result()
    assert writer.purge(int(NOW) - 90 * DAY) == 0
    writer.close()


def test_purge_goes_in_chunks_and_comes_back_for_what_expires_later(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Short write transactions over the ingested-before-cutoff prefix only; an old
    ingest of then-recent events is purged by a later pass, once their time expires."""
    monkeypatch.setattr(ledger_writer, "PURGE_CHUNK", 3)
    clock = ManualClock(NOW - 200 * DAY)
    writer = LedgerWriter(tmp_path, clock)
    writer.start()
    # seqs 0-9: ingested 200 days ago; 0-6 happened 210 days ago, 7-9 "today" (NOW)
    writer.submit([_record(NOW - 210 * DAY) for _ in range(7)]
                  + [_record(NOW) for _ in range(3)]).result()
    clock.advance(190 * DAY)  # seqs 10-11: ingested 10 days ago, 10 days old
    writer.submit([_record(NOW - 10 * DAY) for _ in range(2)]).result()
    clock.advance(10 * DAY)
    assert writer.purge(int(NOW) - 90 * DAY) == 7
    assert writer.purge(int(NOW) - 90 * DAY) == 0  # nothing new: starts at seq 7
    assert writer.purge(int(NOW) + 91 * DAY) == 5  # 91 days on: 7-9 and 10-11 expire
    writer.close()
    report = verify_ledger(open_reader(tmp_path))
    assert report.ok and (report.size, report.expired) == (12, 12)
