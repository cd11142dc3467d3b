"""Where trails deliver: an S3-compatible bucket or a folder under the data dir.

Both implement the one small `Storage` protocol; delivery never knows which it has.
"""

from opentrail.storage._folder import FolderStorage, write_atomic
from opentrail.storage._s3 import S3Storage
from opentrail.storage._storage import (
    InvalidObjectName,
    NoSuchKey,
    Storage,
    StorageError,
    StoredObject,
    open_storage,
)

__all__ = [
    "FolderStorage",
    "InvalidObjectName",
    "NoSuchKey",
    "S3Storage",
    "Storage",
    "StorageError",
    "StoredObject",
    "open_storage",
    "write_atomic",
]
