"""Digest files as validate-logs reads them: where a trail's digests live, and one parsed digest.

Everything here follows spec sections 2.3 and 3 (docs/validate-logs.md): the key layout,
the timestamp at a fixed offset from the end of the key, the JSON fields, and the string
the signature covers. Nothing is re-serialised: the signed bytes are the gunzipped bytes.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = [
    "Digest",
    "DigestLayout",
    "Invalid",
    "display",
    "gunzip_exact",
    "is_backfill",
    "key_time",
    "parse_digest",
    "parse_time",
]

KEY_DATE = "%Y%m%dT%H%M%SZ"
ISO = "%Y-%m-%dT%H:%M:%SZ"
GZIP_WBITS = zlib.MAX_WBITS | 16
# What awscli requires before it validates a digest (plus logFiles, which it indexes later).
REQUIRED = ("digestPublicKeyFingerprint", "digestS3Bucket", "digestS3Object",
            "previousDigestSignature", "digestEndTime", "digestStartTime", "logFiles")


class Invalid(Exception):
    """A file failed a check; `reason` is what follows "INVALID: " on the report line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_time(text: str) -> datetime:
    """A CloudTrail time string (`2026-11-20T10:00:00Z`) as an aware UTC datetime."""
    return datetime.strptime(text, ISO).replace(tzinfo=UTC)


def display(when: datetime) -> str:
    return when.astimezone(UTC).strftime(ISO)


def is_backfill(key: str) -> bool:
    return key.endswith("_backfill.json.gz")


def key_time(key: str) -> datetime | None:
    """The digestEndTime embedded in a digest key, at awscli's fixed offsets."""
    stamp = key[-33:-17] if is_backfill(key) else key[-24:-8]
    try:
        return datetime.strptime(stamp, KEY_DATE).replace(tzinfo=UTC)
    except ValueError:
        return None


def gunzip_exact(body: bytes) -> bytes:
    """The one gzip member `body` holds; anything after it makes the file invalid
    (awscli's zlib.decompress silently ignores appended members)."""
    return b"".join(gunzip_chunks((body,)))


def gunzip_chunks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The uncompressed bytes of exactly one gzip member, piece by piece; Invalid for
    bad, truncated or appended gzip data."""
    inflater = zlib.decompressobj(GZIP_WBITS)
    try:
        for chunk in chunks:
            if inflater.eof:
                raise Invalid("invalid format (data after the first gzip member)")
            yield inflater.decompress(chunk)
        yield inflater.flush()
    except zlib.error:
        raise Invalid("invalid format") from None
    if not inflater.eof:
        raise Invalid("invalid format (truncated gzip stream)")
    if inflater.unused_data:
        raise Invalid("invalid format (data after the first gzip member)")


@dataclass(frozen=True)
class DigestLayout:
    """Where one trail keeps the digests of one source region (spec 2.3)."""

    account: str
    source_region: str
    home_region: str
    trail_name: str
    prefix: str | None = None
    organization_id: str | None = None

    def _head(self, kind: str) -> str:
        org = f"{self.organization_id}/" if self.organization_id else ""
        head = f"{self.prefix}/" if self.prefix else ""
        return f"{head}AWSLogs/{org}{self.account}/{kind}/{self.source_region}"

    @property
    def folder(self) -> str:
        """The listing prefix: [prefix/]AWSLogs/[org/]ACCOUNT/CloudTrail-Digest/REGION."""
        return self._head("CloudTrail-Digest")

    def key(self, end: datetime) -> str:
        """The key a digest ending at `end` would have (also the listing marker)."""
        name = (f"{self.account}_CloudTrail-Digest_{self.source_region}_{self.trail_name}_"
                f"{self.home_region}_{end.strftime(KEY_DATE)}.json.gz")
        return f"{self.folder}/{end.strftime('%Y/%m/%d')}/{name}"

    def digest_pattern(self) -> re.Pattern[str]:
        """A digest key of this trail and region, exactly: date folders, then the name
        with its end time (no segment may cross a `/`, so a key another trail wrote
        under a crafted S3KeyPrefix that starts with this folder never matches)."""
        name = re.escape(f"{self.account}_CloudTrail-Digest_{self.source_region}_"
                         f"{self.trail_name}_{self.home_region}_")
        return re.compile(rf"^{re.escape(self.folder)}/\d{{4}}/\d\d/\d\d/{name}"
                          rf"\d{{8}}T\d{{6}}Z(?:_backfill)?\.json\.gz$")

    def log_pattern(self) -> re.Pattern[str]:
        """A log file key of this account and region; group 1 is its delivery minute."""
        name = re.escape(f"{self.account}_CloudTrail_{self.source_region}_")
        return re.compile(rf"^{re.escape(self._head('CloudTrail'))}/\d{{4}}/\d\d/\d\d/"
                          rf"{name}(\d{{8}}T\d{{4}}Z)_[A-Za-z0-9]+\.json\.gz$")


@dataclass(frozen=True)
class Digest:
    bucket: str
    key: str
    raw: bytes                      # the gunzipped, signed bytes
    doc: dict[str, Any]
    signature: str                  # x-amz-meta-signature
    start: datetime
    end: datetime
    notice: str | None = None       # hidden or replaced in S3 (its first version was read)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()

    @property
    def fingerprint(self) -> str:
        return str(self.doc["digestPublicKeyFingerprint"])

    @property
    def previous(self) -> tuple[str, str] | None:
        bucket, key = self.doc.get("previousDigestS3Bucket"), self.doc.get("previousDigestS3Object")
        return (str(bucket), str(key)) if bucket is not None and key is not None else None

    @property
    def log_files(self) -> list[dict[str, Any]]:
        files: list[dict[str, Any]] = self.doc["logFiles"]
        return files

    def string_to_sign(self) -> bytes:
        """Spec 3.3: end, bucket/key, hash of the bytes, previous signature or "null"."""
        previous = self.doc["previousDigestSignature"]
        return "\n".join([str(self.doc["digestEndTime"]), f"{self.bucket}/{self.key}",
                          self.sha256, "null" if previous is None else str(previous)]).encode()


def _document(body: bytes) -> tuple[bytes, dict[str, Any]]:
    raw = gunzip_exact(body)
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Invalid("invalid format") from None
    if not isinstance(doc, dict) or any(k not in doc for k in REQUIRED):
        raise Invalid("invalid format")
    if not isinstance(doc["logFiles"], list):
        raise Invalid("invalid format")
    return raw, doc


def parse_digest(bucket: str, key: str, body: bytes, metadata: dict[str, str],
                 notice: str | None = None) -> Digest:
    """Check a digest object as awscli does, in awscli's order; raises Invalid."""
    raw, doc = _document(body)
    if "signature" not in metadata or "signature-algorithm" not in metadata:
        raise Invalid("signature verification failed")
    if is_backfill(key) and "backfill-generation-timestamp" not in metadata:
        raise Invalid("invalid format")
    if doc["digestS3Bucket"] != bucket or doc["digestS3Object"] != key:
        raise Invalid("has been moved from its original location")
    try:
        start, end = parse_time(doc["digestStartTime"]), parse_time(doc["digestEndTime"])
    except (TypeError, ValueError):
        raise Invalid("invalid format") from None
    return Digest(bucket, key, raw, doc, metadata["signature"], start, end, notice)
