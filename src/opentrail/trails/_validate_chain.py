"""The digest chain walk: newest to oldest, as awscli walks it, plus continuity.

awscli follows `previousDigestS3Object` links and, when a link is dead, reports that one
digest and jumps to the next older key it listed. It never checks that the chain is
continuous, so two digests deleted in a row show up as one (aws/aws-cli#7054). Here a link
must also carry the previous digest's exact hash and signature and its end time, and
the time between a dead link and the next digest found is counted in digest intervals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from opentrail.trails._validate_digest import Digest, Invalid, display, key_time

__all__ = ["ChainEntry", "walk_chain"]


@dataclass(frozen=True)
class ChainEntry:
    """One line of the digest report: a digest (valid or not), a run of digests known
    to be missing, or a gap notice (not an error, as in awscli)."""

    bucket: str
    key: str
    digest: Digest | None = None
    problem: str | None = None
    missing: int = 0            # > 1 only for a run inferred from the chain's timing
    notice: str | None = None

    @property
    def invalid(self) -> int:
        if self.notice is not None:
            return 0
        return max(self.missing, 1) if self.problem is not None else 0


# (bucket, key) -> the parsed digest, or Invalid, or None when the object does not exist.
Loader = Callable[[str, str], "Digest | Invalid | None"]


def _link_problem(digest: Digest, successor: Digest) -> str | None:
    """What `successor` recorded about its previous digest, checked against `digest`."""
    doc = successor.doc
    if doc.get("previousDigestHashValue") != digest.sha256:
        return (f"doesn't match the previousDigestHashValue of s3://{successor.bucket}/"
                f"{successor.key}")
    if doc.get("previousDigestSignature") != digest.signature:
        return (f"doesn't match the previousDigestSignature of s3://{successor.bucket}/"
                f"{successor.key}")
    if digest.end != successor.start:
        return (f"chain broken: ends at {display(digest.end)} but the next digest starts at "
                f"{display(successor.start)}")
    return None


def _older(pending: list[str], before: str) -> str | None:
    """Pop listed keys until one older than `before` (awscli's _get_last_digest)."""
    limit = key_time(before)
    while pending:
        key = pending.pop()
        when = key_time(key)
        if limit is None or (when is not None and when < limit):
            return key
    return None


@dataclass
class _Walk:
    load: Loader
    verify: Callable[[Digest], None]
    interval: timedelta
    folder: str
    backfill: bool
    entries: list[ChainEntry]

    def missing_run(self, bucket: str, dead_end: datetime, next_key: str | None) -> None:
        """After a dead link to a digest ending at dead_end: count the further digests
        missing before the next one found (none found: nothing can be inferred)."""
        found_end = key_time(next_key) if next_key else None
        if self.backfill or found_end is None:
            return
        extra = round((dead_end - found_end) / self.interval) - 1
        if extra >= 1:
            self.entries.append(ChainEntry(
                bucket, self.folder, missing=extra,
                problem=f"not found: {extra} more digest file(s) between "
                        f"{display(found_end)} and {display(dead_end - self.interval)}"))

    def check(self, bucket: str, key: str, successor: Digest | None) -> Digest | None:
        result = self.load(bucket, key)
        try:
            if result is None:
                raise Invalid("not found")
            if isinstance(result, Invalid):
                raise result
            self.verify(result)
            problem = _link_problem(result, successor) if successor else None
            if problem:
                raise Invalid(problem)
        except Invalid as exc:
            self.entries.append(ChainEntry(bucket, key, problem=exc.reason))
            return None
        self.entries.append(ChainEntry(bucket, key, result))
        return result


def walk_chain(load: Loader, verify: Callable[[Digest], None], bucket: str,
               listed: list[str], start: datetime, *, interval: timedelta, folder: str,
               backfill: bool = False) -> list[ChainEntry]:
    """Entries newest first, for the digests reachable from the newest listed key while
    the last digest read starts at or after `start`."""
    walk = _Walk(load, verify, interval, folder, backfill, [])
    pending = list(listed)
    key: str | None = pending.pop() if pending else None
    last_start = key_time(key) if key else None
    successor: Digest | None = None
    while key is not None and last_start is not None and start <= last_start:
        digest = walk.check(bucket, key, successor)
        if digest is None:
            older = _older(pending, key)
            if successor is not None:
                walk.missing_run(bucket, successor.start, older)
            key, successor = older, None
            continue
        last_start, successor = digest.start, digest
        if digest.previous is not None:
            bucket, key = digest.previous
            continue
        key, successor = _older(pending, key), None
        if key is not None:
            walk.entries.append(ChainEntry(bucket, key, notice=(
                f"No log files were delivered by CloudTrail between "
                f"{display(key_time(key) or start)} and {display(digest.start)}")))
    return walk.entries
