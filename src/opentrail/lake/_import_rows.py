"""Lake imports' storage interface: what ImportRunner needs of a database, no more.

ImportRunner (lake/_imports.py) keeps every rule: which files, which events, the checks
against the store, the order of writes. A backend stores its rows: the imports with
their counters and the next file number, the source files whose events are durable in
the store (`done`), and the files that failed. Implemented by backends/sqlite
(DATA_DIR/lake-imports.db, the file and schema imports always used) and
backends/postgres (tables every node shares: any node answers GetImport and ListImports,
and the node that runs imports next resumes one from its done files).

Guards that hold with several nodes: one ongoing import per account (`add` and `retry`
check and write in one transaction), a file number is handed out once
(`take_file_number`), and `flush` counts a file only the first time it is marked done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import orjson

__all__ = ["ONGOING", "Failure", "Import", "ImportRows", "NewImport", "import_of"]

ONGOING = ("INITIALIZING", "IN_PROGRESS")


@dataclass(frozen=True)
class Import:
    id: str
    account: str
    store_id: str
    store_arn: str
    source: dict[str, Any]
    start_time: float | None
    end_time: float | None
    status: str
    created: float
    updated: float
    prefixes_found: int
    prefixes_completed: int
    files_completed: int
    events_completed: int
    failed_entries: int = 0


@dataclass(frozen=True)
class Failure:
    location: str
    status: str
    error_type: str
    message: str
    updated: float


class NewImport(NamedTuple):
    id: str
    account: str
    store_id: str
    store_arn: str
    source: str  # ImportSource as given (JSON)
    start_time: float | None
    end_time: float | None
    created: float


def import_of(row: tuple[Any, ...]) -> Import:
    """An Import from a row of (the Import's fields, source as JSON text)."""
    values = list(row)
    values[4] = orjson.loads(values[4])
    return Import(*values)


class ImportRows(Protocol):
    def add(self, new: NewImport) -> str | None:
        """Store `new` INITIALIZING unless its account has an ongoing import: None, or the
        ongoing import's ID (nothing stored)."""
        ...

    def retry(self, account: str, import_id: str, now: float) -> str | None:
        """INITIALIZING again, its FAILED files to RETRY, unless the account has an
        ongoing import: None, or that import's ID (nothing changed)."""
        ...

    def get(self, import_id: str, account: str | None = None) -> Import | None: ...

    def stop(self, import_id: str, now: float) -> None:
        """STOPPED if ongoing."""
        ...

    def find(self, account: str, store_id: str | None, status: str | None) -> list[Import]:
        """The account's imports, oldest first (ties by ID)."""
        ...

    def failures(self, account: str, import_id: str) -> list[Failure]:
        """The import's failed files (of the account's import only), by location."""
        ...

    def ongoing_in(self, store_id: str) -> str | None:
        """The ID of an ongoing import into the store, if any."""
        ...

    def next_ongoing(self) -> Import | None:
        """The ongoing import updated longest ago."""
        ...

    def status(self, import_id: str) -> str | None: ...

    def fail(self, import_id: str, location: str, error_type: str, message: str,
             now: float) -> None:
        """Record (or replace) a FAILED file."""
        ...

    def finish(self, import_id: str, now: float) -> None:
        """An ongoing import ends COMPLETED, or FAILED when files failed (files left to
        RETRY become FAILED again); a stopped one stays STOPPED."""
        ...

    def done(self, import_id: str) -> set[str]:
        """Locations of the files whose events are durable in the store."""
        ...

    def begin(self, import_id: str, prefixes_found: int, prefixes_completed: int,
              now: float) -> None:
        """IN_PROGRESS with the listing's counts, if ongoing."""
        ...

    def prefix_done(self, import_id: str, now: float) -> None: ...

    def flush(self, import_id: str, locations: list[str], events: int, now: float) -> None:
        """Mark files done (retried failures SUCCEEDED) and count them, only those not
        done yet, and `events`."""
        ...

    def take_file_number(self, import_id: str) -> int:
        """The next file number of the import, never handed out twice."""
        ...

    def close(self) -> None: ...
