"""The storage protocol trails deliver to, its errors, and the factory from Settings.

A put with a `Retention` writes a WORM object (S3 Object Lock, docs/trails.md "Object
Lock"): it never replaces a different object at that key (PreconditionFailed), while the
same bytes again are a harmless redo that answers the version already there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from opentrail.clock import Clock
    from opentrail.config import Settings

__all__ = ["InvalidObjectName", "LockConfig", "NoSuchKey", "ObjectHead", "ObjectVersion",
           "Retention", "Storage", "StorageError", "StoredObject", "Versions", "Written",
           "open_storage"]

LOCK_MODES = ("COMPLIANCE", "GOVERNANCE")


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
    version_id: str | None = None


@dataclass(frozen=True)
class Retention:
    """An Object Lock retention: the mode and the UTC time (epoch seconds) it holds until."""

    mode: str                   # COMPLIANCE or GOVERNANCE
    retain_until: float


@dataclass(frozen=True)
class Written:
    """What a put stored: the version S3 assigned (None where there are no versions: an
    unversioned bucket, the folder) and the retention it was written with."""

    version_id: str | None = None
    retention: Retention | None = None


@dataclass(frozen=True)
class LockConfig:
    """GetObjectLockConfiguration: enabled, and the bucket's default retention if any."""

    enabled: bool = False
    mode: str | None = None
    days: int | None = None
    years: int | None = None


@dataclass(frozen=True)
class ObjectHead:
    """HeadObject's lock facts for one object version."""

    version_id: str | None
    retention: Retention | None
    legal_hold: bool = False
    read_only: bool = False     # the folder: the file's write bits are off


@dataclass(frozen=True)
class ObjectVersion:
    """One entry of ListObjectVersions: an object version or a delete marker."""

    key: str
    version_id: str | None
    latest: bool
    delete_marker: bool = False
    modified: float = 0.0


Versions = list[ObjectVersion]  # `list` is a method name inside the storage classes


class Storage(Protocol):
    """An object store with S3's names: buckets, keys, user metadata (x-amz-meta-*)."""

    def put(self, bucket: str, key: str, body: bytes, metadata: dict[str, str] | None = None,
            *, retention: Retention | None = None) -> Written:
        """Store durably. Without retention, replace any object at that key (so a redo is
        harmless); with it, write a locked object that never replaces a different one."""
        ...

    def get(self, bucket: str, key: str, version_id: str | None = None) -> StoredObject:
        """The object (that version of it, when given); raises NoSuchKey when there is none."""
        ...

    def list(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key under prefix, sorted."""
        ...

    def bucket_exists(self, bucket: str) -> bool:
        ...

    def lock_config(self, bucket: str) -> LockConfig:
        """The bucket's Object Lock configuration (disabled where there is none)."""
        ...

    def head(self, bucket: str, key: str, version_id: str | None = None) -> ObjectHead:
        """The object's lock state; raises NoSuchKey."""
        ...

    def versions(self, bucket: str, prefix: str) -> Versions:
        """Every version and delete marker under prefix, by key then newest first."""
        ...


def open_storage(settings: Settings, clock: Clock | None = None) -> Storage:
    """The destination named by `trail_storage`: "folder" (default) or "s3", with the
    Object Lock policy of the settings (`--object-lock-*`, docs/trails.md)."""
    from opentrail.storage._folder import FolderStorage
    from opentrail.storage._retention import RetentionPolicy
    from opentrail.storage._s3 import S3Storage

    policy = RetentionPolicy(settings.object_lock_mode or None,
                             settings.object_lock_days or None, settings.require_object_lock,
                             clock=clock)
    if settings.trail_storage == "s3":
        return S3Storage(settings.s3_endpoint_url or None, policy=policy)
    if settings.trail_storage == "folder":
        return FolderStorage(settings.data_dir / "buckets", policy=policy)
    raise ValueError(f"trail_storage must be 'folder' or 's3', not {settings.trail_storage!r}.")
