"""Digest files: the signed, chained list of log files a trail delivered (spec section 3).

A digest covers one trail and one region over one window of delivery time. Its JSON is
built once, hashed and signed as exactly the bytes that are gzipped, and never
re-serialised. The signature goes in the object's user metadata.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from dataclasses import dataclass

from opentrail.trails._model import Trail
from opentrail.trails._signing import SIGNATURE_ALGORITHM, SigningKey

__all__ = ["ChainLink", "Digest", "LogFile", "digest_key", "iso", "log_prefix", "make_digest",
           "string_to_sign"]

HASH_ALGORITHM = "SHA-256"


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def log_prefix(trail: Trail, kind: str, region: str, when: float, account: str | None = None,
               organization: str | None = None) -> str:
    """[prefix/]AWSLogs/[o-ID/]ACCOUNT/KIND/REGION/YYYY/MM/DD/ (the date of `when`, UTC).
    An organization trail files each member account's objects under the organization ID
    (spec 2.1); `account` is the member (default: the trail's own account)."""
    head = f"{trail.s3_key_prefix}/" if trail.s3_key_prefix else ""
    org = f"{organization}/" if organization else ""
    day = time.strftime("%Y/%m/%d", time.gmtime(when))
    return f"{head}AWSLogs/{org}{account or trail.account}/{kind}/{region}/{day}/"


def digest_key(trail: Trail, region: str, end: float, account: str | None = None,
               organization: str | None = None) -> str:
    """Spec 2.3; validate-logs reads the timestamp at key[-24:-8], so the tail is exact."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(end))
    name = (f"{account or trail.account}_CloudTrail-Digest_{region}_{trail.name}_"
            f"{trail.home_region}_{stamp}.json.gz")
    return log_prefix(trail, "CloudTrail-Digest", region, end, account, organization) + name


@dataclass(frozen=True)
class LogFile:
    bucket: str
    key: str
    sha256: str          # hex SHA-256 of the uncompressed JSON
    oldest: int          # event times, epoch seconds
    newest: int


@dataclass(frozen=True)
class ChainLink:
    """What the next digest must name about this one."""

    bucket: str
    key: str
    sha256: str
    signature: str


@dataclass(frozen=True)
class Digest:
    key: str
    body: bytes                 # gzip of `raw`
    raw: bytes                  # the signed JSON bytes
    metadata: dict[str, str]
    link: ChainLink


def string_to_sign(end: str, bucket: str, key: str, sha256_hex: str,
                   previous_signature: str | None) -> bytes:
    """Spec 3.3: four lines joined by a bare newline, no trailing newline."""
    return "\n".join([end, f"{bucket}/{key}", sha256_hex,
                      previous_signature or "null"]).encode()


def _document(account: str, bucket: str, key: str, window: tuple[float, float],
              files: list[LogFile], previous: ChainLink | None,
              fingerprint: str) -> dict[str, object]:
    return {
        "awsAccountId": account,
        "digestStartTime": iso(window[0]),
        "digestEndTime": iso(window[1]),
        "digestS3Bucket": bucket,
        "digestS3Object": key,
        "digestPublicKeyFingerprint": fingerprint,
        "digestSignatureAlgorithm": SIGNATURE_ALGORITHM,
        "newestEventTime": iso(max(f.newest for f in files)) if files else None,
        "oldestEventTime": iso(min(f.oldest for f in files)) if files else None,
        "previousDigestS3Bucket": previous.bucket if previous else None,
        "previousDigestS3Object": previous.key if previous else None,
        "previousDigestHashValue": previous.sha256 if previous else None,
        "previousDigestHashAlgorithm": HASH_ALGORITHM if previous else None,
        "previousDigestSignature": previous.signature if previous else None,
        "logFiles": [{"s3Bucket": f.bucket, "s3Object": f.key, "hashValue": f.sha256,
                      "hashAlgorithm": HASH_ALGORITHM, "oldestEventTime": iso(f.oldest),
                      "newestEventTime": iso(f.newest)} for f in files],
    }


def make_digest(trail: Trail, region: str, window: tuple[float, float],
                files: list[LogFile], previous: ChainLink | None,
                signer: SigningKey, account: str | None = None,
                organization: str | None = None) -> Digest:
    """The digest of `files` for (trail, region) over `window` = (start, end); for an
    organization trail, of one member `account`'s chain (its own awsAccountId and key)."""
    bucket = trail.s3_bucket_name
    key = digest_key(trail, region, window[1], account, organization)
    doc = _document(account or trail.account, bucket, key, window, files, previous,
                    signer.fingerprint)
    raw = json.dumps(doc, separators=(",", ":")).encode()
    sha = hashlib.sha256(raw).hexdigest()
    signature = signer.sign(string_to_sign(iso(window[1]), bucket, key, sha,
                                           previous.signature if previous else None))
    metadata = {"signature": signature, "signature-algorithm": SIGNATURE_ALGORITHM}
    return Digest(key, gzip.compress(raw, mtime=0), raw, metadata,
                  ChainLink(bucket, key, sha, signature))
