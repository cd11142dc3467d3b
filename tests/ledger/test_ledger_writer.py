"""The writer: group commit, dedup, and explicit back-pressure."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from opentrail.clock import ManualClock
from opentrail.errors import Throttled
from opentrail.events import Record, parse_record
from opentrail.ledger import LedgerWriter


def _record(event_id: str | None = None, account: str = "123456789012") -> Record:
    raw = {"eventTime": "2026-11-20T10:00:00Z", "eventSource": "s3.amazonaws.com",
           "eventName": "ListBuckets", "eventID": event_id or str(uuid.uuid4()),
           "recipientAccountId": account}
    return parse_record(raw, default_account=account, default_region="us-east-1")


def test_full_queue_throttles_instead_of_growing(tmp_path: Path) -> None:
    writer = LedgerWriter(tmp_path, ManualClock(0), max_pending=3)  # not started: nothing drains
    first = writer.submit([_record(), _record()])
    with pytest.raises(Throttled) as info:
        writer.submit([_record(), _record()])
    assert info.value.code == "ThrottlingException"
    assert info.value.status == 400  # botocore's legacy retry mode retries only 400
    writer.start()
    assert first.result(timeout=30) == [True, True]
    assert writer.submit([_record(), _record()]).result(timeout=30) == [True, True]
    writer.close()


def test_dedup_is_per_account_and_within_a_batch(tmp_path: Path) -> None:
    writer = LedgerWriter(tmp_path, ManualClock(0))
    writer.start()
    same = str(uuid.uuid4())
    results = writer.submit([_record(same), _record(same), _record(same, "210987654321")])
    assert results.result(timeout=30) == [True, False, True]
    assert writer.submit([_record(same)]).result(timeout=30) == [False]
    assert writer.size == 2
    writer.close()
