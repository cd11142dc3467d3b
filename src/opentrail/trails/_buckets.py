"""Who owns a bucket in folder mode: the first account whose trail used it, as in S3,
where a bucket belongs to the account that created it and CloudTrail refuses a trail
whose bucket policy does not let it write there.

Without an owner any account could point a trail at another account's bucket and, with
a crafted S3KeyPrefix, drop its own signed digests into that account's digest folder.
Owners live in trails.db beside the trails and are claimed in the same transaction that
saves a trail, so two accounts racing for a new bucket cannot both win. An owner is
kept after its trails are deleted: its files are still in the bucket. In S3 mode the
bucket's own policy decides (docs/trails.md), and no owner is recorded.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from opentrail.errors import InsufficientS3BucketPolicy
from opentrail.trails._model import Trail

__all__ = ["SCHEMA", "backfill_owners", "claim_bucket", "not_yours"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS bucket_owners (
    bucket  TEXT PRIMARY KEY,
    account TEXT NOT NULL
);
"""


def not_yours(bucket: str) -> InsufficientS3BucketPolicy:
    """CloudTrail's answer when its bucket policy does not let the trail write there."""
    return InsufficientS3BucketPolicy(
        f"Incorrect S3 bucket policy is detected for bucket: {bucket}")


def claim_bucket(conn: sqlite3.Connection, bucket: str, account: str) -> None:
    """Record `account` as the owner of an unowned bucket; refuse another owner's."""
    row = conn.execute("SELECT account FROM bucket_owners WHERE bucket = ?",
                       (bucket,)).fetchone()
    if row is None:
        conn.execute("INSERT INTO bucket_owners VALUES (?, ?)", (bucket, account))
    elif row[0] != account:
        raise not_yours(bucket)


def backfill_owners(conn: sqlite3.Connection, trails: Iterable[Trail]) -> None:
    """Give each bucket used by trails made before owners were recorded to the account
    of its oldest trail (only buckets without an owner yet)."""
    for trail in sorted(trails, key=lambda t: t.created):
        if trail.s3_bucket_name:
            conn.execute("INSERT OR IGNORE INTO bucket_owners VALUES (?, ?)",
                         (trail.s3_bucket_name, trail.account))
