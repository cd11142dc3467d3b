"""Parquet files in docs/design/lake.md's layout, written by the tests themselves.

The query side is tested against the documented layout without running the writer: the
tests put invictus records into files, one per (store, account, region, date) partition,
with the Lake's own Arrow schema (lake.to_table).
"""

from __future__ import annotations

import glob
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

DATASET = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "invictus-aws"

def invictus_records() -> list[dict[str, Any]]:
    records = [r for f in sorted(glob.glob(str(DATASET / "CloudTrail" / "*.json")))
               for r in json.loads(Path(f).read_text())["Records"]]
    return sorted(records, key=lambda r: (r["eventTime"], r["eventID"]))


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@dataclass(frozen=True)
class Store:
    """What the query side needs of lake._model.EventDataStore."""

    id: str
    account: str
    region: str = "us-east-1"
    kind: str = "cloudtrail"


def write_store(root: Path, store_id: str, records: list[dict[str, Any]],
                first_seq: int = 1) -> list[Path]:
    """The records as Parquet files under root/<store-id>/account=/region=/date=/, with the
    Lake writer's own columns (lake.to_table)."""
    from opentrail.lake import LakeEntry, to_table

    parts: dict[tuple[str, str, str], list[LakeEntry]] = defaultdict(list)
    for seq, record in enumerate(records, first_seq):
        key = (record["recipientAccountId"], record["awsRegion"], record["eventTime"][:10])
        body = json.dumps(record, separators=(",", ":"), sort_keys=True).encode()
        parts[key].append(LakeEntry(seq, body, record))
    written = []
    for (account, region, day), entries in sorted(parts.items()):
        folder = root / store_id / f"account={account}" / f"region={region}" / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{entries[0].seq:020d}-{entries[-1].seq:020d}.parquet"
        pq.write_table(to_table("cloudtrail", entries), path, compression="zstd")
        written.append(path)
    return written


def store_files(root: Path, store: Any) -> Any:
    """The store's StoreScan, from the folder location reading the documented layout."""
    from opentrail.lake import FolderLocation

    return FolderLocation(root).scan(store.id)


def new_store_id() -> str:
    return str(uuid.uuid4())


def empty_table(store: Any) -> pa.Table:
    from opentrail.lake import schema_of

    return schema_of(store.kind).empty_table()
