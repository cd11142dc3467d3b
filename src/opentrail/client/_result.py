"""What the server answered for a batch: counts, assigned event IDs and per-record failures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["FailedRecord", "IngestResult"]


@dataclass(frozen=True, slots=True)
class FailedRecord:
    """One rejected record; `index` is its position in the list given to `send`."""

    index: int
    error_code: str
    error_message: str


@dataclass(slots=True)
class IngestResult:
    """The outcome of `IngestClient.send`, merged over every request it made."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    event_ids: list[str | None] = field(default_factory=list)
    duplicate_indexes: list[int] = field(default_factory=list)
    failed: list[FailedRecord] = field(default_factory=list)

    @classmethod
    def from_wire(cls, body: dict[str, Any], count: int) -> IngestResult:
        """Read the 200 body of `POST /opentrail/v1/events` for a batch of `count` records."""
        failed = [
            FailedRecord(int(f["index"]), str(f.get("errorCode", "")),
                         str(f.get("errorMessage", "")))
            for f in body.get("failed") or []
        ]
        # One ID per record, always, so that merged results keep their indexes aligned.
        event_ids = list(body.get("eventIds") or [])[:count]
        event_ids += [None] * (count - len(event_ids))
        return cls(
            accepted=int(body.get("accepted", 0)),
            duplicates=int(body.get("duplicates", 0)),
            rejected=int(body.get("rejected", len(failed))),
            event_ids=event_ids,
            duplicate_indexes=[int(i) for i in body.get("duplicateIndexes") or []],
            failed=failed,
        )

    @classmethod
    def all_failed(cls, count: int, code: str, message: str) -> IngestResult:
        """A batch the server refused as a whole, reported record by record."""
        return cls(rejected=count, event_ids=[None] * count,
                   failed=[FailedRecord(i, code, message) for i in range(count)])

    def extend(self, other: IngestResult) -> IngestResult:
        """Append the result of the records that followed this one's (indexes shift)."""
        offset = len(self.event_ids)
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.event_ids.extend(other.event_ids)
        self.duplicate_indexes.extend(i + offset for i in other.duplicate_indexes)
        self.failed.extend(
            FailedRecord(f.index + offset, f.error_code, f.error_message) for f in other.failed
        )
        return self
