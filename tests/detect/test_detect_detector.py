"""The continuous detector: a ledger follower appending findings, once each, never looping.

The store's tests run on both backends (the `node` fixture: a backend's ledger writer and
reader and its `findings()`), and two nodes hand the `detector` role over without losing
or doubling a finding."""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from sigmahq_rules import RULES

from opentrail.clock import ManualClock
from opentrail.detect import (
    DETECT_SOURCE,
    Detector,
    FindingStore,
    Publisher,
    RuleSet,
    SqliteFindingStore,
    load_rules,
    replay,
)
from opentrail.events import parse_record
from opentrail.ledger import LedgerReader, LedgerWriter, open_ledger_reader, scan

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"
INVICTUS_ACCOUNT = "123837392027"
NOW = 1_790_000_000.0
# Matches every AwsServiceEvent, the eventType findings have: a loop would show here.
SERVICE_EVENTS = """\
title: Any service event
id: 22222222-0000-0000-0000-000000000001
author: OpenTrail tests
logsource:
  product: aws
  service: cloudtrail
detection:
  s:
    eventType: AwsServiceEvent
  condition: s
level: low
"""


def invictus() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for path in sorted((DATASETS / "invictus-aws" / "CloudTrail").glob("*.json")):
        records += json.loads(path.read_text())["Records"]
    return records


@pytest.fixture
def rules(tmp_path: Path) -> RuleSet:
    folder = tmp_path / "rules"
    folder.mkdir()
    for name in ("DISABLE_LOGGING", "CONSOLE_LOGIN_WITHOUT_MFA", "IAM_BACKDOOR_USERS_KEYS"):
        (folder / f"{name.lower()}.yml").write_text(RULES[name])
    (folder / "service.yml").write_text(SERVICE_EVENTS)
    return load_rules([folder])


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[LedgerWriter]:
    writer = LedgerWriter(tmp_path / "data", ManualClock(NOW))
    writer.start()
    yield writer
    writer.close()


@dataclass
class Node:
    """One node of a backend: its ledger writer and reader, and its findings store."""

    backend: Any
    data_dir: Path
    writer: LedgerWriter
    ledger: LedgerReader
    store: FindingStore

    def detector(self, rules: RuleSet, now: float = NOW) -> Detector:
        return Detector(self.data_dir, ManualClock(now), rules, self.store, self.ledger)

    def close(self) -> None:
        self.writer.close()
        self.store.close()
        self.ledger.close()


def _node(backends: Any) -> Node:
    backend = backends.open()
    backends.data_dir.mkdir(parents=True, exist_ok=True)
    writer = backend.ledger_writer(ManualClock(NOW))
    writer.start()
    return Node(backend, backends.data_dir, writer, backend.ledger_reader(),
                backend.findings())


@pytest.fixture
def node(backends: Any) -> Iterator[Node]:
    """A node of each backend in turn (SQLite files, or a PostgreSQL database)."""
    made = _node(backends)
    yield made
    made.close()


def _unpublish(node: Node) -> None:
    """As if the findings were appended to the ledger but never marked published."""
    if node.backend.kind == "sqlite":
        db = sqlite3.connect(node.data_dir / "findings.db")
        with db:
            db.execute("UPDATE findings SET published = 0")
        db.close()
        return
    with node.backend.db.transaction() as conn:
        conn.execute("UPDATE findings SET published = false")


def _append(writer: LedgerWriter, records: list[dict[str, Any]]) -> None:
    parsed = [parse_record(r, default_account="111111111111", default_region="us-east-1")
              for r in records]
    for i in range(0, len(parsed), 5000):
        writer.submit(parsed[i : i + 5000]).result()


def _run(detector: Detector, writer: LedgerWriter) -> None:
    """Evaluate everything stored, then append the findings to the ledger."""
    while detector.step():
        pass
    publisher = Publisher(detector.store, writer)
    while publisher.step():
        pass


def _ledger_findings(data_dir: Path, reader: LedgerReader | None = None
                     ) -> list[dict[str, Any]]:
    """The finding records in the ledger (`reader`'s, or the data dir's)."""
    own = reader is None
    reader = open_ledger_reader(data_dir) if reader is None else reader
    try:
        bodies = [orjson.loads(row.body) for row in scan(reader) if row.body is not None]
    finally:
        if own:
            reader.close()
    return [b for b in bodies if b.get("eventSource") == DETECT_SOURCE]


def test_findings_are_ledgered_once_and_never_evaluated(node: Node, rules: RuleSet) -> None:
    store, writer = node.store, node.writer
    detector = node.detector(rules)
    records = invictus()
    _append(writer, records)
    _run(detector, writer)
    _run(detector, writer)  # the findings it appended are read, and skipped
    expected = Counter({"AWS CloudTrail Important Change": 6, "AWS IAM Backdoor Users Keys": 2,
                        "AWS Successful Console Login Without MFA": 1,
                        # the sample's 42 + 34 AwsServiceEvents (none of them findings)
                        "Any service event": sum(r.get("eventType") == "AwsServiceEvent"
                                                 for r in records)})
    ledgered = _ledger_findings(node.data_dir, node.ledger)
    assert Counter(f["serviceEventDetails"]["ruleTitle"] for f in ledgered) == expected
    listed = store.listed(None, None, 1000)
    assert len(listed) == sum(expected.values())
    mfa = next(f for f in ledgered if f["serviceEventDetails"]["ruleTitle"].endswith("MFA"))
    assert mfa["eventName"] == "SigmaRuleMatch" and mfa["eventType"] == "AwsServiceEvent"
    assert mfa["recipientAccountId"] == INVICTUS_ACCOUNT
    detail = mfa["serviceEventDetails"]
    assert detail["eventId"] == "70e5932e-9022-4b38-837e-ca10dad94eb7"
    assert detail["eventName"] == "ConsoleLogin"
    assert detail["author"] == "Thuya@Hacktilizer, Ivan Saakov"
    assert detail["ruleId"] == "77caf516-34e5-4df9-b4db-20744fea0a60"
    assert detail["source"] == "aws/cloudtrail"
    detector.close()


def test_crash_before_the_cursor_moved_doubles_nothing(node: Node, rules: RuleSet) -> None:
    store, writer = node.store, node.writer
    node.detector(rules).close()  # cursor at 0
    _append(writer, invictus()[:1000])
    first = node.detector(rules)
    _run(first, writer)
    made = len(_ledger_findings(node.data_dir, node.ledger))
    assert made > 0
    # as if the batch were evaluated again (a lost cursor)
    assert store.save([], 0, store.cursor())
    _unpublish(node)  # as if appended but never marked
    again = node.detector(rules, NOW + 60)
    _run(again, writer)
    assert len(_ledger_findings(node.data_dir, node.ledger)) == made
    assert len(store.listed(None, None, 10_000)) == made
    first.close()
    again.close()


def test_first_start_begins_at_the_head_and_restarts_resume(node: Node,
                                                            rules: RuleSet) -> None:
    writer = node.writer
    records = invictus()
    _append(writer, records[:1500])  # stored before any rule was loaded: not evaluated
    detector = node.detector(rules)
    _run(detector, writer)
    assert detector.found == 0
    detector.close()
    _append(writer, records[1500:])  # stored while detection was off: evaluated at restart
    detector = node.detector(rules)
    _run(detector, writer)
    late = {r["eventID"] for r in records[1500:]}
    found = _ledger_findings(node.data_dir, node.ledger)
    assert found and all(f["serviceEventDetails"]["eventId"] in late for f in found)
    detector.close()


def test_acknowledge_and_account_isolation(node: Node, rules: RuleSet) -> None:
    store, writer = node.store, node.writer
    detector = node.detector(rules)
    _append(writer, invictus())
    _run(detector, writer)
    mine = store.listed((INVICTUS_ACCOUNT,), "open", 5)
    assert len(mine) == 5 and store.listed(("999999999999",), None, 5) == []
    target = mine[0].finding.id
    assert store.acknowledge(target, ("999999999999",), "intruder", NOW) is None
    done = store.acknowledge(target, (INVICTUS_ACCOUNT,), "AKIDEXAMPLE", NOW + 5)
    assert done is not None and done.state == "acknowledged"
    assert done.acknowledged_by == "AKIDEXAMPLE" and done.acknowledged_at == NOW + 5
    assert target not in {f.finding.id for f in store.listed(None, "open", 10_000)}
    page = store.listed(None, None, 3)
    after = page[-1].finding
    rest = store.listed(None, None, 10_000, after=(after.created, after.id))
    assert not {f.finding.id for f in page} & {f.finding.id for f in rest}
    assert len(page) + len(rest) == len(store.listed(None, None, 10_000))
    detector.close()


def test_replay_pages_through_history(tmp_path: Path, rules: RuleSet,
                                      writer: LedgerWriter) -> None:
    data_dir = tmp_path / "data"
    _append(writer, invictus())
    conn = open_ledger_reader(data_dir)  # replay reads through the LedgerReader interface
    found, start, end, pages = [], 0, None, 0
    while True:
        page = replay(conn, rules, (INVICTUS_ACCOUNT,), None, None, start, end, 700, NOW)
        found += page.findings
        end, pages = page.end, pages + 1
        if page.next_seq is None:
            break
        start = page.next_seq
    assert pages == 5  # 2,900 rows in pages of 700
    titles = Counter(f.detail["ruleTitle"] for f in found)
    assert titles["AWS CloudTrail Important Change"] == 6
    assert replay(conn, rules, ("999999999999",), None, None, 0, None, 5000, NOW).findings == []
    conn.close()


def test_converted_sources_are_evaluated_with_their_own_rules(tmp_path: Path,
                                                              writer: LedgerWriter) -> None:
    """An auditd log imported as CloudTrail records: the auditd rule reads the raw lines;
    the AWS rules never see those records."""
    from opentrail.sources import Options, convert

    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "padding.yml").write_text(RULES["AUDITD_BINARY_PADDING"])
    # An AWS rule that would match the converted records, were it shown them.
    (folder / "aws.yml").write_text(SERVICE_EVENTS.replace("eventType: AwsServiceEvent",
                                                           "eventSource: auditd"))
    rules = load_rules([folder])
    data_dir = tmp_path / "data"
    store = SqliteFindingStore(data_dir)
    detector = Detector(data_dir, ManualClock(NOW), rules, store)
    log = DATASETS / "auditd" / "otrf-linux" / "sh_binary_padding_dd_2020-11-10081941.log"
    records = [c.record for c in convert("auditd", log.read_bytes(), Options(
        account="123456789012")) if hasattr(c, "record")]
    assert records and all(r["eventSource"] == "auditd" for r in records)
    _append(writer, records)
    _run(detector, writer)
    [finding] = _ledger_findings(data_dir)
    detail = finding["serviceEventDetails"]
    assert detail["ruleTitle"] == "Binary Padding - Linux"
    assert detail["source"] == "linux/auditd" and detail["eventSource"] == "auditd"
    assert finding["recipientAccountId"] == "123456789012"
    detector.close()
    store.close()


def test_service_in_process_detects_and_publishes(tmp_path: Path, rules: RuleSet) -> None:
    """Service.open with --sigma-rules (indexer="thread": the detector is a thread): new
    events become findings, listed and ledgered; the rules are kept for the API."""
    from opentrail.config import Settings
    from opentrail.service import Service

    folder = tmp_path / "rules"  # written by the `rules` fixture
    settings = Settings(data_dir=tmp_path / "svc", sigma_rules=(str(folder),),
                        history_retention_days=0)  # the sample is from 2023: keep it
    service = Service.open(settings, ManualClock(NOW), indexer="thread")
    records = invictus()
    expected = 9 + sum(r.get("eventType") == "AwsServiceEvent" for r in records)
    try:
        assert service.sigma_rules is not None and len(service.sigma_rules.rules) == 4
        _append(service.writer, records)
        deadline = time.monotonic() + 60
        while len(_ledger_findings(settings.data_dir)) < expected \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        assert service.findings is not None
        listed = service.findings.listed(None, None, 1000)
        assert len(listed) == len(_ledger_findings(settings.data_dir)) == expected
    finally:
        service.close()


def test_byte_prefilter_only_prunes(tmp_path: Path) -> None:
    """RuleSet.might_match skips parsing a stored record only when no rule can match it:
    over the invictus sample, the rules anchored on eventName find the same as trying every
    record; names compare case-insensitively; a rule anchored elsewhere turns it off."""
    folder = tmp_path / "rules"
    folder.mkdir()
    for name in ("DISABLE_LOGGING", "CONSOLE_LOGIN_WITHOUT_MFA"):
        (folder / f"{name.lower()}.yml").write_text(RULES[name])
    rules = load_rules([folder])
    records = invictus()
    bodies = [orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in records]
    every = [(i, r.id) for i, rec in enumerate(records) for r in rules.match(rec)]
    pruned = [(i, r.id) for i, body in enumerate(bodies) if rules.might_match(body)
              for r in rules.match(orjson.loads(body))]
    assert every == pruned and every
    assert sum(rules.might_match(b) for b in bodies) < len(bodies) // 10
    assert rules.might_match(b'{"eventName":"stoplogging"}')
    assert not rules.might_match(b'{"eventName":"RunInstances"}')
    assert rules.might_match(b'{"eventName":"Odd\\"Name"}')  # escapes: parsed
    assert rules.might_match(b'{"additionalEventData":{"sourceFormat":"gcp"}}')
    (folder / "service.yml").write_text(SERVICE_EVENTS)  # anchored on eventType
    assert load_rules([folder]).might_match(b'{"eventName":"RunInstances"}')
