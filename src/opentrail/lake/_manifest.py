"""Signed, chained manifests of a store's files, and `validate_lake`, which checks them.

Every change to a store's files (a writer batch, a compaction, a retention delete, an
import) is recorded in one manifest, `<store-id>/_manifests/<n:012d>.json`:

    {"version": "1", "storeId", "store": {the EventDataStore as the writer saw it},
     "sequence": n, "previousManifestHash": hex SHA-256 of manifest n-1's bytes | null,
     "time", "ledgerRanges": [[from, to), ...]  (ledger seqs examined for this store),
     "added": [{"key", "sha256", "rows", "bytes", "firstSeq", "lastSeq"}],
     "removed": [{"key", "reason": "compaction" | "retention" | "redo"}],
     "signature": a signed note (ledger/_note.py) by the server's checkpoint key over
                  "opentrail.lake/manifest\\n<storeId>\\n<n>\\n<SHA-256 of the rest>\\n"}

Keys are relative to the store's folder. The chain makes a removed, reordered or edited
manifest visible; the signature makes a forged one visible; replaying the chain gives
the exact set of files (with their hashes and row counts) the store must hold.

`validate_lake` then proves, from the ledger alone, that the store holds exactly the
ledger's events its selectors chose over the ranges the manifests cover: every row's
`eventjson` hashes to the ledger's Merkle leaf at its `seq`, every selected event is
there once, and nothing else is (events of partitions deleted by retention excepted).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from opentrail.events import Category
from opentrail.lake._location import LakeLocation, partition_of
from opentrail.lake._model import EventDataStore
from opentrail.ledger import (
    LedgerReader,
    NoteError,
    NoteSigner,
    NoteVerifier,
    SqliteLedgerReader,
)

__all__ = ["MANIFESTS", "FileEntry", "LakeReport", "Receives", "make_manifest",
           "manifest_key", "validate_lake"]

MANIFESTS = "_manifests"
VERSION = "1"
READ_CHUNK = 20_000

Receives = Callable[[EventDataStore, str, str, dict[str, Any], Category], bool]


@dataclass(frozen=True)
class FileEntry:
    key: str  # relative to the store's folder: account=.../region=.../date=.../name.parquet
    sha256: str
    rows: int
    bytes: int
    first_seq: int | None  # None for imported files (no ledger seq)
    last_seq: int | None

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "sha256": self.sha256, "rows": self.rows, "bytes": self.bytes,
                "firstSeq": self.first_seq, "lastSeq": self.last_seq}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileEntry:
        return cls(data["key"], data["sha256"], data["rows"], data["bytes"],
                   data.get("firstSeq"), data.get("lastSeq"))


def manifest_key(store_id: str, n: int) -> str:
    return f"{store_id}/{MANIFESTS}/{n:012d}.json"


def _store_json(store: EventDataStore) -> dict[str, Any]:
    return dataclasses.asdict(store)


def _store_from(data: dict[str, Any]) -> EventDataStore:
    names = {f.name for f in dataclasses.fields(EventDataStore)}
    values = {k: v for k, v in data.items() if k in names}
    for name in ("selectors", "insight_selectors", "insight_sources"):
        if name in values:
            values[name] = tuple(values[name] or ())
    return EventDataStore(**values)


def _signed_text(store_id: str, n: int, body: bytes) -> str:
    return f"opentrail.lake/manifest\n{store_id}\n{n}\n{hashlib.sha256(body).hexdigest()}\n"


def make_manifest(signer: NoteSigner, store: EventDataStore, n: int, previous: str | None,
                  ranges: list[tuple[int, int]], added: list[FileEntry],
                  removed: list[tuple[str, str]], now: float) -> bytes:
    """Manifest n of `store`'s chain, signed: the bytes to store."""
    content: dict[str, Any] = {
        "version": VERSION, "storeId": store.id, "store": _store_json(store), "sequence": n,
        "previousManifestHash": previous,
        "time": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ledgerRanges": [list(r) for r in ranges],
        "added": [f.to_json() for f in added],
        "removed": [{"key": key, "reason": reason} for key, reason in removed],
    }
    body = orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
    content["signature"] = signer.sign(_signed_text(store.id, n, body))
    return orjson.dumps(content, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)


# -- validation -------------------------------------------------------------------------


@dataclass
class LakeReport:
    store_id: str
    manifests: int = 0
    files: int = 0
    rows: int = 0
    covered: int = 0  # ledger events examined (the manifests' ranges)
    selected: int = 0  # of those, the events the selectors chose
    unchecked: int = 0  # events whose body the ledger no longer holds (retention)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Chain:
    files: dict[str, FileEntry] = field(default_factory=dict)
    ranges: list[tuple[int, int, EventDataStore]] = field(default_factory=list)
    retired: set[str] = field(default_factory=set)  # partitions deleted by retention
    head: str | None = None  # SHA-256 of the last manifest's bytes


def validate_lake(location: LakeLocation, store_id: str, verifier: NoteVerifier,
                  ledger: LedgerReader | sqlite3.Connection, receives: Receives,
                  head: tuple[int, str | None] | None = None) -> LakeReport:
    """Check the store's manifest chain, files and rows against the ledger (`ledger` is
    its reader, or a read connection to a ledger.db). Every finding is a sentence in
    `report.problems`.

    `head` is (number of manifests, SHA-256 of the last) as the writer recorded them
    (the writer's rows: `recorded_head`), when at hand: it proves the chain was not cut
    short.
    """
    if isinstance(ledger, sqlite3.Connection):
        ledger = SqliteLedgerReader.over(ledger)
    report = LakeReport(store_id)
    keys = location.keys(f"{store_id}/")
    manifests = [k for k in keys if k.startswith(f"{store_id}/{MANIFESTS}/")]
    chain = _replay(location, store_id, manifests, verifier, report)
    data = {k[len(store_id) + 1:] for k in keys if k.endswith(".parquet")
            and not k.startswith(f"{store_id}/{MANIFESTS}/")}
    if head is not None and (len(manifests), chain.head) != head:
        report.problems.append(
            f"The store has {len(manifests)} manifests; the writer recorded {head[0]} "
            "ending in another hash: manifests were removed or replaced.")
    for key in sorted(data - chain.files.keys()):
        report.problems.append(f"File {key} is in the store but in no manifest: it was "
                               "added after the writer wrote the store.")
    for key in sorted(chain.files.keys() - data):
        report.problems.append(f"File {key} is listed by the manifests but missing: it was "
                               "removed.")
    seqs = _check_files(location, store_id, [chain.files[k] for k in sorted(
        data & chain.files.keys())], ledger, receives, chain, report)
    _check_selection(ledger, receives, chain, seqs, report)
    return report


def _replay(location: LakeLocation, store_id: str, manifests: list[str],
            verifier: NoteVerifier, report: LakeReport) -> _Chain:
    chain = _Chain()
    previous: str | None = None
    for n, key in enumerate(manifests):
        raw = location.get(key)
        report.manifests += 1
        if key != manifest_key(store_id, n):
            report.problems.append(f"Manifest {key} is out of sequence: expected "
                                   f"{manifest_key(store_id, n)} (a manifest was removed).")
        content = _open_manifest(raw, key, store_id, n, verifier, report)
        if content is None:
            previous = hashlib.sha256(raw).hexdigest()
            continue
        if content.get("previousManifestHash") != previous:
            report.problems.append(f"Manifest {key} does not chain to the manifest before it "
                                   "(its previousManifestHash differs).")
        previous = hashlib.sha256(raw).hexdigest()
        store = _store_from(content["store"])
        for item in content.get("removed", []):
            chain.files.pop(item["key"], None)
            if item.get("reason") == "retention":
                chain.retired.add(item["key"].rsplit("/", 1)[0])
        for item in content.get("added", []):
            entry = FileEntry.from_json(item)
            chain.files[entry.key] = entry
        chain.ranges.extend((a, b, store) for a, b in content.get("ledgerRanges", []))
    chain.head = previous
    return chain


def _open_manifest(raw: bytes, key: str, store_id: str, n: int, verifier: NoteVerifier,
                   report: LakeReport) -> dict[str, Any] | None:
    try:
        content = orjson.loads(raw)
        signature = content.pop("signature")
        body = orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
        if verifier.open(signature) != _signed_text(store_id, n, body):
            raise NoteError("the signed text does not match the manifest's content")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        report.problems.append(f"Manifest {key} fails its signature check: {exc}. It was "
                               "changed after it was signed, or signed by another key.")
        return None
    if not isinstance(content, dict):
        return None
    return content


def _check_files(location: LakeLocation, store_id: str, files: list[FileEntry],
                 ledger: LedgerReader,
                 receives: Receives, chain: _Chain, report: LakeReport) -> dict[int, str]:
    """Hash and read every file; returns seq -> key of every row with a ledger seq."""
    import pyarrow.parquet as pq

    seqs: dict[int, str] = {}
    for entry in files:
        raw = location.get(f"{store_id}/{entry.key}")
        report.files += 1
        if hashlib.sha256(raw).hexdigest() != entry.sha256:
            report.problems.append(f"File {entry.key} was changed: its SHA-256 differs from "
                                   "the manifest's.")
            continue
        table = pq.read_table(io.BytesIO(raw), columns=["seq", "eventjson"])
        report.rows += table.num_rows
        if table.num_rows != entry.rows:
            report.problems.append(f"File {entry.key} holds {table.num_rows} rows; the "
                                   f"manifest says {entry.rows}.")
        pairs = [(s, j) for s, j in zip(table.column("seq").to_pylist(),
                                        table.column("eventjson").to_pylist(), strict=True)
                 if s is not None]
        _check_rows(entry.key, pairs, ledger, seqs, report)
    return seqs


def _check_rows(key: str, pairs: list[tuple[int, str]], ledger: LedgerReader, seqs: dict[int, str],
                report: LakeReport) -> None:
    leaf = ledger.leaves([s for s, _ in pairs])
    for seq, text in pairs:
        if seq in seqs:
            report.problems.append(f"Event seq {seq} is stored twice ({seqs[seq]} and {key}).")
        seqs[seq] = key
        want = leaf.get(seq)
        if want is None or hashlib.sha256(b"\x00" + text.encode()).digest() != want:
            report.problems.append(f"Row seq {seq} of {key} is not the ledger's event "
                                   "(its eventjson does not hash to the ledger's leaf).")


def _check_selection(ledger: LedgerReader, receives: Receives, chain: _Chain, seqs: dict[int, str],
                     report: LakeReport) -> None:
    """Recompute the selection over every covered range and compare with the rows held."""
    expected: set[int] = set()
    covered: set[int] = set()
    for start, end, store in chain.ranges:
        at = start
        while at < end:
            rows = ledger.rows(at, READ_CHUNK, end)
            if not rows:
                break
            for row in rows:
                covered.add(row.seq)
                if row.body is None:
                    report.unchecked += 1
                    if row.seq in seqs:
                        expected.add(row.seq)  # proven by its leaf; selection not re-run
                    continue
                obj = orjson.loads(row.body)
                if receives(store, row.account, row.region, obj, Category(row.category)):
                    expected.add(row.seq)
                    if row.seq not in seqs and _partition(row) not in chain.retired:
                        report.problems.append(
                            f"Event seq {row.seq} was selected by the store's selectors but "
                            "is not in the store.")
            at = rows[-1].seq + 1
    report.covered, report.selected = len(covered), len(expected)
    for seq in sorted(set(seqs) - expected):
        why = ("its selectors did not choose it" if seq in covered
               else "no manifest covers its ledger range")
        report.problems.append(f"Event seq {seq} is in the store ({seqs[seq]}) but {why}.")


def _partition(row: Any) -> str:
    return partition_of(row.account, row.region, row.event_time)
