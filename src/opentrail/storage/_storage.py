"""The storage protocol trails deliver to, its errors, and the factory from Settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from opentrail.config import Settings

__all__ = ["InvalidObjectName", "NoSuchKey", "Storage", "StorageError", "StoredObject",
           "open_storage"]


class StorageError(Exception):
    """The destination failed (unreachable, bucket gone, refused). `code` is short and
    AWS-shaped (e.g. NoSuchBucket) because it becomes GetTrailStatus' LatestDeliveryError."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class NoSuchKey(StorageError):
    def __init__(self, bucket: str, key: str) -> None:
        super().__init__("NoSuchKey", f"The object s3://{bucket}/{key} does not exist.")
        self.bucket = bucket
        self.key = key


class InvalidObjectName(StorageError, ValueError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidObjectName", message)


@dataclass(frozen=True)
class StoredObject:
    body: bytes
    metadata: dict[str, str] = field(default_factory=dict)


class Storage(Protocol):
    """An object store with S3's names: buckets, keys, user metadata (x-amz-meta-*)."""

    def put(self, bucket: str, key: str, body: bytes,
            metadata: dict[str, str] | None = None) -> None:
        """Store durably, replacing any object at that key (so a redo is harmless)."""
        ...

    def get(self, bucket: str, key: str) -> StoredObject:
        """The object; raises NoSuchKey when there is none."""
        ...

    def list(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key under prefix, sorted."""
        ...

    def bucket_exists(self, bucket: str) -> bool:
        ...


def open_storage(settings: Settings) -> Storage:
    """The destination named by `trail_storage`: "folder" (default) or "s3"."""
    from opentrail.storage._folder import FolderStorage
    from opentrail.storage._s3 import S3Storage

    if settings.trail_storage == "s3":
        return S3Storage(settings.s3_endpoint_url or None)
    if settings.trail_storage == "folder":
        return FolderStorage(settings.data_dir / "buckets")
    raise ValueError(f"trail_storage must be 'folder' or 's3', not {settings.trail_storage!r}.")
