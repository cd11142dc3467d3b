"""Sigma findings' storage (detect/_store.py, `Backend.findings()`) on both backends: two
nodes share findings and their state, the detector's cursor moves only from where its
batch began, and the `detector` role moves from one node to another without a finding
lost or doubled. On PostgreSQL, two services: a finding acknowledged through one node is
acknowledged on the other, and the detector goes on on the second when the first goes."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import TEST_MASTER_KEY, wait_until
from opentrail.clock import ManualClock
from opentrail.detect import Detector, Finding, Publisher, RuleSet, load_rules
from opentrail.events import parse_record
from opentrail.ledger import LedgerReader, scan

NOW = 1_790_000_000.0
ACCOUNT, OTHER = "111111111111", "222222222222"
RULE = """\
title: Trail stopped
id: 33333333-0000-0000-0000-000000000001
author: OpenTrail tests
logsource:
  product: aws
  service: cloudtrail
detection:
  s:
    eventName: StopLogging
  condition: s
level: high
"""


def _finding(n: int, account: str = ACCOUNT) -> Finding:
    return Finding(f"finding-{n:03}", account, "us-east-1", NOW + n,
                   {"ruleTitle": "t", "eventId": f"e-{n}", "n": n})


def test_two_nodes_share_findings_and_their_state(backends: Any) -> None:
    one, two = backends.open().findings(), backends.open().findings()
    assert one.cursor() is None and one.save([], 0, None)
    assert one.save([_finding(1), _finding(2), _finding(3, OTHER)], 10, 0)
    assert [f.finding.id for f in two.listed(None, None, 10)] == [
        "finding-003", "finding-002", "finding-001"]  # newest first
    assert two.cursor() == 10 and [f.id for f in two.unpublished(10)] == [
        "finding-001", "finding-002", "finding-003"]
    assert two.listed((OTHER,), None, 10)[0].finding == _finding(3, OTHER)
    done = two.acknowledge("finding-002", (ACCOUNT,), "AKIDTWO", NOW + 50)
    assert done is not None and done.state == "acknowledged"
    again = one.acknowledge("finding-002", (ACCOUNT,), "AKIDONE", NOW + 60)
    assert again is not None and (again.acknowledged_by, again.acknowledged_at) == (
        "AKIDTWO", NOW + 50)  # the first acknowledgement stays, seen from either node
    assert [f.finding.id for f in one.listed(None, "acknowledged", 10)] == ["finding-002"]
    assert one.acknowledge("finding-003", (ACCOUNT,), "AKIDONE", NOW) is None  # not ours
    one.mark_published(["finding-001", "finding-003"])
    assert [f.id for f in two.unpublished(10)] == ["finding-002"]
    page = two.listed(None, None, 2)
    last = page[-1].finding
    assert [f.finding.id for f in two.listed(None, None, 10, after=(last.created, last.id))
            ] == ["finding-001"]
    one.close()
    two.close()


def test_the_cursor_moves_only_from_where_the_batch_began(backend: Any) -> None:
    store = backend.findings()
    assert store.save([], 5, None)
    assert not store.save([], 7, None)  # another detector began first: its cursor holds
    assert store.save([_finding(1)], 9, 5)
    assert not store.save([_finding(2)], 11, 5)  # a stale detector stores nothing
    assert store.cursor() == 9 and [f.finding.id for f in store.listed(None, None, 10)] == [
        "finding-001"]
    assert store.save([_finding(1)], 12, 9)  # a finding stored again is kept once
    assert len(store.listed(None, None, 10)) == 1
    store.close()


def _records() -> list[Any]:
    names = ["StopLogging" if i % 7 == 0 else "ListBuckets" for i in range(3000)]
    return [parse_record({"eventTime": "2026-01-01T00:00:00Z",
                          "eventSource": "cloudtrail.amazonaws.com", "eventName": name,
                          "eventID": f"event-{i:05}"},
                         default_account=ACCOUNT, default_region="us-east-1")
            for i, name in enumerate(names)]


def _finding_records(ledger: LedgerReader) -> list[str]:
    import orjson

    return [orjson.loads(row.body)["serviceEventDetails"]["eventId"]
            for row in scan(ledger)
            if row.body is not None and b"SigmaRuleMatch" in row.body]


def _rules(tmp_path: Path) -> RuleSet:
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    (folder / "stop.yml").write_text(RULE)
    return load_rules([folder])


def test_the_detector_role_moves_without_a_finding_lost_or_doubled(
        backends: Any, tmp_path: Path) -> None:
    rules, clock = _rules(tmp_path), ManualClock(NOW)
    one, two = backends.open(), backends.open()
    backends.data_dir.mkdir(parents=True, exist_ok=True)
    writer = one.ledger_writer(clock)
    writer.start()
    ledgers = one.ledger_reader(), two.ledger_reader()
    first = Detector(backends.data_dir, clock, rules, one.findings(), ledgers[0])
    second = Detector(backends.data_dir, clock, rules, two.findings(), ledgers[1])
    roles = one.role("detector"), two.role("detector")
    assert roles[0].held() and not roles[1].held()
    records = _records()
    assert all(writer.submit(records[i:i + 1000]).result(timeout=60)
               for i in range(0, len(records), 1000))
    assert first.step() == 2000  # the holder evaluates one batch
    assert Publisher(first.store, writer).step() > 0
    assert second.step() == 0  # a node that believes it holds the role stores nothing
    assert second.cursor == 2000  # and goes on from the stored cursor
    roles[0].release()  # the holder goes
    assert roles[1].held() and not roles[0].held()
    second.resume()
    while second.step():
        pass
    assert first.step() == 0  # the old holder, still running a moment: nothing stored
    publisher = Publisher(second.store, writer)
    while publisher.step():
        pass
    expected = [r.event_id for r in records if b"StopLogging" in r.body]
    assert sorted(_finding_records(ledgers[1])) == expected  # each once, none lost
    listed = second.store.listed(None, None, 10_000)
    assert sorted(f.finding.detail["eventId"] for f in listed) == expected
    assert second.store.unpublished(10) == []
    writer.close()
    for ledger in ledgers:
        ledger.close()


@pytest.fixture
def pg_nodes(postgres_url: str, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Any:
    from opentrail.config import Settings
    from opentrail.service import Service

    monkeypatch.setenv("OPENTRAIL_MASTER_KEY", base64.b64encode(TEST_MASTER_KEY).decode())
    rules = tmp_path / "rules"
    _rules(tmp_path)
    opened: list[Service] = []

    def open_one() -> Service:
        service = Service.open(Settings(data_dir=tmp_path / f"node{len(opened)}",
                                        database_url=postgres_url, sigma_rules=(str(rules),),
                                        history_retention_days=0), indexer="thread")
        opened.append(service)
        return service

    yield open_one, opened
    for service in opened:
        service.close()


def _stops(service: Any, start: int, count: int) -> list[str]:
    made = [parse_record({"eventTime": "2026-01-01T00:00:00Z",
                          "eventSource": "cloudtrail.amazonaws.com",
                          "eventName": "StopLogging", "eventID": f"stop-{i:03}"},
                         default_account=ACCOUNT, default_region="us-east-1")
            for i in range(start, start + count)]
    assert service.writer.submit(made).result(timeout=30) == [True] * count
    return [r.event_id for r in made]


def test_two_services_share_findings_and_the_detector_moves(
        pg_nodes: tuple[Callable[[], Any], list[Any]]) -> None:
    from opentrail.service import DETECTOR

    open_one, opened = pg_nodes
    one, two = open_one(), open_one()
    wait_until(lambda: one.role(DETECTOR).held() or two.role(DETECTOR).held())
    holder, other = (one, two) if one.role(DETECTOR).held() else (two, one)
    sent = _stops(other, 0, 5)  # through the node that does not detect
    wait_until(lambda: len(other.findings.listed(None, None, 100)) == 5)
    target = other.findings.listed(None, "open", 1)[0].finding.id
    assert other.findings.acknowledge(target, None, "AKIDOTHER", NOW) is not None
    assert [f.finding.id for f in holder.findings.listed(None, "acknowledged", 10)] == [
        target]  # seen on every node at once
    wait_until(lambda: other.findings.unpublished(10) == [])
    opened.remove(holder)
    holder.close()  # the detector's node goes; the other takes the role over
    wait_until(other.role(DETECTOR).held)
    sent += _stops(other, 5, 5)
    wait_until(lambda: len(other.findings.listed(None, None, 100)) == 10)
    wait_until(lambda: other.findings.unpublished(10) == [])
    assert other.ledger is not None
    assert sorted(_finding_records(other.ledger)) == sorted(sent)  # once each
    assert Counter(f.state for f in other.findings.listed(None, None, 100)) == Counter(
        {"open": 9, "acknowledged": 1})
