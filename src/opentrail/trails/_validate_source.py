"""Where validate-logs reads objects from: an S3-compatible bucket, or the local folder.

One small protocol, two readers. The folder reader goes through `opentrail.storage`'s
FolderStorage, so the bucket-to-folder mapping (DIR/BUCKET/KEY, metadata in
KEY.meta.json beside it) is defined in one place only.

By version (S3, compliance spec 7.1): a DeleteObject without a version ID adds a delete
marker that hides an object, even under Object Lock, and a later PUT stacks a new version
on it. So the S3 reader lists a folder's versions once (ListObjectVersions) and reads
each object's **first** version by its VersionId: OpenTrail writes a key once, so the
first version is the delivered one; when the OpenTrail server's delivery record gave the
exact VersionId (trails/_validate_versions.py), that version is read instead. A key whose
newest entry is a delete marker is still listed and read; what hid or replaced it becomes
the object's `notice`. A server or key that cannot list versions is read as before
(plain GET of the current object).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = ["FolderSource", "ObjectMissing", "ObjectSource", "Opened", "S3Source"]

CHUNK = 1 << 20


class ObjectMissing(Exception):
    """The object does not exist (S3 NoSuchKey)."""


@dataclass
class Opened:
    chunks: Iterator[bytes]
    metadata: dict[str, str]
    notice: str | None = None   # the object was hidden or replaced; its first version read

    def read(self) -> bytes:
        return b"".join(self.chunks)


class ObjectSource(Protocol):
    def keys(self, bucket: str, prefix: str, start_after: str) -> Iterator[str]:
        """Keys under prefix that sort after start_after, in S3 (byte) order."""
        ...

    def open(self, bucket: str, key: str) -> Opened:
        """The object's body as chunks, and its user metadata; raises ObjectMissing."""
        ...


class S3Source:
    """botocore against AWS or any S3-compatible endpoint. One client per bucket region,
    with a connection pool as large as the thread pool that shares it."""

    def __init__(self, session: Any, endpoint_url: str | None, region: str | None,
                 pool: int, *, recorded: dict[tuple[str, str], str] | None = None) -> None:
        self._session = session
        self._endpoint = endpoint_url
        self._region = region
        self._pool = pool
        self._clients: dict[str | None, Any] = {}
        self._bucket_region: dict[str, str | None] = {}
        self._versioned: dict[str, bool] = {}
        self._recorded = recorded or {}  # (bucket, key) -> VersionId OpenTrail delivered
        self._folders: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
        self._lock = threading.RLock()  # botocore sessions do not create clients thread-safely

    def _client(self, region: str | None) -> Any:
        if region not in self._clients:
            from botocore.config import Config

            config = Config(max_pool_connections=self._pool, connect_timeout=10,
                            read_timeout=60, retries={"max_attempts": 4, "mode": "standard"})
            self._clients[region] = self._session.create_client(
                "s3", endpoint_url=self._endpoint, region_name=region, config=config)
        return self._clients[region]

    def client_for(self, bucket: str) -> Any:
        """A client signing for the bucket's own region, as awscli's S3ClientProvider."""
        if bucket in self._bucket_region:
            return self._clients[self._bucket_region[bucket]]
        with self._lock:
            if bucket not in self._bucket_region:
                location = self._client(self._region).get_bucket_location(Bucket=bucket)
                region = location.get("LocationConstraint") or "us-east-1"
                self._client(region)
                self._bucket_region[bucket] = region
            return self._clients[self._bucket_region[bucket]]

    def keys(self, bucket: str, prefix: str, start_after: str) -> Iterator[str]:
        if self._by_version(bucket):
            yield from self._version_keys(bucket, prefix, start_after)
            return
        pages = self.client_for(bucket).get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, StartAfter=start_after)
        for page in pages:
            for item in page.get("Contents", []):
                yield str(item["Key"])

    def _version_keys(self, bucket: str, prefix: str, start_after: str) -> Iterator[str]:
        """Keys with at least one object version (a delete marker does not hide them)."""
        pages = self.client_for(bucket).get_paginator("list_object_versions").paginate(
            Bucket=bucket, Prefix=prefix, KeyMarker=start_after)
        last = None
        for page in pages:
            for item in page.get("Versions", []):
                key = str(item["Key"])
                if key != last and key > start_after:
                    last = key
                    yield key

    def _by_version(self, bucket: str) -> bool:
        """Whether the bucket's versions can be listed (versioning on, and allowed)."""
        with self._lock:
            if bucket not in self._versioned:
                try:
                    state = self.client_for(bucket).get_bucket_versioning(Bucket=bucket)
                    self._versioned[bucket] = state.get("Status") in ("Enabled", "Suspended")
                except Exception:  # not allowed, not implemented: read as before
                    self._versioned[bucket] = False
            return self._versioned[bucket]

    def _versions(self, bucket: str, key: str) -> list[dict[str, Any]] | None:
        """The key's versions and delete markers, oldest first (None: cannot list)."""
        folder = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
        with self._lock:
            cached = self._folders.get((bucket, folder))
        if cached is None:
            cached = {}
            try:
                pages = self.client_for(bucket).get_paginator("list_object_versions")
                for page in pages.paginate(Bucket=bucket, Prefix=folder, Delimiter="/"):
                    for item in page.get("Versions", []):
                        cached.setdefault(str(item["Key"]), []).append(dict(item))
                    for item in page.get("DeleteMarkers", []):
                        cached.setdefault(str(item["Key"]), []).append(
                            {**item, "DeleteMarker": True})
            except Exception:
                return None
            with self._lock:
                self._folders[(bucket, folder)] = cached
        if key not in cached:  # written after the folder was listed: list it alone
            return self._key_versions(bucket, key)
        return sorted(cached[key], key=_age)

    def _key_versions(self, bucket: str, key: str) -> list[dict[str, Any]] | None:
        try:
            page = self.client_for(bucket).list_object_versions(Bucket=bucket, Prefix=key)
        except Exception:
            return None
        found = [dict(v) for v in page.get("Versions", []) if v["Key"] == key]
        found += [{**d, "DeleteMarker": True} for d in page.get("DeleteMarkers", [])
                  if d["Key"] == key]
        return sorted(found, key=_age)

    def open(self, bucket: str, key: str) -> Opened:
        versions = self._versions(bucket, key) if self._by_version(bucket) else None
        first = next((v for v in versions or [] if not v.get("DeleteMarker")), None)
        recorded = self._recorded.get((bucket, key))
        if versions is not None and first is None and recorded is None:
            raise ObjectMissing(key)
        version = recorded or (first.get("VersionId") if first else None)
        client = self.client_for(bucket)
        try:
            extra = {"VersionId": version} if version not in (None, "null") else {}
            response = client.get_object(Bucket=bucket, Key=key, **extra)
        except Exception as exc:  # a version deleted for good: NoSuchVersion (or a 404)
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code in ("NoSuchKey", "NoSuchVersion", "404"):
                raise ObjectMissing(key) from None
            raise
        body = response["Body"]
        return Opened(iter(lambda: body.read(CHUNK), b""), dict(response.get("Metadata", {})),
                      _notice(versions or [], version))


def _age(version: dict[str, Any]) -> tuple[Any, bool]:
    """Oldest first; S3 times are whole seconds, so among equals the latest goes last."""
    return version["LastModified"], bool(version.get("IsLatest"))


def _notice(versions: list[dict[str, Any]], read: str | None) -> str | None:
    """What happened to an object after its first version: a delete marker hides it, or
    later versions replaced it (the first version, `read`, is what was validated)."""
    later = [v for v in versions if v.get("VersionId") != read]
    if not later:
        return None
    markers = sum(1 for v in later if v.get("DeleteMarker"))
    hidden = any(v.get("DeleteMarker") and v.get("IsLatest") for v in versions)
    parts = ["hidden by a delete marker" if hidden else
             f"replaced by {len(later) - markers} later version(s)"]
    if hidden and len(later) - markers:
        parts.append(f"{len(later) - markers} later version(s)")
    return f"{', '.join(parts)}; validated its first version {read}"


class FolderSource:
    """The local-folder destination: bucket NAME is ROOT/NAME/ (see docs/trails.md)."""

    def __init__(self, root: Path) -> None:
        from opentrail.storage import FolderStorage

        self.root = root
        self._storage = FolderStorage(root)

    def keys(self, bucket: str, prefix: str, start_after: str) -> Iterator[str]:
        # S3 sorts keys by their UTF-8 bytes; so do we, whatever the folder walk yields.
        for key in sorted(self._storage.list(bucket, prefix), key=str.encode):
            if key > start_after:
                yield key

    def open(self, bucket: str, key: str) -> Opened:
        from opentrail.storage import NoSuchKey

        try:
            stored = self._storage.get(bucket, key)
        except NoSuchKey:
            raise ObjectMissing(key) from None
        return Opened(iter([stored.body]), dict(stored.metadata))
