"""The Lake writer: a ledger reader that appends each store's events to its Parquet files.

    ledger ──rows(cursor)──▶ receives(store, ...) per store ──▶ to_table per kind
        ──▶ one file per (store, account, region, event date), named by its ledger range
        ──▶ manifest n of each changed store ──▶ commit (cursor, files, chain) in its
            `WriterRows` (lake/_writer_rows.py: DATA_DIR/lake-writer.db, or PostgreSQL)

The cursor moves only after the batch's files and manifests are durable, so a crash or a
failing location loses nothing: the batch is redone. Redo safety: before writing, the
keys about to be written are committed as `pending`; whatever a crash leaves behind
(a pending key that no commit made part of the store) is deleted when the writer starts
or retries, before the batch is written again. So a reader may briefly see a file of an
unfinished batch, never a half file, and never a duplicate once the writer has recovered.

Handover (PostgreSQL: the state is shared, the writer runs on the lake-writer role's
node): a whole step or import runs under the rows' `exclusive()` lock, and reads the
cursor and chains under it, so whoever writes next goes on from the last commit, and
recovers (deletes) what a writer that died mid-commit left pending. The cursor and each
chain move by compare-and-set: a writer that lost the lock without noticing has its
commit rolled back (`LakeWriterMoved`), never a second chain or the same rows twice.

Batching: the writer wakes every POLL seconds; it takes up to BATCH events at once, and
waits up to LINGER seconds for a batch to fill, so files are not tiny at high ingest and
events are queryable within seconds. Maintenance (compaction of small files, retention
by whole date partitions) runs every MAINTAIN_EVERY seconds once the writer caught up.
A failing location is retried with exponential backoff (up to MAX_BACKOFF); the last
error of each store is kept for GetEventDataStore and the console (`status`).
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from opentrail.clock import Clock
from opentrail.events import Category
from opentrail.lake._location import LakeLocation, partition_of
from opentrail.lake._manifest import FileEntry, Receives, make_manifest, manifest_key
from opentrail.lake._model import EventDataStore
from opentrail.lake._schema import KINDS, LakeEntry, to_table
from opentrail.lake._selection import insight_source, reaches_accounts
from opentrail.lake._writer_rows import (
    EMPTY_CHAIN,
    WRITER_FILE,
    LakeWriterMoved,
    StoredChain,
    WriterRows,
    WriterTx,
    recorded_head,
)
from opentrail.ledger import LedgerReader, LedgerRow, NoteSigner, open_ledger_reader
from opentrail.storage import StorageError

__all__ = ["WRITER_FILE", "LakeStatus", "LakeWriter", "recorded_head"]

log = logging.getLogger(__name__)

BATCH = 20_000
LINGER = 5.0  # seconds a partial batch may wait to fill (fewer files and manifests)
POLL = 0.2
MAINTAIN_EVERY = 60.0
COVERAGE_EVERY = 300.0  # seconds before ranges examined without new rows get a manifest
MAX_BACKOFF = 60.0
SMALL_FILE = 16_384  # rows: files below it are compacted (a full batch is not)
COMPACT_MIN = 4  # small files in a partition before they are merged
MAX_ROWS = 131_072  # rows per file
ROW_GROUP = 8_192  # rows per row group: min/max statistics skip most of a file
# Rows within a file are ordered so that equal sources and names sit together: their
# row groups' statistics let an engine skip the rest (bench.lake: a `SELECT *` on one
# eventsource/eventname read 2.4x faster) and zstd packs them 18% smaller.
ORDER = (("eventsource", "ascending"), ("eventname", "ascending"),
         ("eventtime", "ascending"))
# Columns of one distinct value per row (ids, checksum, the record's text): no dictionary
# (it never pays: the writer fell back to plain after 1 MB of dictionary, and slowed) and
# lengths delta-encoded (DELTA_LENGTH_BYTE_ARRAY: the values' bytes back to back, which
# zstd packs closer to their entropy). bench.lake, 1 M events: the ids and checksum 12%
# smaller, the whole store 6% (docs/benchmarks.md, "Lake"). Pages stay at ~1,024 rows:
# one page per row group packed eventjson 6% smaller but made console-login ~30% slower
# (a page is decompressed whole to read any of its rows).
UNIQUE = ("eventjson", "eventjsonchecksum", "eventid", "requestid")
# A date partition is closed CLOSED_AFTER seconds after its day ended: compaction then
# merges all its files into as few sorted files of up to MAX_ROWS rows as it can, so a
# day's events of one eventsource/eventname sit in one or two row groups instead of one
# per batch file (bench.lake: console logins at 10 M events).
CLOSED_AFTER = 3600.0


class LakeStatus(NamedTuple):
    last_error: str | None
    last_error_time: float | None
    events: int
    files: int
    bytes: int
    last_write_time: float | None


@dataclass
class _Health:
    last_error: str | None = None
    last_error_time: float | None = None
    last_write_time: float | None = None


@dataclass
class _Change:
    """One store's part of a commit: files added/removed and ranges examined."""

    store: EventDataStore
    added: list[tuple[FileEntry, bytes]] = field(default_factory=list)
    removed: list[tuple[str, str]] = field(default_factory=list)  # (key, reason)
    ranges: list[tuple[int, int]] = field(default_factory=list)


def parquet_bytes(table: Any) -> bytes:
    import pyarrow.parquet as pq

    if all(name in table.column_names for name, _ in ORDER):  # cloudtrail stores
        table = table.sort_by(list(ORDER))
    unique = [name for name in UNIQUE if name in table.column_names]
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", row_group_size=ROW_GROUP,
                   use_dictionary=[p for p in _leaf_paths(table.schema) if p not in unique],
                   column_encoding=dict.fromkeys(unique, "DELTA_LENGTH_BYTE_ARRAY"))
    return buf.getvalue()


@functools.lru_cache(maxsize=16)
def _leaf_paths(schema: Any) -> tuple[str, ...]:
    """The Parquet column paths of `schema` (`useridentity.arn`, `requestparameters.
    key_value.key`, ...): what `use_dictionary` names (a top-level name does not reach
    the leaves of a struct or map)."""
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(schema.empty_table(), buf)
    parquet = pq.ParquetFile(io.BytesIO(buf.getvalue())).schema
    return tuple(parquet.column(i).path for i in range(len(parquet)))


def _file_entry(key: str, data: bytes, rows: int, seqs: list[int | None]) -> FileEntry:
    known = [s for s in seqs if s is not None]
    return FileEntry(key, hashlib.sha256(data).hexdigest(), rows, len(data),
                     min(known) if known else None, max(known) if known else None)


def _store_json(store: EventDataStore) -> str:
    import dataclasses

    return orjson.dumps(dataclasses.asdict(store), option=orjson.OPT_SORT_KEYS).decode()


class LakeWriter:
    """Follows the ledger; `stores()` names every store, `receives` picks their events."""

    def __init__(self, data_dir: Path, clock: Clock, location: LakeLocation,
                 stores: Callable[[], list[EventDataStore]], receives: Receives,
                 signer: NoteSigner, ledger: LedgerReader | None = None,
                 rows: WriterRows | None = None) -> None:
        """`rows`: where the writer's state is (the backend's; the writer closes them);
        DATA_DIR/lake-writer.db when None."""
        self.location = location
        self._clock, self._stores, self._receives, self._signer = clock, stores, receives, signer
        self._owns_ledger = ledger is None
        self._ledger = ledger if ledger is not None else open_ledger_reader(data_dir)
        if rows is None:
            from opentrail.backends.sqlite._lake_writer import SqliteWriterRows

            rows = SqliteWriterRows(data_dir)
        # API calls (status, recorded) read in short transactions of their own: they
        # never wait for a batch (or a failing location's timeouts), only for a commit.
        self._rows: WriterRows = rows
        self._lock = threading.RLock()
        with rows.read() as tx:
            self.cursor: int = tx.cursor()
        self.written = 0  # events written since start (for throughput reports)
        self._health: dict[str, _Health] = {}
        self._waiting_since: float | None = None
        self._last_maintain = float("-inf")
        self._recovered = False
        self._failures = 0

    def close(self) -> None:
        with self._lock:
            self._rows.close()
            if self._owns_ledger:
                self._ledger.close()

    # -- status --------------------------------------------------------------------------

    def status(self, store_id: str) -> LakeStatus:
        """The store's last location error (kept until a write succeeds), rows and files."""
        with self._rows.read() as tx:
            files, rows, size = tx.totals(store_id)
        health = self._health.get(store_id, _Health())
        return LakeStatus(health.last_error, health.last_error_time, rows, files, size,
                          health.last_write_time)

    def recorded(self, store_id: str) -> dict[str, tuple[int, int]]:
        """The store's files as committed: key -> (rows, bytes), imported files included.
        Queries take EventsScanned and BytesScanned from it (a query never waits for a
        batch being written; on PostgreSQL every node reads the same list)."""
        with self._rows.read() as tx:
            return tx.recorded(store_id)

    def files(self, store_id: str) -> list[FileEntry]:
        with self._rows.read() as tx:
            return tx.files(store_id)

    # -- running -------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Follow the ledger until `stop` is set; back off while the location fails.
        Each run (the role taken, or taken again) first recovers from the stored state."""
        self._recovered = False
        while not stop.is_set():
            try:
                busy = self.step()
                self._failures = 0
            except Exception as exc:  # the location failing must not stop the Lake for good
                self._failures += 1
                delay = min(MAX_BACKOFF, 0.5 * 2 ** self._failures)
                log.warning("lake writer: %s; retrying in %.1f s", exc, delay)
                stop.wait(delay)
                continue
            if not busy:
                stop.wait(POLL)

    def step(self, *, force: bool = False) -> int:
        """Write the next batch (if due) and run maintenance; returns events examined.
        `force` writes a partial batch at once (tests, shutdown)."""
        with self._exclusive():
            try:
                if not self._recovered:
                    self._recover()
                    self._recovered = True
                with self._rows.read() as tx:  # whoever committed last, this node or not
                    self.cursor = tx.cursor()
                done = self._batch(force)
            except StorageError as exc:
                self._recovered = False  # the next try first removes what this one left
                self._failed([s.id for s in self._stores()], exc)
                raise
            except BaseException:
                self._recovered = False
                raise
            if done == 0 and self._clock.now() - self._last_maintain >= MAINTAIN_EVERY:
                self.maintain()
            return done

    def maintain(self) -> None:
        """Compact small files and drop partitions past retention, store by store. A
        store whose maintenance fails keeps the error and is tried again next time; it
        never holds up the batches."""
        self._last_maintain = self._clock.now()
        for store in self._stores():
            if store.kind not in KINDS:
                continue
            try:
                self._retire(store)
                self._compact(store)
            except StorageError as exc:
                self._recovered = False
                self._failed([store.id], exc)
                log.warning("lake writer: maintenance of store %s failed: %s", store.id, exc)

    def _batch(self, force: bool) -> int:
        head = self._ledger.size()
        waiting = head - self.cursor
        if waiting <= 0:
            self._waiting_since = None
            return self._flush_coverage(force)
        now = time.monotonic()
        if self._waiting_since is None:
            self._waiting_since = now
        if waiting < BATCH and not force and now - self._waiting_since < LINGER:
            return 0
        # Stores are read after the ledger's head: a store created later starts at or
        # after it (its start_seq is the ledger's size when it was created).
        stores = [s for s in self._stores() if s.receiving and s.kind in KINDS]
        self._flush_changed()
        if not stores:  # nothing receives: move on without reading a body
            self._commit([], head)
            self._waiting_since = None
            return waiting
        rows = self._ledger.rows(self.cursor, BATCH)
        if not rows:
            return 0
        changes = self._select(rows, stores)
        self._commit(changes, rows[-1].seq + 1)
        self._waiting_since = None
        return len(rows)

    # -- selecting and converting ----------------------------------------------------------

    def _select(self, rows: list[LedgerRow], stores: list[EventDataStore]) -> list[_Change]:
        end = rows[-1].seq + 1
        changes = {s.id: _Change(s) for s in stores}
        chosen: dict[str, list[int]] = {s.id: [] for s in stores}
        objs: dict[int, dict[str, Any]] = {}
        for i, row in enumerate(rows):
            if row.body is None:
                continue  # expired in the ledger before the Lake saw it
            for store in stores:
                if row.seq < store.start_seq or (row.account != store.account
                                                 and not reaches_accounts(store)):
                    continue
                obj = objs.get(i)
                if obj is None:
                    obj = objs[i] = orjson.loads(row.body)
                if self._receives(store, row.account, row.region, obj, Category(row.category)):
                    chosen[store.id].append(i)
        for store in stores:
            start = max(rows[0].seq, store.start_seq)
            if start < end:
                changes[store.id].ranges.append((start, end))
        self._convert(rows, objs, stores, chosen, changes)
        return list(changes.values())

    def _convert(self, rows: list[LedgerRow], objs: dict[int, dict[str, Any]],
                 stores: list[EventDataStore], chosen: dict[str, list[int]],
                 changes: dict[str, _Change]) -> None:
        """One Arrow table per kind over every row any store of that kind chose; each
        store's files are slices of it, one per partition."""
        for kind in {s.kind for s in stores}:
            of_kind = [s for s in stores if s.kind == kind]
            # An Insight store's rows name its source store (insightsource): one table each.
            for group in ([s] for s in of_kind) if kind == "insight" else [of_kind]:
                self._convert_group(kind, group, rows, objs, chosen, changes)

    def _convert_group(self, kind: str, group: list[EventDataStore], rows: list[LedgerRow],
                       objs: dict[int, dict[str, Any]], chosen: dict[str, list[int]],
                       changes: dict[str, _Change]) -> None:
        wanted = sorted({i for s in group for i in chosen[s.id]})
        if not wanted:
            return
        position = {i: n for n, i in enumerate(wanted)}
        table = to_table(kind, [LakeEntry(rows[i].seq, rows[i].body or b"",
                                          _row_obj(group[0], kind, rows[i], objs[i]))
                                for i in wanted])
        for store in group:
            parts: dict[str, list[int]] = {}
            for i in chosen[store.id]:
                row = rows[i]
                parts.setdefault(partition_of(row.account, row.region, row.event_time),
                                 []).append(i)
            for part, idx in parts.items():
                first, last = rows[idx[0]].seq, rows[idx[-1]].seq
                key = f"{part}/{first:020d}-{last:020d}.parquet"
                data = parquet_bytes(table.take([position[i] for i in idx]))
                entry = _file_entry(key, data, len(idx), [first, last])
                changes[store.id].added.append((entry, data))

    # -- committing ------------------------------------------------------------------------

    def _commit(self, changes: list[_Change], cursor: int | None,
                flush_all: bool = False) -> None:
        """Write the changes' files and manifests, then commit them (and the cursor)."""
        now = self._clock.now()
        chains = {c.store.id: self._chain(c.store.id) for c in changes}
        manifests: dict[str, tuple[int, bytes]] = {}
        for change in changes:
            chain = chains[change.store.id]
            ranges = _merge(chain["ranges"] + change.ranges)
            due = (change.added or change.removed or flush_all
                   or (ranges and now - (chain["since"] or now) >= COVERAGE_EVERY))
            if due and (ranges or change.added or change.removed):
                manifests[change.store.id] = (chain["next"], make_manifest(
                    self._signer, change.store, chain["next"], chain["head"], ranges,
                    [e for e, _ in change.added], change.removed, now))
        keys = [f"{c.store.id}/{e.key}" for c in changes for e, _ in c.added]
        keys += [manifest_key(sid, n) for sid, (n, _) in manifests.items()]
        self._set_pending(keys)
        for change in changes:
            for entry, data in change.added:
                self.location.put(f"{change.store.id}/{entry.key}", data)
        for sid, (n, data) in manifests.items():
            self.location.put(manifest_key(sid, n), data)
        self._record(changes, chains, manifests, cursor, now)
        self._delete_removed(changes)

    def _record(self, changes: list[_Change], chains: dict[str, dict[str, Any]],
                manifests: dict[str, tuple[int, bytes]], cursor: int | None,
                now: float) -> None:
        with self._rows.write() as tx:
            for change in changes:
                self._record_change(tx, change, chains[change.store.id],
                                    manifests.get(change.store.id), now)
            # Removed files stay pending until deleted: a crash before that deletes them
            # at recovery, since no committed file has their key any more.
            tx.clear_pending()
            tx.add_pending([f"{c.store.id}/{k}" for c in changes for k, _ in c.removed])
            if cursor is not None and not tx.move(self.cursor, cursor):
                raise LakeWriterMoved(f"the Lake writer's cursor is no longer at "
                                      f"{self.cursor}: another writer moved it; this batch "
                                      "was not recorded")
        if cursor is not None:
            self.cursor = cursor
        for change in changes:
            self.written += sum(e.rows for e, _ in change.added)
            if change.added or change.removed:
                health = self._health.setdefault(change.store.id, _Health())
                health.last_error = health.last_error_time = None
                health.last_write_time = now

    def _record_change(self, tx: WriterTx, change: _Change, chain: dict[str, Any],
                       manifest: tuple[int, bytes] | None, now: float) -> None:
        """One store's files and chain, inside _record's transaction."""
        sid = change.store.id
        tx.add_files(sid, [e for e, _ in change.added])
        tx.remove_files(sid, [key for key, _ in change.removed])
        stored: StoredChain | None = None
        if manifest is not None:
            n, data = manifest
            stored = StoredChain(n + 1, hashlib.sha256(data).hexdigest(), "[]",
                                 _store_json(change.store), None)
        elif change.ranges:
            stored = StoredChain(chain["next"], chain["head"], orjson.dumps(_merge(
                chain["ranges"] + change.ranges)).decode(), _store_json(change.store),
                chain["since"] or now)
        if stored is not None and not tx.set_chain(sid, chain["next"], stored):
            raise LakeWriterMoved(f"store {sid}'s manifest chain is no longer at "
                                  f"{chain['next']}: another writer extended it; this "
                                  "commit was not recorded")

    def _delete_removed(self, changes: list[_Change]) -> None:
        keys = [f"{c.store.id}/{k}" for c in changes for k, _ in c.removed]
        if keys:
            self.location.delete(keys)
            with self._rows.write() as tx:
                tx.clear_pending()

    def _chain(self, store_id: str) -> dict[str, Any]:
        with self._rows.read() as tx:
            return _chain_dict(tx.chain(store_id))

    def _chains(self) -> dict[str, dict[str, Any]]:
        """Every store's chain (one read for all: the caught-up writer asks each poll)."""
        with self._rows.read() as tx:
            return {sid: _chain_dict(chain) for sid, chain in tx.chains().items()}

    def _set_pending(self, keys: list[str]) -> None:
        with self._rows.write() as tx:
            tx.add_pending(keys)

    def _failed(self, store_ids: Iterable[str], exc: StorageError) -> None:
        now = self._clock.now()
        for sid in store_ids:
            health = self._health.setdefault(sid, _Health())
            health.last_error, health.last_error_time = f"{exc.code}: {exc.message}", now

    def _recover(self) -> None:
        """Delete what an unfinished commit left (this writer's or, after a handover,
        the previous holder's): pending keys no commit kept."""
        stale = []
        with self._rows.read() as tx:
            self.cursor = tx.cursor()
            for key in tx.pending():
                store_id, _, rel = key.partition("/")
                if rel.startswith("_manifests/"):
                    n = int(rel.split("/")[1].split(".")[0])
                    if n >= _chain_dict(tx.chain(store_id))["next"]:
                        stale.append(key)
                elif not tx.has_file(store_id, rel):
                    stale.append(key)
        if stale:
            log.info("lake writer: removing %d files of an unfinished batch", len(stale))
            self.location.delete(stale)
        with self._rows.write() as tx:
            tx.clear_pending()

    def _flush_coverage(self, force: bool) -> int:
        """Caught up: write a manifest for stores whose examined ranges waited long enough
        (or all, when forced), so validation covers quiet stores too."""
        now = self._clock.now()
        due = []
        chains = self._chains()
        for store in self._stores():
            chain = chains.get(store.id) or _chain_dict(None)
            if chain["ranges"] and (force or now - (chain["since"] or now) >= COVERAGE_EVERY):
                due.append(_Change(self._snapshot(store, chain)))
        if due:
            self._commit(due, None, flush_all=True)
        return 0

    def _flush_changed(self) -> None:
        """A manifest for the ranges examined under a store's previous settings, before
        any range is examined under its new ones (selectors, status, ...)."""
        stale = []
        chains = self._chains()
        for store in self._stores():
            chain = chains.get(store.id) or _chain_dict(None)
            if chain["ranges"] and chain["store"] != _store_json(store):
                stale.append(_Change(self._snapshot(store, chain)))
        if stale:
            self._commit(stale, None, flush_all=True)

    def _snapshot(self, store: EventDataStore, chain: dict[str, Any]) -> EventDataStore:
        """The store as its pending ranges were examined."""
        from opentrail.lake._manifest import _store_from

        return _store_from(orjson.loads(chain["store"])) if chain["store"] else store

    # -- maintenance: compaction and retention ---------------------------------------------


    def _retire(self, store: EventDataStore) -> None:
        if store.retention_days <= 0:
            return
        cutoff = time.strftime("%Y-%m-%d", time.gmtime(
            self._clock.now() - store.retention_days * 86400))
        old = [e.key for e in self.files(store.id) if _date(e.key) < cutoff]
        if old:
            change = _Change(self._pending_store(store), removed=[(k, "retention") for k in old])
            self._commit([change], None)

    def _compact(self, store: EventDataStore) -> None:
        """Open partitions: merge small files once COMPACT_MIN of them wait. Closed ones
        (whole days past): merge every file into the fewest files of up to MAX_ROWS."""
        parts: dict[str, list[FileEntry]] = {}
        for entry in self.files(store.id):
            if entry.first_seq is not None:  # imported files keep their names
                parts.setdefault(entry.key.rsplit("/", 1)[0], []).append(entry)
        closed = time.strftime("%Y-%m-%d", time.gmtime(self._clock.now() - CLOSED_AFTER))
        for part, entries in parts.items():
            entries.sort(key=lambda e: e.first_seq or 0)
            if _date(part) < closed:
                groups = _day_groups(entries)
            else:
                small = [e for e in entries if e.rows < SMALL_FILE]
                groups = [_first_rows(small)] if len(small) >= COMPACT_MIN else []
            for group in groups:
                if len(group) >= 2:
                    self._merge_files(store, part, group)

    def _merge_files(self, store: EventDataStore, part: str, group: list[FileEntry]) -> None:
        """One file of `group`'s rows (sorted as every file is), recorded in the store's
        manifest as added, with each merged file as removed ("compaction")."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        tables = []
        for entry in group:
            raw = self.location.get(f"{store.id}/{entry.key}")
            if hashlib.sha256(raw).hexdigest() != entry.sha256:  # never launder a change
                raise StorageError("FileChanged", f"{entry.key} of store {store.id} changed "
                                   "since it was written; it is not compacted. Run "
                                   "`opentrail validate-lake` on the store.")
            tables.append(pq.read_table(io.BytesIO(raw)))
        table = pa.concat_tables(tables).sort_by("seq")
        first = min(e.first_seq or 0 for e in group)
        last = max(e.last_seq or 0 for e in group)
        key = f"{part}/{first:020d}-{last:020d}.parquet"
        data = parquet_bytes(table)
        del tables, table
        change = _Change(self._pending_store(store),
                         added=[(_file_entry(key, data, sum(e.rows for e in group),
                                             [first, last]), data)],
                         removed=[(e.key, "compaction") for e in group])
        self._commit([change], None)

    def _pending_store(self, store: EventDataStore) -> EventDataStore:
        return self._snapshot(store, self._chain(store.id))

    def write_import(self, store: EventDataStore, table: Any, name: str) -> list[FileEntry]:
        """Add imported rows (`to_table(store.kind, ...)` with no seq) to `store`, one file
        per partition named `<partition>/<name>.parquet` (e.g. `import-<ImportId>-<n:06d>`,
        so a retried chunk rewrites the same files), recorded in the store's manifest."""
        import pyarrow.compute as pc

        if not name.startswith("import-") or "/" in name:
            raise ValueError(f"An import file name starts with 'import-', not {name!r}.")
        account = table.column("recipientaccountid")
        if "useridentity" in table.column_names:
            account = pc.coalesce(account, pc.struct_field(table.column("useridentity"),
                                                           "accountid"))
        account = pc.coalesce(account, pa_scalar(store.account))
        region = pc.coalesce(table.column("awsregion"), pa_scalar(store.region))
        date = pc.strftime(table.column("eventtime"), format="%Y-%m-%d", locale="C")
        keys = [f"account={a}/region={r}/date={d}" for a, r, d in zip(
            account.to_pylist(), region.to_pylist(), date.to_pylist(), strict=True)]
        added = []
        for part in sorted(set(keys)):
            rows = [i for i, k in enumerate(keys) if k == part]
            data = parquet_bytes(table.take(rows))
            added.append((_file_entry(f"{part}/{name}.parquet", data, len(rows), []), data))
        with self._exclusive():
            try:
                if not self._recovered:
                    self._recover()
                    self._recovered = True
                self._commit([_Change(self._pending_store(store), added=added)], None)
            except BaseException:
                self._recovered = False  # the next batch first removes what this left
                raise
        return [entry for entry, _ in added]

    def exclusive(self) -> AbstractContextManager[Any]:
        """The writer's lock: no batch, compaction, retention or other import write runs
        while it is held (an import reads the eventIDs a store holds, then adds its rows),
        on this node nor, on PostgreSQL, on any other."""
        return self._exclusive()

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        with self._lock, self._rows.exclusive():
            yield

    def drop_store(self, store_id: str) -> None:
        """Delete every file and manifest of a purged store, and forget it."""
        with self._exclusive():
            keys = self.location.keys(f"{store_id}/")
            self.location.delete(keys)
            with self._rows.write() as tx:
                tx.drop_store(store_id)
            self._health.pop(store_id, None)


def _row_obj(store: EventDataStore, kind: str, row: LedgerRow,
             obj: dict[str, Any]) -> dict[str, Any]:
    """The record a row is made of: for an Insight store, with `insightSource` the ARN of
    the source store that sent it (as CloudTrail Lake fills it); `eventjson` stays the
    ledger's body either way."""
    if kind != "insight" or obj.get("insightSource"):
        return obj
    source = insight_source(store, row.account, row.region, obj)
    return {**obj, "insightSource": source} if source else obj


def pa_scalar(value: str) -> Any:
    import pyarrow as pa

    return pa.scalar(value, pa.string())


def _date(key: str) -> str:
    for part in key.split("/"):
        if part.startswith("date="):
            return part[5:]
    return "9999-99-99"


def _first_rows(entries: list[FileEntry]) -> list[FileEntry]:
    """The first entries (in ledger order) whose rows fit in one file of MAX_ROWS."""
    group: list[FileEntry] = []
    total = 0
    for entry in entries:
        if total + entry.rows > MAX_ROWS:
            break
        group.append(entry)
        total += entry.rows
    return group


def _day_groups(entries: list[FileEntry]) -> list[list[FileEntry]]:
    """A closed partition's files (in ledger order) cut into the fewest groups of up to
    MAX_ROWS rows, of about equal size; none when it already has that many files."""
    total = sum(e.rows for e in entries)
    count = max(1, -(-total // MAX_ROWS))
    if len(entries) <= count:
        return []
    target = -(-total // count)
    groups: list[list[FileEntry]] = [[]]
    rows = 0
    for entry in entries:
        if groups[-1] and (rows + entry.rows > MAX_ROWS or rows >= target):
            groups.append([])
            rows = 0
        groups[-1].append(entry)
        rows += entry.rows
    return groups


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _chain_dict(chain: StoredChain | None) -> dict[str, Any]:
    """A stored chain as the writer works with it (ranges parsed)."""
    chain = chain or EMPTY_CHAIN
    return {"next": chain.next, "head": chain.head,
            "ranges": [tuple(r) for r in orjson.loads(chain.ranges)], "store": chain.store,
            "since": chain.since}
