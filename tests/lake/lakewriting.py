"""Helpers for the Lake writer tests: a real ledger, stores, a writer over them."""

from __future__ import annotations

import glob
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from opentrail.clock import Clock, ManualClock
from opentrail.events import parse_record
from opentrail.lake import EventDataStore, FolderLocation, LakeLocation, LakeWriter, receives
from opentrail.ledger import LedgerWriter, load_signer

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
INVICTUS_ACCOUNT = "123837392027"
NOW = 1_790_000_000.0  # 2026-09-21


def invictus() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for path in sorted(glob.glob(str(DATASETS / "invictus-aws" / "CloudTrail" / "*.json"))):
        records.extend(orjson.loads(Path(path).read_bytes())["Records"])
    return records


def ingest(data_dir: Path, records: list[dict[str, Any]], clock: Clock | None = None) -> int:
    """Append records to the ledger (as the API would); returns the ledger's size."""
    writer = LedgerWriter(data_dir, clock or ManualClock(NOW))
    writer.start()
    try:
        parsed = [parse_record(r, default_account="111111111111", default_region="us-east-1")
                  for r in records]
        for i in range(0, len(parsed), 5000):
            writer.submit(parsed[i : i + 5000]).result()
        return writer.size
    finally:
        writer.close()


def make_store(account: str = INVICTUS_ACCOUNT, *, selectors: tuple[dict[str, Any], ...]
               | None = None, **changes: Any) -> EventDataStore:
    store = EventDataStore(
        id=str(uuid.uuid4()), account=account, region="us-east-1", name="store",
        status="ENABLED",
        selectors=selectors or ({"Name": "mgmt", "FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Management"]}]},),
        multi_region=True, organization=False, retention_days=3653,
        termination_protection=False, billing_mode="EXTENDABLE_RETENTION_PRICING",
        kms_key_id=None, created=NOW, updated=NOW, start_seq=0)
    return replace(store, **changes)


def make_writer(data_dir: Path, stores: list[EventDataStore],
                location: LakeLocation | None = None,
                clock: Clock | None = None) -> LakeWriter:
    if not (data_dir / "ledger.db").exists():
        ingest(data_dir, [])  # the ledger the writer follows
    return LakeWriter(data_dir, clock or ManualClock(NOW),
                      location or FolderLocation(data_dir / "lake"),
                      lambda: list(stores), receives, load_signer(data_dir))


def drain(writer: LakeWriter, size: int) -> None:
    """Step the writer until it has read the whole ledger and flushed its manifests."""
    for _ in range(1000):
        if writer.cursor >= size:
            break
        writer.step(force=True)
    writer.step(force=True)  # caught up: the examined ranges get their manifest
    assert writer.cursor == size


def management_ids(records: list[dict[str, Any]], account: str = INVICTUS_ACCOUNT,
                   **equals: Any) -> set[str]:
    """eventIDs a management store of `account` must hold, computed from the JSON."""
    out = set()
    for r in records:
        if r.get("recipientAccountId", account) != account:
            continue
        if r.get("eventCategory", "Management") != "Management":
            continue
        if all(r.get(k) == v for k, v in equals.items()):
            out.add(r["eventID"])
    return out
