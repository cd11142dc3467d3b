"""Where validate-logs reads objects from: an S3-compatible bucket, or the local folder.

One small protocol, two readers. The folder reader goes through `opentrail.storage`'s
FolderStorage, so the bucket-to-folder mapping (DIR/BUCKET/KEY, metadata in
KEY.meta.json beside it) is defined in one place only.
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
                 pool: int) -> None:
        self._session = session
        self._endpoint = endpoint_url
        self._region = region
        self._pool = pool
        self._clients: dict[str | None, Any] = {}
        self._bucket_region: dict[str, str | None] = {}
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
        pages = self.client_for(bucket).get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, StartAfter=start_after)
        for page in pages:
            for item in page.get("Contents", []):
                yield str(item["Key"])

    def open(self, bucket: str, key: str) -> Opened:
        client = self.client_for(bucket)
        try:
            response = client.get_object(Bucket=bucket, Key=key)
        except client.exceptions.NoSuchKey:
            raise ObjectMissing(key) from None
        body = response["Body"]
        return Opened(iter(lambda: body.read(CHUNK), b""), dict(response.get("Metadata", {})))


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
