"""The public face of opentrail.storage is exactly this."""

from __future__ import annotations

from opentrail import storage


def test_all_is_pinned() -> None:
    assert sorted(storage.__all__) == [
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
    for name in storage.__all__:
        assert getattr(storage, name).__module__.startswith("opentrail.storage")
