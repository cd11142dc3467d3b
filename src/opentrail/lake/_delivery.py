"""DeliveryS3Uri: a finished query's rows as gzipped CSV plus a signed `result_sign.json`.

Objects (spec lake.md §4), written through the trails' Storage (folder or S3):
`<bucket>/<prefix>/AWSLogs/<account>/CloudTrail-Lake/Query/<yyyy>/<mm>/<dd>/<QueryId>/`
`result_<n>.csv.gz` (at most ROWS_PER_FILE rows each, a header line first) and
`result_sign.json`, whose `hashSignature` is SHA256withRSA over the files' hex SHA-256
values joined by single spaces, made with the region's digest signing key (the one
ListPublicKeys returns for `queryCompleteTime`; `publicKeyFingerprint` names it).
Each put returns what the bucket stored (`Written`: its VersionId and the Object Lock
retention it was written with); `deliver_results` hands them back, in writing order, for
the query runner to record.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from opentrail.errors import InvalidS3BucketName, InvalidS3Prefix, ValidationError
from opentrail.storage import Storage, Written
from opentrail.trails._signing import SigningKeys

__all__ = ["DeliveryTarget", "deliver_results", "parse_delivery_uri"]

ROWS_PER_FILE = 1_000_000
MAX_URI = 1024
_BUCKET = re.compile(r"[a-z0-9][.\-a-z0-9]{1,61}[a-z0-9]")


@dataclass(frozen=True)
class DeliveryTarget:
    bucket: str
    prefix: str  # without leading or trailing slash; may be empty

    def folder(self, account: str, query_id: str, when: float) -> str:
        day = datetime.fromtimestamp(when, UTC).strftime("%Y/%m/%d")
        head = f"{self.prefix}/" if self.prefix else ""
        return f"{head}AWSLogs/{account}/CloudTrail-Lake/Query/{day}/{query_id}"


def parse_delivery_uri(uri: object) -> DeliveryTarget:
    """s3://bucket[/prefix], checked as StartQuery checks DeliveryS3Uri."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise ValidationError(f"DeliveryS3Uri must be an S3 URI (s3://bucket/prefix), not "
                              f"{uri!r}.")
    if len(uri) > MAX_URI:
        raise ValidationError(f"DeliveryS3Uri must be at most {MAX_URI} characters.")
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise InvalidS3BucketName(
            f"The bucket name {bucket!r} in DeliveryS3Uri is not valid: 3 to 63 lowercase "
            "letters, digits, '.' and '-', starting and ending with a letter or digit.")
    prefix = prefix.strip("/")
    if "//" in prefix or any(part in (".", "..") for part in prefix.split("/")):
        raise InvalidS3Prefix(f"The prefix {prefix!r} in DeliveryS3Uri is not valid: no "
                              "empty, '.' or '..' path segments.")
    return DeliveryTarget(bucket, prefix)


def _csv_files(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> list[bytes]:
    files: list[bytes] = []
    text, writer, count = io.StringIO(), None, 0
    for row in rows:
        if writer is None or count == ROWS_PER_FILE:
            if writer is not None:
                files.append(gzip.compress(text.getvalue().encode(), mtime=0))
            text, count = io.StringIO(), 0
            writer = csv.writer(text, lineterminator="\n")
            writer.writerow(columns)
        writer.writerow(row)
        count += 1
    if writer is None:  # no rows: one file with the header only
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(columns)
    files.append(gzip.compress(text.getvalue().encode(), mtime=0))
    return files


def deliver_results(storage: Storage, keys: SigningKeys, target: DeliveryTarget, *,
                    account: str, region: str, query_id: str, completed: float,
                    columns: Sequence[str], rows: Iterable[Sequence[str]]
                    ) -> list[tuple[str, Written]]:
    """Write the CSV files, then the sign file last (its presence means complete); each
    object's key and what the bucket stored. Raises StorageError when the bucket refuses."""
    folder = target.folder(account, query_id, completed)
    listed, written = [], []
    for n, body in enumerate(_csv_files(columns, rows), 1):
        name = f"result_{n}.csv.gz"
        written.append((f"{folder}/{name}", storage.put(target.bucket, f"{folder}/{name}",
                                                         body)))
        listed.append({"fileHashValue": hashlib.sha256(body).hexdigest(), "fileName": name})
    key = keys.current(region)
    signed = " ".join(f["fileHashValue"] for f in listed).encode()
    sign = {"version": "1.0", "region": region, "files": listed,
            "hashAlgorithm": "SHA-256", "signatureAlgorithm": "SHA256withRSA",
            "queryCompleteTime": datetime.fromtimestamp(completed, UTC)
            .strftime("%Y-%m-%dT%H:%M:%SZ"),
            "hashSignature": key.sign(signed), "publicKeyFingerprint": key.fingerprint}
    written.append((f"{folder}/result_sign.json", storage.put(
        target.bucket, f"{folder}/result_sign.json", json.dumps(sign, indent=2).encode())))
    return written
