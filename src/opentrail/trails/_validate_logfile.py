"""One log file listed in a digest: streamed, gunzipped and hashed once, and its event
times checked against the digest and the file's own delivery time.

Beyond awscli: a file must be exactly one gzip member (awscli stops at the first and
ignores what follows), and its events must fit where it sits: the oldest and newest
eventTime equal what the digest lists, none is later than the delivery minute in the
file's key (plus EVENT_SKEW), and that minute falls inside the digest's window. A
valid-looking file from another hour fails these even when its hash was taken after
the swap.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from opentrail.trails._validate_digest import (
    Digest,
    Invalid,
    display,
    gunzip_chunks,
    parse_time,
)
from opentrail.trails._validate_source import ObjectMissing, ObjectSource

__all__ = ["EVENT_SKEW", "EventTimes", "LogCheck", "check_log_file"]

EVENT_SKEW = timedelta(minutes=5)   # a source's clock may run a little ahead of delivery
MINUTE = timedelta(minutes=1)
_NEEDLE = b'"eventTime":"'
_ANY_FORM = re.compile(rb'"eventTime"\s*:\s*"([^"]{1,40})"')
_TAIL = len(_NEEDLE) + 48


class EventTimes:
    """Oldest and newest `"eventTime"` in a JSON byte stream fed in arbitrary pieces.
    ISO-8601 UTC strings of one form sort as times, so bytes are compared directly."""

    def __init__(self) -> None:
        self.oldest: bytes | None = None
        self.newest: bytes | None = None
        self._carry = b""

    def _found(self, values: list[bytes]) -> None:
        if values:
            low, high = min(values), max(values)
            self.oldest = low if self.oldest is None else min(low, self.oldest)
            self.newest = high if self.newest is None else max(high, self.newest)

    def _scan(self, buf: bytes) -> int:
        """Record complete values in buf; return where the unscanned tail starts."""
        values, find, pos, done = [], buf.find, 0, 0
        while (pos := find(_NEEDLE, pos)) >= 0:
            close = find(b'"', pos + len(_NEEDLE))
            if close < 0:
                break
            values.append(buf[pos + len(_NEEDLE):close])
            pos = done = close + 1
        if not values and b'"eventTime"' in buf:  # pretty-printed JSON: the slower form
            matches = list(_ANY_FORM.finditer(buf))
            values = [m.group(1) for m in matches]
            done = matches[-1].end() if matches else 0
        self._found(values)
        return max(done, len(buf) - _TAIL)

    def feed(self, piece: bytes) -> None:
        buf = self._carry + piece if self._carry else piece
        self._carry = buf[self._scan(buf):]

    def close(self) -> None:
        self._scan(self._carry)
        self._carry = b""


@dataclass(frozen=True)
class LogCheck:
    bucket: str
    key: str
    problem: str | None    # None: valid
    notice: str | None = None  # hidden or replaced in S3; its first version was checked


def _stream(source: ObjectSource, bucket: str,
            key: str) -> tuple[str, EventTimes, str | None]:
    """SHA-256 of the uncompressed bytes and their event times, and the object's notice;
    Invalid on bad gzip."""
    digest, times = hashlib.sha256(), EventTimes()
    opened = source.open(bucket, key)
    for data in gunzip_chunks(opened.chunks):
        digest.update(data)
        times.feed(data)
    times.close()
    return digest.hexdigest(), times, opened.notice


def _delivered(key: str, digest: Digest, pattern: re.Pattern[str]) -> datetime:
    """The delivery minute from the file's key, which must lie in the digest's window."""
    match = pattern.match(key)
    if not match:
        raise Invalid("not a log file of this trail's account and region")
    when = datetime.strptime(match.group(1), "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
    if not digest.start - MINUTE <= when <= digest.end:
        raise Invalid(f"delivered at {display(when)}, outside its digest's window "
                      f"{display(digest.start)} to {display(digest.end)}")
    return when


def _times(entry: dict[str, Any], times: EventTimes, delivered: datetime) -> None:
    oldest = times.oldest.decode(errors="replace") if times.oldest else None
    newest = times.newest.decode(errors="replace") if times.newest else None
    listed = (entry.get("oldestEventTime"), entry.get("newestEventTime"))
    if listed not in ((None, None), (oldest, newest)):
        raise Invalid(f"event times {oldest} to {newest} don't match the digest's "
                      f"{listed[0]} to {listed[1]}")
    try:
        late = newest is not None and parse_time(newest) > delivered + MINUTE + EVENT_SKEW
    except ValueError:
        raise Invalid(f"invalid format (eventTime {newest!r})") from None
    if late:
        raise Invalid(f"holds events up to {newest}, after its delivery at "
                      f"{display(delivered)}")


def check_log_file(source: ObjectSource, entry: dict[str, Any], digest: Digest,
                   pattern: re.Pattern[str]) -> LogCheck:
    """awscli's verdicts (not found, hash value doesn't match, invalid format) first, then
    ours. Never raises: an unreadable file is reported, not fatal."""
    bucket, key = str(entry.get("s3Bucket")), str(entry.get("s3Object"))
    notice = None
    try:
        sha, times, notice = _stream(source, bucket, key)
        if sha != entry.get("hashValue"):
            raise Invalid("hash value doesn't match")
        _times(entry, times, _delivered(key, digest, pattern))
    except ObjectMissing:
        return LogCheck(bucket, key, "not found")
    except Invalid as exc:
        return LogCheck(bucket, key, exc.reason, notice)
    except Exception as exc:  # S3 refused, folder unreadable: this file is unverified
        return LogCheck(bucket, key, f"invalid format ({type(exc).__name__}: {exc})")
    return LogCheck(bucket, key, None, notice)
