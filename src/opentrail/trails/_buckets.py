"""Who owns a bucket in folder mode: the first account whose trail used it, as in S3,
where a bucket belongs to the account that created it and CloudTrail refuses a trail
whose bucket policy does not let it write there.

Without an owner any account could point a trail at another account's bucket and, with
a crafted S3KeyPrefix, drop its own signed digests into that account's digest folder.
Owners live beside the trails (trails.db, or the trail tables in PostgreSQL) and are
claimed in the same transaction that saves a trail, so two accounts racing for a new
bucket cannot both win. An owner is kept after its trails are deleted: its files are
still in the bucket. In S3 mode the bucket's own policy decides (docs/trails.md), and no
owner is recorded.
"""

from __future__ import annotations

from collections.abc import Iterable

from opentrail.errors import InsufficientS3BucketPolicy
from opentrail.trails._model import Trail
from opentrail.trails._rows import TrailTx

__all__ = ["backfill_owners", "claim_bucket", "not_yours"]


def not_yours(bucket: str) -> InsufficientS3BucketPolicy:
    """CloudTrail's answer when its bucket policy does not let the trail write there."""
    return InsufficientS3BucketPolicy(
        f"Incorrect S3 bucket policy is detected for bucket: {bucket}")


def claim_bucket(tx: TrailTx, bucket: str, account: str) -> None:
    """Record `account` as the owner of an unowned bucket; refuse another owner's."""
    owner = tx.bucket_owner(bucket)
    if owner is None:
        tx.add_bucket_owner(bucket, account)
    elif owner != account:
        raise not_yours(bucket)


def backfill_owners(tx: TrailTx, trails: Iterable[Trail]) -> None:
    """Give each bucket used by trails made before owners were recorded to the account
    of its oldest trail (only buckets without an owner yet)."""
    for trail in sorted(trails, key=lambda t: t.created):
        if trail.s3_bucket_name:
            tx.add_bucket_owner(trail.s3_bucket_name, trail.account)
