"""Every real CloudTrail file in the invictus dataset parses with zero rejections."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import orjson
import pytest

from opentrail.events import Category, parse_record, split_batch

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
INVICTUS = DATASETS / "invictus-aws" / "CloudTrail"


@pytest.fixture(scope="module")
def invictus_files() -> list[Path]:
    files = sorted(INVICTUS.glob("*.json"))
    # ../shared is part of every checkout's setup (scripts/test checks it): fail, never skip.
    assert files, f"the invictus dataset is not at {INVICTUS}"
    return files


def test_every_file_parses_with_zero_rejections(invictus_files: list[Path]) -> None:
    assert len(invictus_files) == 55
    total = 0
    accounts: Counter[str] = Counter()
    for path in invictus_files:
        data = path.read_bytes()
        entries = split_batch(data)
        assert len(entries) == len(orjson.loads(data)["Records"])
        for entry in entries:
            record = parse_record(entry, default_account="000000000000",
                                  default_region="eu-west-1")
            assert orjson.loads(record.body) == entry  # nothing added, nothing lost
            assert record.category is Category.MANAGEMENT
            assert record.region == "us-east-1"
            accounts[record.account] += 1
        total += len(entries)
    assert total == 2900
    # The account comes from the records, never from the file names (218007301253).
    assert "218007301253" not in accounts and "000000000000" not in accounts
    assert accounts.most_common(1)[0][0] == "123837392027"


def test_gzip_delivery_form(invictus_files: list[Path]) -> None:
    data = invictus_files[0].read_bytes()
    assert split_batch(gzip.compress(data)) == split_batch(data)


def test_quirks_are_present_and_accepted(invictus_files: list[Path]) -> None:
    records = [r for p in invictus_files for r in orjson.loads(p.read_bytes())["Records"]]
    no_type = [r for r in records if "type" not in r["userIdentity"]]
    assert len(no_type) == 42
    assert {r["eventType"] for r in no_type} == {"AwsServiceEvent"}
    assert sum("requestID" not in r for r in records) == 5
    assert any(r["sourceIPAddress"] == "AWS Internal" for r in records)
