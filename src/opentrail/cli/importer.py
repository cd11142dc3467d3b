"""`opentrail import`: send CloudTrail log files or folders to a running server.

Also home of the pieces every sending command shares (`Tally`, `Sender`, `run_ingest`):
`opentrail demo` is an import whose records are generated instead of read.
"""

from __future__ import annotations

import csv
import gzip
import re
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import botocore.session
import click
import orjson
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from opentrail.cli._options import client_options
from opentrail.client import (
    MAX_BATCH_RECORDS,
    IngestAuthError,
    IngestClient,
    IngestConnectionError,
    IngestError,
    IngestResult,
)
from opentrail.sources import DEFAULT_REGION as SOURCE_REGION
from opentrail.sources import (
    FORMATS,
    ConversionError,
    Options,
    convert,
    csv_records,
    export_entries,
    looks_like_csv,
    restore,
)

__all__ = [
    "BadEntry", "LogFile", "LogFileError", "Sender", "Tally", "discover", "import_", "open_client",
    "parse_log", "progress_bar", "read_log_file", "run_ingest",
]

_LOG_SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".csv",
                 ".csv.gz")
# Digest files sit beside the logs in a trail's bucket; they describe logs, not events.
_SKIP_DIRS = frozenset({"CloudTrail-Digest"})
_GZIP_MAGIC = b"\x1f\x8b"
_NON_SPACE = re.compile(rb"\S")
_NDJSON_PROBE = 10  # lines tried before deciding a "{" file that is not one document is NDJSON
_EXAMPLES = 3  # example locations shown per rejection reason
_REASONS_SHOWN = 20
Origin = tuple[str, int]  # (file, index of the record in it)


# --- finding and reading files ---------------------------------------------------------

class LogFileError(Exception):
    """The file holds no readable records at all; the message says why."""


@dataclass(frozen=True, slots=True)
class BadEntry:
    """One entry of a file that is not a record (an NDJSON line that is not JSON)."""

    reason: str


def _is_log_name(path: Path, root: Path) -> bool:
    # "._x.json" files are macOS resource forks, common in copied S3 exports.
    return (path.name.endswith(_LOG_SUFFIXES) and not path.name.startswith(".")
            and not _SKIP_DIRS.intersection(path.relative_to(root).parts))


def _is_any_file(path: Path, root: Path) -> bool:
    # Raw logs (auditd's audit.log, audit.log.1, ...) have no telling suffix.
    return not path.name.startswith(".")


def discover(paths: Iterable[Path],
             wanted: Callable[[Path, Path], bool] = _is_log_name) -> list[Path]:
    """Named files as given, plus log files found under named folders, in sorted order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*")
                                if p.is_file() and wanted(p, path)))
        else:
            found.append(path)
    return list(dict.fromkeys(found))


class LogFile:
    """The entries of one file: records, or `BadEntry` for NDJSON lines that are not JSON.

    NDJSON lines are parsed only as they are iterated, so a large export never exists
    as parsed dicts all at once; the count is known up front for progress totals.
    """

    def __init__(self, items: Sequence[object],
                 parse: Callable[[Any], object] | None = None) -> None:
        self._items, self._parse = items, parse

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[object]:
        return iter(self._items) if self._parse is None else map(self._parse, self._items)


def read_log_file(path: Path) -> LogFile:
    """The records of one CloudTrail log file, gzip-compressed or not."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LogFileError(f"cannot read it ({exc.strerror or exc})") from exc
    if data.startswith(_GZIP_MAGIC):  # detected by content: names lie
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise LogFileError(f"broken gzip data ({exc})") from exc
    return parse_log(data)


def parse_log(data: bytes) -> LogFile:
    """Detect the layout by content: `{"Records":[...]}`, a JSON array, NDJSON, a SIEM
    search export (`{"hits": {"hits": [...]}}`, Splunk's `results`) or a CSV with
    CloudTrail column names (sources/_siem.py restores each entry's record)."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    first = _NON_SPACE.search(data)  # orjson allows surrounding whitespace: no copy
    if first is None:
        raise LogFileError("the file is empty")
    if first[0] not in b"{[":
        if looks_like_csv(data):
            try:
                rows = list(csv_records(data))
            except (UnicodeDecodeError, ValueError, csv.Error) as exc:
                raise LogFileError(f"not a readable CSV file ({exc})") from exc
            if not rows:
                raise LogFileError("not JSON (a CSV header with CloudTrail column names, "
                                   "but no rows)")
            return LogFile(rows)
        raise LogFileError(f"not JSON, nor CSV with CloudTrail column names (it starts "
                           f"with {data[first.start():][:20]!r})")
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if first[0] == b"[":
            raise LogFileError(f"not valid JSON ({exc})") from exc
        return _ndjson(data, exc)
    return LogFile(_records_of(value))


def _records_of(value: object) -> list[object]:
    if isinstance(value, list):
        return value
    assert isinstance(value, dict)  # the data started with "{"
    if "Records" in value:
        if not isinstance(value["Records"], list):
            raise LogFileError('"Records" is not a list')
        return value["Records"]
    if "eventName" in value or "eventSource" in value:
        return [value]  # NDJSON with a single line
    exported = export_entries(value)
    if exported is not None:
        return exported
    raise LogFileError("a JSON object without a Records list, so not a CloudTrail log file")


def _parse_line(line: bytes) -> object:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return BadEntry("InvalidData: The line is not valid JSON.")


def _ndjson(data: bytes, whole_error: orjson.JSONDecodeError) -> LogFile:
    lines = [line for line in data.split(b"\n") if line and not line.isspace()]
    probe = [_parse_line(line) for line in lines[:_NDJSON_PROBE]]
    if all(isinstance(entry, BadEntry) for entry in probe):
        # Not NDJSON after all: most likely a truncated or corrupt JSON document.
        raise LogFileError(f"not valid JSON ({whole_error})")
    return LogFile(lines, _parse_line)


# --- sending and counting --------------------------------------------------------------

@dataclass(slots=True)
class _Reason:
    count: int = 0
    examples: list[str] = field(default_factory=list)


@dataclass
class Tally:
    """What happened to every record and file, for the summary and the exit code."""

    files: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    reasons: dict[str, _Reason] = field(default_factory=dict)

    def reject(self, reason: str, origin: Origin) -> None:
        self.rejected += 1
        entry = self.reasons.setdefault(reason, _Reason())
        entry.count += 1
        if len(entry.examples) < _EXAMPLES:
            entry.examples.append(f"{origin[0]}:{origin[1]}")

    def add(self, result: IngestResult, origins: Sequence[Origin]) -> None:
        self.accepted += result.accepted
        self.duplicates += result.duplicates
        for failed in result.failed:
            self.reject(f"{failed.error_code}: {failed.error_message}", origins[failed.index])

    @property
    def exit_code(self) -> int:
        return 1 if self.rejected or self.unreadable else 0

    def summary(self, *, files: bool = True) -> list[str]:
        lines = []
        if files:
            lines.append(f"Files:  {self.files:,} read, {len(self.unreadable):,} unreadable")
        lines.append(f"Events: {self.accepted:,} accepted, {self.duplicates:,} duplicates, "
                     f"{self.rejected:,} rejected")
        if self.unreadable:
            lines.append("Files that could not be read:")
            lines.extend(f"  {path}: {why}" for path, why in self.unreadable)
        if self.reasons:
            lines.append("Rejected events by reason (count, reason, examples):")
            ranked = sorted(self.reasons.items(), key=lambda kv: -kv[1].count)
            lines.extend(f"  {r.count:,}  {reason}  (e.g. {', '.join(r.examples)})"
                         for reason, r in ranked[:_REASONS_SHOWN])
            if len(ranked) > _REASONS_SHOWN:
                lines.append(f"  … and {len(ranked) - _REASONS_SHOWN:,} more reasons")
        return lines


def _fatal(exc: IngestError) -> bool:
    # Nothing later can succeed: the server is unreachable, refuses the key, or stayed
    # overloaded through every retry. Other request errors only spoil their own batch.
    return isinstance(exc, IngestAuthError | IngestConnectionError) or exc.retryable


class Sender:
    """Buffers records with their origins and sends them `batch_size` at a time."""

    def __init__(self, client: IngestClient, tally: Tally, batch_size: int,
                 on_sent: Callable[[int], None] = lambda n: None) -> None:
        self._client, self._tally = client, tally
        self._batch_size, self._on_sent = batch_size, on_sent
        self._records: list[object] = []
        self._origins: list[Origin] = []

    def add(self, record: object, origin: Origin) -> None:
        self._records.append(record)
        self._origins.append(origin)
        if len(self._records) >= self._batch_size:
            self.flush()

    def flush(self) -> None:
        records, origins = self._records, self._origins
        if not records:
            return
        self._records, self._origins = [], []
        try:
            result = self._client.send(records)
        except IngestError as exc:
            if _fatal(exc):
                raise
            result = IngestResult.all_failed(len(records), exc.code, exc.message)
        self._tally.add(result, origins)
        self._on_sent(len(records))


def open_client(endpoint_url: str, profile: str | None, region: str | None) -> IngestClient:
    """An IngestClient with the standard AWS credential chain (and --profile)."""
    return IngestClient(endpoint_url, session=botocore.session.Session(profile=profile),
                        region=region)


def progress_bar() -> Progress:
    """A progress display on stderr, silent when stderr is not a terminal."""
    console = Console(stderr=True)
    return Progress(TextColumn("{task.description:<6}"), BarColumn(bar_width=24),
                    MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.fields[note]}"),
                    console=console, disable=not console.is_terminal)


def _short(name: str, width: int = 28) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1):]


def run_ingest(tally: Tally, work: Callable[[], None], *, files: bool = True) -> NoReturn:
    """Run `work`, print the summary, exit 0 (all stored), 1 (rejections), 2 (cannot send)."""
    code = 0
    try:
        work()
    except IngestError as exc:
        click.echo(f"error: {exc.code}: {exc.message}", err=True)
        code = 2
    except KeyboardInterrupt:
        click.echo("interrupted: the events below were sent; run again to send the rest "
                   "(events already stored count as duplicates).", err=True)
        code = 130
    for line in tally.summary(files=files):
        click.echo(line)
    sys.exit(code or tally.exit_code)


# --- the command -----------------------------------------------------------------------

@dataclass
class _Import:
    sender: Sender
    tally: Tally
    progress: Progress
    events_task: TaskID
    fmt: str = "cloudtrail"
    options: Options = field(default_factory=Options)
    time_field: str | None = None

    def file(self, path: Path) -> None:
        if self.fmt != "cloudtrail":
            self.converted(path)
            return
        try:
            entries = read_log_file(path)
        except LogFileError as exc:
            self.tally.unreadable.append((str(path), str(exc)))
            return
        self.tally.files += 1
        total = (self.progress.tasks[self.events_task].total or 0) + len(entries)
        self.progress.update(self.events_task, total=total)
        for index, entry in enumerate(entries):
            if isinstance(entry, BadEntry):
                self.tally.reject(entry.reason, (str(path), index))
                self.progress.advance(self.events_task)
            else:
                self.sender.add(restore(entry, self.time_field), (str(path), index))

    def converted(self, path: Path) -> None:
        """A file of another system's log: its records converted, unmappable ones counted."""
        try:
            results = list(convert(self.fmt, path.read_bytes(), self.options))
        except OSError as exc:
            self.tally.unreadable.append((str(path), f"cannot read it ({exc.strerror or exc})"))
            return
        self.tally.files += 1
        total = (self.progress.tasks[self.events_task].total or 0) + len(results)
        self.progress.update(self.events_task, total=total)
        for result in results:
            if isinstance(result, ConversionError):
                self.tally.reject(f"ConversionError: {result.reason}", (str(path), result.index))
                self.progress.advance(self.events_task)
            else:
                self.sender.add(result.record, (str(path), result.index))


def _import_files(files: Sequence[Path], client: IngestClient, tally: Tally,
                  batch_size: int, fmt: str = "cloudtrail",
                  options: Options | None = None, time_field: str | None = None) -> None:
    with progress_bar() as progress:
        files_task = progress.add_task("files", total=len(files), note="")
        # The events total grows as files are read: counting first would read them twice.
        events_task = progress.add_task("events", total=0, note="")
        sender = Sender(client, tally, batch_size,
                        lambda n: progress.advance(events_task, n))
        run = _Import(sender, tally, progress, events_task, fmt, options or Options(),
                      time_field)
        for path in files:
            progress.update(files_task, note=_short(path.name))
            run.file(path)
            progress.advance(files_task)
        sender.flush()


IMPORT_HELP = """Send CloudTrail log files to a running OpenTrail server.

    Each PATH is a file or a folder; folders are searched recursively for *.json,
    *.json.gz, *.jsonl and *.ndjson files (CloudTrail-Digest folders and dot-files are
    skipped). A file may be gzip-compressed or not, and hold a CloudTrail
    {"Records": [...]} document, a JSON array of records, or one record per line
    (NDJSON): the layout is detected from the content, not the name.

    Exports from SIEMs are recognised too (docs/sources.md): Elastic/Logstash
    (@timestamp, @version), Elasticsearch/OpenSearch search results (_source), Splunk
    (_raw, _time, JSON exports' result), and CSV with CloudTrail column names (Athena;
    *.csv files). The CloudTrail record is restored and the export's extra fields are
    kept under additionalEventData; --time-field names the time field if it is another.

    Importing again is safe: the server stores each eventID once and reports the rest
    as duplicates. A file that cannot be parsed is reported and the import goes on.

    Requests are signed with SigV4 using the standard AWS credential chain; the key
    needs the writer role, and its account must match the records' accounts (or be an
    organization key).

    Other formats (--format gcp, azure, entra, k8s, auditd) are converted to CloudTrail
    records first: awsRegion is the source's own location when it has one, else --region
    (default: on-premises); entries that cannot be converted are counted as rejected
    with the reason. For auditd, folders are searched for every file, not only *.json.

    Exit status: 0 if every event was stored or was already there, 1 if any event or
    file was rejected, 2 if the server could not be reached or refused the credentials.

    \b
    Example:
      opentrail import ./AWSLogs --endpoint-url http://127.0.0.1:8420 --profile audit
    """


def _check_options(fmt: str, account: str | None, time_field: str | None) -> None:
    if time_field is not None and fmt != "cloudtrail":
        raise click.UsageError("--time-field applies to --format cloudtrail (exports of "
                               "CloudTrail records), not to --format " + fmt + ".")
    if account is not None and fmt == "cloudtrail":
        raise click.UsageError("--account sets the account of converted records (--format "
                               "gcp, azure, entra, k8s, auditd); CloudTrail records carry "
                               "their own recipientAccountId.")


@click.command("import", help=IMPORT_HELP)
@click.argument("paths", nargs=-1, required=True, metavar="PATH...",
                type=click.Path(exists=True, path_type=Path))
@client_options
@click.option("--batch-size", type=click.IntRange(1, MAX_BATCH_RECORDS), default=1000,
              show_default=True, help="Events per request (requests also stay under 16 MiB).")
@click.option("--format", "fmt", type=click.Choice(["cloudtrail", *FORMATS]),
              default="cloudtrail", show_default=True,
              help="What the files hold: CloudTrail logs, or another system's audit log "
                   "converted to CloudTrail records (see docs/sources.md).")
@click.option("--account", metavar="ACCOUNT_ID",
              help="recipientAccountId of converted records (other formats only). "
                   "Default: the key's account.")
@click.option("--time-field", metavar="NAME",
              help="The field of each exported entry that holds the event time (a dotted "
                   "path for nested fields, e.g. event.created); it becomes eventTime. "
                   "Default: eventTime, else @timestamp, _time or timestamp.")
def import_(paths: tuple[Path, ...], endpoint_url: str, profile: str | None,
            region: str | None, batch_size: int, fmt: str, account: str | None,
            time_field: str | None) -> None:
    _check_options(fmt, account, time_field)
    files = discover(paths, _is_any_file if fmt == "auditd" else _is_log_name)
    options = Options(region=region or SOURCE_REGION, account=account)

    def work() -> None:
        with open_client(endpoint_url, profile, region) as client:
            _import_files(files, client, tally, batch_size, fmt, options, time_field)

    tally = Tally()
    run_ingest(tally, work)
