"""The ledger's readers go through `LedgerReader`, and only through it.

A static check keeps SQL against the ledger's tables inside `ledger/` (a second backend
then only has to implement the interface); a follower given a reader uses that one and
leaves it open for its owner.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

from opentrail.clock import ManualClock
from opentrail.events import Category, parse_record
from opentrail.history import HistoryIndexer, HistoryReader, LookupQuery
from opentrail.insights import InsightsEngine
from opentrail.ledger import LedgerWriter, SqliteLedgerReader, open_ledger_reader

SRC = Path(__file__).resolve().parents[2] / "src" / "opentrail"
LEAKS = re.compile(r"(FROM|INTO|JOIN|UPDATE)\s+(ledger\.)?events\b|\bATTACH\b|data_version"
                   r"|\bopen_reader\(")
# Not readers: the ledger itself (and its PostgreSQL implementation, the backend's
# `_ledger_*` modules), the key store's own cache (`PRAGMA data_version` of keys.db, in
# the SQLite backend of the key store since the backends/ seam), and `opentrail
# verify`, which checks SQLite's append-only triggers.
ALLOWED = ("ledger/", "backends/postgres/_ledger_", "auth/_keys.py",
           "backends/sqlite/_keys.py", "cli/verify.py")
NOW = 1795600000.0
ACCOUNT = "123456789012"


def test_no_sql_against_the_ledger_outside_ledger() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        name = path.relative_to(SRC).as_posix()
        if name.startswith(ALLOWED):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if LEAKS.search(line):
                found.append(f"{name}:{number}: {line.strip()}")
    assert found == []


class CountingReader(SqliteLedgerReader):
    """The SQLite reader, counting calls and refusing to be closed by a borrower."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.calls = 0
        self.closed = False

    def rows(self, *args: object, **kwargs: object) -> list:  # type: ignore[override]
        self.calls += 1
        return super().rows(*args, **kwargs)  # type: ignore[arg-type]

    def bodies(self, *args: object) -> dict:  # type: ignore[override]
        self.calls += 1
        return super().bodies(*args)  # type: ignore[arg-type]

    def close(self) -> None:
        self.closed = True
        super().close()


def _record() -> object:
    raw = {"eventVersion": "1.11", "eventSource": "s3.amazonaws.com",
           "eventName": "ListBuckets",
           "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - 3600)),
           "awsRegion": "us-east-1", "eventID": str(uuid.uuid4()),
           "recipientAccountId": ACCOUNT}
    return parse_record(raw, default_account=ACCOUNT, default_region="us-east-1")


def test_followers_use_the_reader_they_are_given_and_leave_it_open(tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    writer = LedgerWriter(tmp_path, clock)
    writer.start()
    writer.submit([_record(), _record()]).result()
    reader = CountingReader(tmp_path)
    indexer = HistoryIndexer(tmp_path, clock, 0, ledger=reader)
    assert indexer.step() == 2
    engine = InsightsEngine(tmp_path, clock, writer, lambda *_: False, ledger=reader)
    assert engine.count() == 2
    lookups = HistoryReader(tmp_path, clock, 0, ledger=reader)
    query = LookupQuery((ACCOUNT,), "us-east-1", Category.MANAGEMENT, (), None, None, None, 50)
    assert len(lookups.lookup(query).events) == 2
    assert reader.calls == 3
    indexer.close()
    engine.close()
    assert not reader.closed
    writer.close()
    reader.close()


def test_a_follower_closes_the_reader_it_opened(tmp_path: Path) -> None:
    writer = LedgerWriter(tmp_path, ManualClock(NOW))
    writer.close()
    indexer = HistoryIndexer(tmp_path, ManualClock(NOW), 0)
    assert indexer.step() == 0
    indexer.close()
    assert open_ledger_reader(tmp_path).size() == 0
