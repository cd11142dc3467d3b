"""The public face of opentrail.storage is exactly this."""

from __future__ import annotations

from opentrail import storage


def test_all_is_pinned() -> None:
    assert sorted(storage.__all__) == [
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
    for name in storage.__all__:
        assert getattr(storage, name).__module__.startswith("opentrail.storage")
