"""What a destination's locked objects are protected against, in words an auditor reads.

One answer per destination kind, so the compliance report (OT-14), `docs/trails.md` and
the console say the same thing. The words are facts about the storage, not about a run:
whether each object actually carries its lock is checked object by object (HeadObject).
"""

from __future__ import annotations

from dataclasses import dataclass

from opentrail.storage._folder import FolderStorage
from opentrail.storage._storage import LockConfig, Storage

__all__ = ["Guarantee", "guarantee"]

FOLDER = ("A local folder is not WORM storage. OpenTrail writes each object once, "
          "read-only (mode 0444), and refuses to replace it, but the file's owner or root "
          "can change its mode, replace or delete it, and no retain-until date is kept by "
          "the file system.")
S3_LOCKED = ("S3 Object Lock: each object version is written with an explicit mode and "
             "retain-until date. COMPLIANCE: nobody, root included, can delete the version "
             "or shorten its retention before that date. GOVERNANCE: holders of "
             "s3:BypassGovernanceRetention can. A DeleteObject without a version ID still "
             "adds a delete marker that hides the object: validation reads by version ID.")
S3_UNLOCKED = ("This bucket has no Object Lock: objects can be replaced or deleted by anyone "
               "the bucket policy allows.")


@dataclass(frozen=True)
class Guarantee:
    worm: bool            # can the destination itself refuse deletion (Object Lock on)?
    lock: LockConfig
    text: str


def guarantee(storage: Storage, bucket: str) -> Guarantee:
    """The destination's guarantee for `bucket` (reads its Object Lock configuration)."""
    if isinstance(storage, FolderStorage):
        return Guarantee(False, LockConfig(), FOLDER)
    lock = storage.lock_config(bucket)
    return Guarantee(lock.enabled, lock, S3_LOCKED if lock.enabled else S3_UNLOCKED)
