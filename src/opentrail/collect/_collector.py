"""`Collector`: polls every configured source and sends what is new to the server.

One thread, one source at a time, so the order of a file's events is kept and a
position is saved only once everything before it is acknowledged. A source that fails
(server down, bucket unreachable) keeps its unsent batch and is tried again on the next
poll; the other sources carry on. Every batch sent and every failure is logged with the
source's name and position: that is what `opentrail collect` shows.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from opentrail.client import IngestError, IngestResult
from opentrail.collect._config import BucketSource, CollectConfig, FileSource
from opentrail.collect._follower import Chunk, FileFollower
from opentrail.collect._lines import auditd_cut, records_of
from opentrail.collect._positions import Positions
from opentrail.sources import CloudTrailBucket, ConversionError, Converted, Options

__all__ = ["Collector", "Sender", "SourceStatus"]

log = logging.getLogger("opentrail.collect")
_CHUNKS_PER_POLL = 16  # then the next source gets its turn
_REASONS_LOGGED = 5  # per batch; the rest are counted


class Sender(Protocol):
    def send(self, records: Sequence[object]) -> IngestResult: ...


@dataclass(slots=True)
class SourceStatus:
    """What one source has done since the collector started."""

    name: str
    position: str = "start"
    sent: int = 0  # new events stored by the server
    duplicates: int = 0  # events the server had already (a resend after a restart)
    rejected: int = 0  # refused by the server, each logged with its reason
    unmapped: int = 0  # source entries the converter could not map, each logged
    errors: int = 0  # failed attempts to send (retried)
    last_error: str | None = None

    def count(self, result: IngestResult) -> None:
        self.sent += result.accepted
        self.duplicates += result.duplicates
        self.rejected += result.rejected
        self.last_error = None


def _report(status: SourceStatus, where: str, result: IngestResult,
            unmapped: list[ConversionError]) -> None:
    status.count(result)
    status.unmapped += len(unmapped)
    for problem in unmapped[:_REASONS_LOGGED]:
        log.warning("%s: %s entry %d not mapped: %s", status.name, where, problem.index,
                    problem.reason)
    for failed in result.failed[:_REASONS_LOGGED]:
        log.warning("%s: %s record %d rejected: %s: %s", status.name, where, failed.index,
                    failed.error_code, failed.error_message)
    log.info("%s: sent %d new, %d duplicate, %d rejected, %d unmapped; at %s", status.name,
             result.accepted, result.duplicates, result.rejected, len(unmapped), where)


class FileRunner:
    def __init__(self, source: FileSource, positions: Positions, sender: Sender,
                 chunk_bytes: int) -> None:
        self.source, self.positions, self.sender = source, positions, sender
        self.status = SourceStatus(source.name)
        cut = auditd_cut if source.format == "auditd" else None
        self.follower = FileFollower(source.path, positions.get(source.name),
                                     chunk_bytes=chunk_bytes, cut=cut)
        self.options = Options(region=source.region, account=source.account)
        self._pending: Chunk | None = None  # read, not acknowledged yet

    def poll(self) -> None:
        for _ in range(_CHUNKS_PER_POLL):
            chunk = self._pending or self.follower.read()
            if chunk is None:
                return
            self._pending = chunk
            self._send(chunk)
            self.positions.save(self.source.name, chunk.end)
            self._pending = None
            self.status.position = f"byte {chunk.end.offset} of inode {chunk.end.inode}"

    def _send(self, chunk: Chunk) -> None:
        items = list(records_of(self.source.format, chunk.data, self.options))
        records = [i.record for i in items if isinstance(i, Converted)]
        unmapped = [i for i in items if isinstance(i, ConversionError)]
        result = self.sender.send(records) if records else IngestResult()
        _report(self.status, f"bytes {chunk.start.offset}-{chunk.end.offset}", result,
                unmapped)

    def close(self) -> None:
        self.follower.close()


class BucketRunner:
    def __init__(self, source: BucketSource, state_dir: Path, sender: Sender,
                 s3_client: Callable[[BucketSource], Any]) -> None:
        self.source, self.sender = source, sender
        self.status = SourceStatus(source.name)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in source.name)
        self.bucket = CloudTrailBucket(s3_client(source), source.bucket,
                                       state_dir / f"bucket-{safe}.json", prefix=source.prefix)

    def poll(self) -> None:
        for item in self.bucket.poll():
            if isinstance(item, tuple):
                key, reason = item
                self.status.unmapped += 1
                log.error("%s: %s skipped: %s", self.status.name, key, reason)
                self.bucket.mark_read(key)  # reported; reading it again cannot help
                continue
            result = self.sender.send(item.records)
            self.bucket.mark_read(item.key)  # only after the server acknowledged it
            _report(self.status, item.key, result, [])
            self.status.position = item.key

    def close(self) -> None:
        return None


class Collector:
    """Polls the sources of `config` until stopped; see `run` and `poll_once`."""

    def __init__(self, config: CollectConfig, sender: Sender,
                 s3_client: Callable[[BucketSource], Any] | None = None) -> None:
        config.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.config = config
        self._lock = _lock(config.state_dir)
        positions = Positions(config.state_dir / "positions.json")
        self.runners: list[FileRunner | BucketRunner] = [
            FileRunner(f, positions, sender, config.chunk_bytes) for f in config.files]
        self.runners += [BucketRunner(b, config.state_dir, sender, s3_client or _s3)
                         for b in config.buckets]

    def status(self) -> list[SourceStatus]:
        return [runner.status for runner in self.runners]

    def poll_once(self) -> None:
        """Give every source one turn; a failing source is logged and retried later."""
        for runner in self.runners:
            try:
                runner.poll()
            except (IngestError, OSError, ValueError) as exc:
                runner.status.errors += 1
                if str(exc) != runner.status.last_error:  # once per distinct failure
                    log.error("%s: %s (will retry; position kept at %s)", runner.status.name,
                              exc, runner.status.position)
                runner.status.last_error = str(exc)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.poll_once()
            stop.wait(self.config.poll_interval)
        self.close()

    def close(self) -> None:
        for runner in self.runners:
            runner.close()
        self._lock.close()


def _lock(state_dir: Path) -> IO[bytes]:
    """Hold state_dir for this process: two collectors on one state would each resend."""
    lock = (state_dir / "lock").open("wb")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise ValueError(f"Another collector is running with the state_dir {state_dir}; "
                         "give each collector its own.") from None
    return lock


def _s3(source: BucketSource) -> Any:
    import boto3  # only when a bucket is configured

    session = boto3.Session(profile_name=source.profile)
    return session.client("s3", endpoint_url=source.s3_endpoint_url,
                          region_name=source.s3_region)
