"""The audit journal: the record of a change, durable before the change is made.

A call that changes configuration writes its validated audit record here (one fsync'd
file per call, named by its eventID) before it runs, and removes it once the ledger has
committed the record with the call's outcome. A file left behind means the server
stopped in between: at the next start `recover` appends that record to the ledger,
marked `"additionalEventData": {"outcome": "unknown"}` because whether the change took
effect is not known. The ledger drops a record whose (account, eventID) it already
holds, so a file whose removal was lost is not recorded twice.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

import orjson

from opentrail.errors import InvalidRecord
from opentrail.events import Record, parse_record
from opentrail.ledger._writer import LedgerWriter

__all__ = ["JOURNAL_DIR", "AuditJournal"]

log = logging.getLogger(__name__)

JOURNAL_DIR = "audit-journal"
UNKNOWN = {"outcome": "unknown"}


class AuditJournal:
    """A folder of pending audit records; `write` is durable when it returns."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / JOURNAL_DIR
        self.path.mkdir(mode=0o700, exist_ok=True)

    def write(self, record: Record) -> None:
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

    def recover(self, writer: LedgerWriter) -> int:
        """Append every record left behind, marked outcome unknown; returns how many."""
        count = 0
        for file in sorted(self.path.glob("*.json")):
            record = _unknown_outcome(file)
            if record is None:
                file.rename(file.with_suffix(".bad"))  # kept for a person to read
                continue
            writer.submit([record]).result()
            count += 1
            file.unlink()
        for tmp in self.path.glob("*.tmp"):  # never renamed: its call never ran
            tmp.unlink()
        if count:
            log.warning("audit journal: recorded %d call(s) whose outcome is unknown "
                        "(the server stopped while they ran)", count)
        return count

    def _file(self, event_id: str) -> Path:
        return self.path / f"{event_id}.json"

    def _sync_dir(self) -> None:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _unknown_outcome(file: Path) -> Record | None:
    try:
        obj = orjson.loads(file.read_bytes())
        obj["additionalEventData"] = {**(obj.get("additionalEventData") or {}), **UNKNOWN}
        return parse_record(obj, default_account=obj["recipientAccountId"],
                            default_region=obj["awsRegion"])
    except (orjson.JSONDecodeError, InvalidRecord, KeyError, TypeError) as exc:
        log.error("audit journal: %s is not a record (%s); kept as .bad", file.name, exc)
        return None
