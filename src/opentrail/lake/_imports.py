"""Imports: copy CloudTrail log files from a trail bucket into an event data store.

    StartImport ──▶ ImportRunner.start (lake-imports.db: INITIALIZING)
    thread: list the source under S3LocationUri ──▶ IN_PROGRESS ──▶ per day prefix:
        get each file ──gunzip, {"Records": [...]}, events.parse_record──▶ window,
        retention and eventID checks ──▶ LakeWriter.add_files (Parquet, `import-<id>-<n>`
        in the store's hive partitions, one manifest) ──▶ files marked done
    ──▶ COMPLETED | FAILED (some files failed) | STOPPED (StopImport)

Which files: every key under the URI laid out as a trail delivers them,
`[prefix/]AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/NAME`; a day prefix is
one such `.../YYYY/MM/DD/` folder. Other keys under a `CloudTrail/` folder are foreign
files and become failures; keys outside one (digests, Insights) are not trail logs and are
left alone. The time window picks files by the date of their folder and the time in
their name (`..._YYYYMMDDTHHMMZ_...`: events of a file precede it), then events by
`eventTime`.

Idempotent: before a batch is added, the eventIDs already in the store's partitions of
the same dates (written by the Lake writer from the ledger or by any import) are read,
under the writer's lock, and those events are skipped. Resumable: files are marked done
only after their events are durable; a retry (StartImport with the ImportId) or a server
restart goes through every file not done, so it resumes at the failures. State is kept
by `ImportRows` (_import_rows.py: DATA_DIR/lake-imports.db, or PostgreSQL's tables shared
by every node); one import runs at a time, on the node running `run` (service.py runs it
on the lake-writer role's node, so the next holder resumes an import from its done
files), one per account.
"""

from __future__ import annotations

import io
import logging
import re
import threading
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

from opentrail.clock import Clock
from opentrail.errors import (
    AccountHasOngoingImport,
    EventDataStoreHasOngoingImport,
    ImportNotFound,
    InvalidEventDataStoreCategory,
    InvalidEventDataStoreStatus,
    InvalidRecord,
    ValidationError,
)
from opentrail.events import parse_record
from opentrail.events._gzip import GZIP_MAGIC, gunzip
from opentrail.lake._import_rows import (
    ONGOING,
    Failure,
    Import,
    ImportRows,
    NewImport,
)
from opentrail.lake._location import LakeLocation, partition_of
from opentrail.lake._manifest import FileEntry
from opentrail.lake._model import EventDataStore
from opentrail.storage import Storage, StorageError

__all__ = ["IMPORTS_FILE", "ONGOING", "Import", "ImportRunner", "ImportSink", "ImportSource",
           "check_destination", "parse_s3_uri", "source_opener",
           "write_import_batch"]

log = logging.getLogger(__name__)

IMPORTS_FILE = "lake-imports.db"
FINISHED = ("COMPLETED", "FAILED", "STOPPED")
IMPORT_STATUSES = (*ONGOING, *FINISHED)
DESTINATION_STATUSES = ("ENABLED", "STOPPED_INGESTION")
MAX_FILE_BYTES = 512 * 1024 * 1024  # a trail log file once gunzipped
BATCH_EVENTS = 50_000  # events buffered before they are written
POLL = 0.5
DELIVERY_SLACK = 86_400  # seconds a file's name time may trail its last event

# [prefix/]AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/NAME
LOG_KEY = re.compile(r"(?:^|.*/)AWSLogs/(?:o-[a-z0-9]{10,32}/)?(\d{12})/CloudTrail/"
                     r"([a-z0-9-]+)/(\d{4})/(\d{2})/(\d{2})/([^/]+)$")
NAME_TIME = re.compile(r"_(\d{8}T\d{4}Z)_")
IN_CLOUDTRAIL = re.compile(r"(?:^|/)CloudTrail/")

class ImportSink(Protocol):
    """Where imported records go: the Lake writer (`LakeWriter`)."""

    location: LakeLocation

    def files(self, store_id: str) -> list[FileEntry]: ...

    def write_import(self, store: EventDataStore, table: Any, name: str) -> list[FileEntry]: ...

    def exclusive(self) -> AbstractContextManager[Any]: ...


@dataclass(frozen=True)
class ImportSource:
    """A parsed S3LocationUri and how to read its bucket."""

    bucket: str
    prefix: str
    storage: Storage

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, prefix) of `s3://bucket[/prefix]`; ValueError naming the problem."""
    if not uri.startswith("s3://"):
        raise ValueError(f"S3LocationUri {uri!r} must start with s3://.")
    bucket, _, prefix = uri[5:].partition("/")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]", bucket) or ".." in bucket:
        raise ValueError(f"S3LocationUri {uri!r} does not name a valid S3 bucket (3-63 of "
                         "a-z, 0-9, '.', '-').")
    return bucket, prefix


def write_import_batch(sink: ImportSink, store: EventDataStore, name: str,
                       entries: list[Any]) -> None:
    """Write one batch of imported records (`LakeEntry`, seq None) into the store's
    partitions as `<partition>/<name>.parquet` files. The one place imports touch the
    Parquet writing code (lake/_schema, LakeWriter.write_import)."""
    from opentrail.lake._schema import to_table

    if entries:
        sink.write_import(store, to_table(store.kind, entries), name)


@dataclass
class _LogFile:
    key: str
    prefix: str  # the day prefix (`.../YYYY/MM/DD/`) or "" for a foreign file
    account: str
    region: str


class _FileFailed(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type, self.message = error_type, message


class ImportRunner:
    """Imports' state (`ImportRows`) and the thread that runs them, one at a time."""

    def __init__(self, data_dir: Path, clock: Clock, sink: ImportSink,
                 stores: Callable[[str], EventDataStore | None],
                 open_source: Callable[[dict[str, Any]], ImportSource], *,
                 rows: ImportRows | None = None) -> None:
        """`rows`: where imports are kept (DATA_DIR/lake-imports.db by default; this
        runner closes them)."""
        self._clock, self._sink, self._stores = clock, sink, stores
        self.open_source = open_source  # S3 member of an ImportSource -> ImportSource
        if rows is None:
            from opentrail.backends.sqlite import SqliteImportRows

            rows = SqliteImportRows(data_dir)
        self._rows: ImportRows = rows
        self._wake = threading.Event()

    def close(self) -> None:
        self._rows.close()

    # -- the API's questions -----------------------------------------------------------------

    def start(self, account: str, store: EventDataStore, source: dict[str, Any],
              start_time: float | None, end_time: float | None) -> Import:
        """A new import (INITIALIZING) into `store`, checked against the spec's rules."""
        check_destination(store)
        import_id = str(uuid.uuid4())
        _refuse_ongoing(self._rows.add(NewImport(
            import_id, account, store.id, store.arn, orjson.dumps(source).decode(),
            start_time, end_time, self._clock.now())))
        self._wake.set()
        return self.get(account, import_id)

    def retry(self, account: str, import_id: str) -> Import:
        """StartImport with only the ImportId: go again through every file not done."""
        current = self.get(account, import_id)
        store = self._stores(current.store_id)
        if store is None:
            raise InvalidEventDataStoreStatus(
                f"The import {import_id} cannot be retried: its destination event data "
                f"store {current.store_arn} no longer exists.")
        check_destination(store)
        _refuse_ongoing(self._rows.retry(account, import_id, self._clock.now()))
        self._wake.set()
        return self.get(account, import_id)

    def get(self, account: str, import_id: str) -> Import:
        found = self._rows.get(import_id, account)
        if found is None:
            raise ImportNotFound(f"The import {import_id} was not found in this account.")
        return found

    def stop(self, account: str, import_id: str) -> Import:
        """StopImport: an ongoing import ends STOPPED after the file it is reading; a
        finished one is returned as it is."""
        self.get(account, import_id)
        self._rows.stop(import_id, self._clock.now())
        return self.get(account, import_id)

    def imports(self, account: str, store_id: str | None = None,
             status: str | None = None) -> list[Import]:
        return self._rows.find(account, store_id, status)

    def failures(self, account: str, import_id: str) -> list[Failure]:
        return self._rows.failures(account, import_id)

    def guard(self, store: EventDataStore, action: str) -> None:
        """EventDataStoreHasOngoingImport if an import into the store is in progress."""
        ongoing = self._rows.ongoing_in(store.id)
        if ongoing is not None:
            raise EventDataStoreHasOngoingImport(
                f"The event data store {store.arn} cannot be {action}: the import {ongoing} "
                "into it is in progress. Wait for it to finish or stop it with StopImport.")

    # -- the thread ----------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Run ongoing imports (oldest first) until `stop` is set."""
        while not stop.is_set():
            ran = False
            try:
                ran = self.step(stop)
            except Exception:  # one broken import must not stop the others for good
                log.exception("lake import failed")
            if not ran:
                self._wake.wait(POLL)
                self._wake.clear()

    def step(self, stop: threading.Event | None = None) -> bool:
        """Run the oldest ongoing import to its end; False if there was none."""
        job = self._rows.next_ongoing()
        if job is None:
            return False
        try:
            _Run(self, job, stop).run()
        except Exception as exc:
            log.exception("lake import %s failed", job.id)
            self._fail(job.id, f"s3://{_bucket_of(job)}", "InternalError",
                       f"The import stopped on an unexpected error: {exc}.")
            self._finish(job.id)
        return True

    # -- state changes used by _Run ------------------------------------------------------------

    def _status(self, import_id: str) -> str:
        return self._rows.status(import_id) or "STOPPED"

    def _fail(self, import_id: str, location: str, error_type: str, message: str) -> None:
        self._rows.fail(import_id, location, error_type, message, self._clock.now())

    def _finish(self, import_id: str) -> None:
        """COMPLETED, or FAILED when files failed; a stopped import stays STOPPED."""
        self._rows.finish(import_id, self._clock.now())


def _refuse_ongoing(ongoing: str | None) -> None:
    if ongoing is not None:
        raise AccountHasOngoingImport(
            f"The import {ongoing} of this account is still in progress: an account runs "
            "one import at a time. Wait for it to finish or stop it with StopImport.")


def _bucket_of(job: Import) -> str:
    uri = str(job.source.get("S3", {}).get("S3LocationUri", "s3://"))
    return uri[5:].split("/", 1)[0]


def check_destination(store: EventDataStore) -> None:
    """A store may receive an import: CloudTrail events, ENABLED or STOPPED_INGESTION."""
    if store.kind != "cloudtrail":
        raise InvalidEventDataStoreCategory(
            f"The event data store {store.arn} holds {store.category} events; imports copy "
            "CloudTrail events and need a store of Management, Data or NetworkActivity "
            "events.")
    if store.status not in DESTINATION_STATUSES:
        raise InvalidEventDataStoreStatus(
            f"The event data store {store.arn} is {store.status}; an import needs it ENABLED "
            "or STOPPED_INGESTION.")


def _day_bounds(prefix_date: tuple[str, str, str]) -> tuple[float, float]:
    start = datetime(int(prefix_date[0]), int(prefix_date[1]), int(prefix_date[2]),
                     tzinfo=UTC).timestamp()
    return start, start + 86_400


def _name_time(name: str) -> float | None:
    match = NAME_TIME.search(name)
    if match is None:
        return None
    try:
        return datetime.strptime(match.group(1), "%Y%m%dT%H%MZ").replace(
            tzinfo=UTC).timestamp()
    except ValueError:
        return None


class _Run:
    """One pass of one import over its source."""

    def __init__(self, runner: ImportRunner, job: Import,
                 stop: threading.Event | None) -> None:
        self.runner, self.job, self.stop = runner, job, stop
        self.store: EventDataStore | None = None
        self.buffer: list[tuple[str, Any]] = []
        self.buffered_files: list[str] = []
        self.known: dict[str, set[str]] = {}  # date -> eventIDs in the store that day
        self.read_keys: set[str] = set()  # the store's files whose eventIDs are in known
        self.pending_ids: set[str] = set()

    def stopped(self) -> bool:
        return (self.stop is not None and self.stop.is_set()) or \
            self.runner._status(self.job.id) not in ONGOING

    def run(self) -> None:
        runner, job = self.runner, self.job
        listed = self._list()
        if listed is None:
            runner._finish(job.id)
            return
        source, prefixes = listed
        done = runner._rows.done(job.id)
        complete = sum(1 for p, fs in prefixes.items()
                       if p and all(source.uri(f.key) in done for f in fs))
        runner._rows.begin(job.id, sum(1 for p in prefixes if p), complete,
                           runner._clock.now())
        for prefix in sorted(prefixes):
            todo = [f for f in prefixes[prefix] if source.uri(f.key) not in done]
            if todo and not self._import_prefix(source, prefix, todo):
                return
        runner._finish(job.id)

    def _list(self) -> tuple[ImportSource, dict[str, list[_LogFile]]] | None:
        """The source and its log files by prefix; None (the import FAILED) when the
        store is gone or the source cannot be listed."""
        runner, job = self.runner, self.job
        self.store = runner._stores(job.store_id)
        if self.store is None:
            runner._fail(job.id, job.store_arn, "EventDataStoreNotFound",
                         f"The destination event data store {job.store_arn} no longer exists.")
            return None
        s3 = job.source.get("S3", {})
        try:
            source = runner.open_source(s3)
            keys = source.storage.list(source.bucket, source.prefix)
        except StorageError as exc:
            runner._fail(job.id, str(s3.get("S3LocationUri")), exc.code,
                         f"Cannot list {s3.get('S3LocationUri')}: {exc.message}")
            return None
        prefixes: dict[str, list[_LogFile]] = {}
        for f in self._select(keys):
            prefixes.setdefault(f.prefix, []).append(f)
        return source, prefixes

    def _import_prefix(self, source: ImportSource, prefix: str, todo: list[_LogFile]
                       ) -> bool:
        """Read and write `todo`, the files of `prefix` not done yet; False when the
        import was stopped on the way (what was read is written first)."""
        runner = self.runner
        for f in todo:
            if self.stopped():
                self._flush()
                return False
            self._read(source, f)
            if len(self.buffer) >= BATCH_EVENTS:
                self._flush()
        self._flush()
        if prefix:
            runner._rows.prefix_done(self.job.id, runner._clock.now())
        return True

    def _select(self, keys: list[str]) -> list[_LogFile]:
        """The trail log files under the URI within the window; foreign files too (they
        become failures)."""
        job = self.job
        start = job.start_time if job.start_time is not None else float("-inf")
        end = job.end_time if job.end_time is not None else float("inf")
        out: list[_LogFile] = []
        for key in keys:
            if key.endswith("/"):
                continue
            match = LOG_KEY.match(key)
            if match is None:
                if IN_CLOUDTRAIL.search(key) and "/CloudTrail-" not in key:
                    out.append(_LogFile(key, "", "", ""))
                continue
            account, region, y, m, d, name = match.groups()
            day_start, day_end = _day_bounds((y, m, d))
            if day_end < start or day_start - DELIVERY_SLACK > end:
                continue
            written = _name_time(name)
            if written is not None and (written + 60 < start or
                                        written - DELIVERY_SLACK > end):
                continue
            out.append(_LogFile(key, key[: len(key) - len(name)], account, region))
        return out

    def _read(self, source: ImportSource, f: _LogFile) -> None:
        runner, job = self.runner, self.job
        location = source.uri(f.key)
        try:
            if not f.prefix:
                raise _FileFailed("InvalidFileName", f"{location} is not a CloudTrail log "
                                  "file: its key does not follow the trail layout "
                                  "AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/NAME.json.gz.")
            try:
                raw = source.storage.get(source.bucket, f.key).body
            except StorageError as exc:
                raise _FileFailed(exc.code, f"Cannot read {location}: {exc.message}") from exc
            except PermissionError as exc:
                raise _FileFailed("AccessDenied", f"Cannot read {location}: {exc}.") from exc
            except OSError as exc:
                raise _FileFailed("InternalError", f"Cannot read {location}: {exc}.") from exc
            self._parse(location, f, raw)
        except _FileFailed as exc:
            runner._fail(job.id, location, exc.error_type, exc.message)
            return
        except (RecursionError, ValueError, TypeError) as exc:  # a hostile file, not a bug
            runner._fail(job.id, location, "InvalidFileFormat",
                         f"{location} cannot be read as a CloudTrail log file: {exc}.")
            return
        self.buffered_files.append(location)

    def _parse(self, location: str, f: _LogFile, raw: bytes) -> None:
        if not raw.startswith(GZIP_MAGIC):
            raise _FileFailed("FileNotCompressed", f"{location} is not gzip-compressed: "
                              "trail log files are imported only as delivered (.json.gz).")
        try:
            text = gunzip(raw, MAX_FILE_BYTES)
            doc = orjson.loads(text)
        except ValidationError as exc:
            raise _FileFailed("CorruptFile", f"{location}: {exc.message}") from exc
        except orjson.JSONDecodeError as exc:
            raise _FileFailed("InvalidFileFormat", f"{location} is not JSON once "
                              f"decompressed ({exc}).") from exc
        records = doc.get("Records") if isinstance(doc, dict) else None
        if not isinstance(records, list):
            raise _FileFailed("InvalidFileFormat", f"{location} is not a CloudTrail log "
                              'file: it has no "Records" list.')
        bad = self._buffer_records(f, records)
        if bad:
            self._flush()  # what the file held of valid events is kept
            raise _FileFailed("InvalidRecord", f"{location}: {len(bad)} of {len(records)} "
                              f"records are not valid CloudTrail events (first: {bad[0]}).")

    def _buffer_records(self, f: _LogFile, records: list[Any]) -> list[str]:
        """Buffer the file's valid records within the window and the retention that the
        store does not hold yet; returns why each invalid one is not."""
        from opentrail.lake._schema import LakeEntry

        store = self.store
        assert store is not None
        job = self.job
        start = job.start_time if job.start_time is not None else float("-inf")
        end = job.end_time if job.end_time is not None else float("inf")
        oldest = self.runner._clock.now() - store.retention_days * 86_400
        bad: list[str] = []
        for n, obj in enumerate(records):
            try:
                record = parse_record(obj, default_account=f.account, default_region=f.region)
            except (ValidationError, InvalidRecord) as exc:
                bad.append(f"record {n}: {exc.message}")
                continue
            if not start <= record.event_time <= end or record.event_time < oldest:
                continue
            if record.event_id in self.pending_ids or record.event_id in self._known(
                    record.event_time):
                continue
            self.pending_ids.add(record.event_id)
            body = record.body
            parsed = obj if isinstance(obj, dict) and obj.get("eventID") and obj.get(
                "awsRegion") else orjson.loads(body)
            self.buffer.append((partition_of(record.account, record.region,
                                             record.event_time),
                                LakeEntry(None, body, parsed)))
        return bad

    def _known(self, event_time: int) -> set[str]:
        """eventIDs the store holds on the event's date (any account or region)."""
        date = datetime.fromtimestamp(event_time, UTC).strftime("%Y-%m-%d")
        if date not in self.known:
            self._read_ids(date)
        return self.known[date]

    def _read_ids(self, date: str) -> None:
        """Add the eventIDs of the store's files of `date` not read yet to `known`
        (files never change once written: a compaction or a batch adds a new one)."""
        import pyarrow.parquet as pq

        assert self.store is not None
        sink = self.runner._sink
        ids = self.known.setdefault(date, set())
        with sink.exclusive():
            for entry in sink.files(self.store.id):
                if f"/date={date}/" not in f"/{entry.key}" or entry.key in self.read_keys:
                    continue
                raw = sink.location.get(f"{self.store.id}/{entry.key}")
                table = pq.read_table(io.BytesIO(raw), columns=["eventid"])
                ids.update(v for v in table.column("eventid").to_pylist() if v)
                self.read_keys.add(entry.key)

    def _flush(self) -> None:
        """Write the buffered events, then mark their files done (and retried failures
        SUCCEEDED) and count them."""
        runner, job = self.runner, self.job
        if not self.buffer and not self.buffered_files:
            return
        entries = self._write_buffer() if self.buffer else []
        runner._rows.flush(job.id, self.buffered_files, len(entries), runner._clock.now())
        self.buffer, self.buffered_files = [], []
        self.pending_ids.clear()

    def _write_buffer(self) -> list[tuple[str, Any]]:
        """Write the buffered events the store still does not hold (checked again under
        the writer's lock); returns them."""
        runner, job, store = self.runner, self.job, self.store
        assert store is not None
        sink = runner._sink
        with sink.exclusive():
            # Again under the writer's lock: what it wrote since the ids were read.
            for date in {p.rsplit("date=", 1)[1] for p, _ in self.buffer}:
                self._read_ids(date)
            entries = [(p, e) for p, e in self.buffer
                       if e.obj.get("eventID") not in self.known[p.rsplit("date=", 1)[1]]]
            if entries:
                # The number is taken before writing: a batch redone after a crash
                # gets a new one and never replaces the file of the one before.
                n = runner._rows.take_file_number(job.id)
                write_import_batch(sink, store, f"import-{job.id}-{n:06d}",
                                   [e for _, e in entries])
        for part, entry in entries:
            self.known.setdefault(part.rsplit("date=", 1)[1], set()).add(
                str(entry.obj.get("eventID")))
        return entries


def source_opener(data_dir: Path, endpoint_url: str | None
                  ) -> Callable[[dict[str, Any]], ImportSource]:
    """How an ImportSource's S3 member is read: OpenTrail's folder storage
    (DATA_DIR/buckets/BUCKET) when that bucket exists there, else S3 through boto3 with
    the server's S3 endpoint (`--s3-endpoint-url`; AWS itself when unset) in the bucket's
    Region. ValueError for a URI that names no bucket."""
    from opentrail.storage import FolderStorage, S3Storage

    def open_source(s3: dict[str, Any]) -> ImportSource:
        bucket, prefix = parse_s3_uri(str(s3.get("S3LocationUri", "")))
        folders = data_dir / "buckets"
        if (folders / bucket).is_dir():
            return ImportSource(bucket, prefix, FolderStorage(folders))
        region = s3.get("S3BucketRegion")
        return ImportSource(bucket, prefix, S3Storage(
            endpoint_url, region=region if isinstance(region, str) else None))

    return open_source
