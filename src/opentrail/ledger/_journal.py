"""The audit journal: the record of a change, durable before the change is made.

A call that changes configuration writes its validated audit record here (one fsync'd
file per call, named by its eventID) before it runs, and removes it once the ledger has
committed the record with the call's outcome. A file left behind means the server
stopped in between: at the next start `recover` appends that record to the ledger,
marked `"additionalEventData": {"outcome": "unknown"}` because whether the change took
effect is not known. The ledger drops a record whose (account, eventID) it already
holds, so a file whose removal was lost is not recorded twice.

`Journal` is the interface the API and the service use; `AuditJournal` is the embedded
one (DATA_DIR/audit-journal), backends/postgres/_journal.py keeps the records in the
database so that a node lost for good does not take the records of its changes in flight
with it: any node replays them (`Backend.audit_journal()` hands out one or the other).
`recover` only ever appends the records of writers that are gone, so it is safe to call
periodically: in the database those of a node whose session lock is free; here those
left when this process first holds DATA_DIR/audit-journal.lock (at start, or once the
process that held it is gone), once: later calls find nothing to do, so a second
process writing the same folder never has its records replayed by the first.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from pathlib import Path
from typing import Protocol

import orjson

from opentrail.errors import InvalidRecord
from opentrail.events import Record, parse_record
from opentrail.ledger._writer import LedgerWriter

__all__ = ["JOURNAL_DIR", "AuditJournal", "Journal", "unknown_outcome"]

log = logging.getLogger(__name__)

JOURNAL_DIR = "audit-journal"
JOURNAL_LOCK = "audit-journal.lock"  # held by the process writing the folder
UNKNOWN = {"outcome": "unknown"}


class Journal(Protocol):
    def write(self, record: Record) -> None:
        """Keep `record` durably (the change runs after this returns); raises when it
        could not (OSError, or ServiceUnavailable from a database)."""
        ...

    def remove(self, record: Record) -> None:
        """Forget a record the ledger holds (never raises: a lost removal only means
        the record is offered to the ledger again, which keeps it once)."""
        ...

    def recover(self, writer: LedgerWriter) -> int:
        """Append the records left by writers that are gone, marked outcome unknown, and
        forget them; returns how many. Never the records of a live writer."""
        ...

    def close(self) -> None: ...


class AuditJournal:
    """A folder of pending audit records; `write` is durable when it returns."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / JOURNAL_DIR
        self.path.mkdir(mode=0o700, exist_ok=True)
        self._mine: set[str] = set()  # eventIDs this object wrote and has not removed
        self._guard = threading.Lock()
        self._owner = os.open(data_dir / JOURNAL_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        self._owns = False
        self._recovered = False  # the one replay done (it runs once, when first owned)
        with self._guard:
            self._owned()  # taken now if free, so a second process leaves our files be

    def close(self) -> None:
        with self._guard:
            if self._owner >= 0:
                os.close(self._owner)  # frees the lock
                self._owner = -1

    def _owned(self) -> bool:
        """Whether this process writes the folder (another live server on the same data
        dir would: its files are then not ours to replay)."""
        if not self._owns and self._owner >= 0:
            try:
                fcntl.flock(self._owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._owns = True
            except BlockingIOError:
                return False
        return self._owns

    def write(self, record: Record) -> None:
        with self._guard:
            self._mine.add(record.event_id)
        target = self._file(record.event_id)
        tmp = target.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, record.body)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
        self._sync_dir()

    def remove(self, record: Record) -> None:
        """Forget a record the ledger holds (no fsync: a lost removal is only a duplicate)."""
        with contextlib.suppress(FileNotFoundError):
            self._file(record.event_id).unlink()
        with self._guard:
            self._mine.discard(record.event_id)

    def recover(self, writer: LedgerWriter) -> int:
        """Append every record a previous run left behind, marked outcome unknown: once,
        when this process first holds the folder's lock."""
        with self._guard:
            if self._recovered or not self._owned():
                return 0
            self._recovered = True
        try:
            return self._replay(writer)
        except BaseException:
            self._recovered = False  # the next call tries again
            raise

    def _replay(self, writer: LedgerWriter) -> int:
        count = 0
        for file in sorted(self.path.glob("*.json")):
            if self._in_flight(file):
                continue
            record = _from_file(file)
            if record is None:
                file.rename(file.with_suffix(".bad"))  # kept for a person to read
                continue
            writer.submit([record]).result()
            count += 1
            file.unlink()
        for tmp in self.path.glob("*.tmp"):  # never renamed: its call never ran
            if not self._in_flight(tmp):
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
        if count:
            log.warning("audit journal: recorded %d call(s) whose outcome is unknown "
                        "(the server stopped while they ran)", count)
        return count

    def _in_flight(self, file: Path) -> bool:
        """Written by this process and not yet removed (a write names its record here
        before its file exists, so a file seen by `recover` is never one being written)."""
        with self._guard:
            return file.stem in self._mine

    def _file(self, event_id: str) -> Path:
        return self.path / f"{event_id}.json"

    def _sync_dir(self) -> None:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _from_file(file: Path) -> Record | None:
    record = unknown_outcome(file.read_bytes(), file.name)
    if record is None:
        log.error("audit journal: %s is not a record; kept as .bad", file.name)
    return record


def unknown_outcome(body: bytes, name: str) -> Record | None:
    """The journaled record `body` marked `"additionalEventData": {"outcome": "unknown"}`
    (whether its change took effect is not known); None if it is not a record."""
    try:
        obj = orjson.loads(body)
        obj["additionalEventData"] = {**(obj.get("additionalEventData") or {}), **UNKNOWN}
        return parse_record(obj, default_account=obj["recipientAccountId"],
                            default_region=obj["awsRegion"])
    except (orjson.JSONDecodeError, InvalidRecord, KeyError, TypeError) as exc:
        log.error("audit journal: %s is not a record (%s)", name, exc)
        return None
