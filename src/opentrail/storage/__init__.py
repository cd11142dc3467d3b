"""Where trails deliver: an S3-compatible bucket or a folder under the data dir.

Both implement the one small `Storage` protocol; delivery never knows which it has. Both
apply the same RetentionPolicy (Object Lock, docs/trails.md); `guarantee` says in words
what a destination's locked objects are protected against.
"""

from opentrail.storage._folder import FolderStorage, write_atomic
from opentrail.storage._guarantee import guarantee
from opentrail.storage._retention import RetentionPolicy, retain_until
from opentrail.storage._s3 import S3Storage
from opentrail.storage._storage import (
    InvalidObjectName,
    LockConfig,
    NoSuchKey,
    ObjectHead,
    ObjectVersion,
    Retention,
    Storage,
    StorageError,
    StoredObject,
    Written,
    open_storage,
)

__all__ = [
    "FolderStorage",
    "InvalidObjectName",
    "LockConfig",
    "NoSuchKey",
    "ObjectHead",
    "ObjectVersion",
    "Retention",
    "RetentionPolicy",
    "S3Storage",
    "Storage",
    "StorageError",
    "StoredObject",
    "Written",
    "guarantee",
    "open_storage",
    "retain_until",
    "write_atomic",
]
