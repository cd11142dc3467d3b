"""Signed checkpoints' storage (ledger/_checkpoint_rows.py) on both backends, and one
elected signer: every node hands out the checkpoints the role's holder signed."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from opentrail.clock import ManualClock
from opentrail.errors import Throttled
from opentrail.events import parse_record
from opentrail.ledger import Checkpointer, CheckpointRow, SignedCheckpoints

T0 = 1795600000


def _row(size: int, time: int) -> CheckpointRow:
    return CheckpointRow(size, bytes([size]) * 32, time, f"note {size}")


def test_rows_are_kept_first_signed_wins(backend: Any) -> None:
    rows = backend.checkpoints()
    assert rows.latest() is None and rows.at(1) is None
    for size, time in ((1, 100), (3, 200), (7, 300)):
        rows.add(_row(size, time))
    rows.add(CheckpointRow(3, b"\x00" * 32, 250, "another note"))  # that size is taken
    assert rows.latest() == _row(7, 300) and rows.at(3) == _row(3, 200)
    assert rows.last_before(200) == _row(1, 100) and rows.last_before(100) is None
    assert rows.between(100, 300) == [_row(1, 100), _row(3, 200)]
    assert rows.between(100, 400, limit=1) == [_row(1, 100)]
    assert rows.after(1, 10) == [_row(3, 200), _row(7, 300)] and rows.after(0, 1) == [
        _row(1, 100)]
    rows.close()


def _append(backend: Any, clock: ManualClock, count: int) -> None:
    writer = backend.ledger_writer(clock)
    writer.start()
    records = [parse_record({"eventTime": "2026-01-01T00:00:00Z", "eventSource": "s3",
                             "eventName": "ListBuckets", "eventID": str(uuid.uuid4())},
                            default_account="111111111111", default_region="us-east-1")
               for _ in range(count)]
    assert writer.submit(records).result(timeout=30) == [True] * count
    writer.close()


def _checkpointer(backends: Any, backend: Any, node: str, clock: ManualClock) -> Checkpointer:
    role = backend.role("checkpoint-signer")
    folder = backends.data_dir if backends.kind == "sqlite" else backends.data_dir / node
    folder.mkdir(parents=True, exist_ok=True)
    return Checkpointer(folder, clock, 60, ledger=backend.ledger_reader(),
                        signer=backend.checkpoint_signer(), store=backend.checkpoints(),
                        signs=role.held)


def test_only_the_elected_signer_signs_and_the_role_moves(backends: Any) -> None:
    clock = ManualClock(T0)
    one, two = backends.open(), backends.open()
    signer, other = (_checkpointer(backends, one, "a", clock),
                     _checkpointer(backends, two, "b", clock))
    assert signer._signs()  # the first node to ask is elected
    _append(one, clock, 3)
    for cp in (signer, other):
        while cp._follower.step():
            pass
    with pytest.raises(Throttled):  # nothing signed yet, and this node is not the signer
        other.make_checkpoint()
    first = signer.make_checkpoint()
    assert first.size == 3 and other.make_checkpoint() == first
    assert other.latest_checkpoint() == first
    _append(two, clock, 2)
    for cp in (signer, other):
        while cp._follower.step():
            pass
    assert other.make_checkpoint() == first  # still not the signer
    signer.close()
    one.close()  # the signer's node goes: its role with it
    backends.opened.remove(one)
    clock.advance(5)
    second = other.make_checkpoint()
    assert second.size == 5 and second.note != first.note
    assert other.signer.verifier().open(second.note)  # one key for the cluster
    assert [cp.size for cp in other.between(T0, T0 + 10)] == [3, 5]
    signed = SignedCheckpoints(backends.data_dir, other.public_key, rows=two.checkpoints())
    assert [cp.size for cp in signed] == [3, 5] and signed.problems == []  # verify's view
    other.close()
