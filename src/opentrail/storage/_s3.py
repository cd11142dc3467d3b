"""An S3-compatible bucket reached with boto3 (AWS S3, MinIO, moto, ...).

The endpoint comes from configuration (`--s3-endpoint-url`; None means AWS itself) and the
credentials from the standard AWS chain (env, profile, instance role); nothing is
hard-coded. One client per endpoint; botocore's standard retry mode absorbs brief faults,
and whatever still fails surfaces as StorageError for delivery's own backoff.

A locked put (a Retention, from the caller or the RetentionPolicy) sends the explicit
`x-amz-object-lock-mode` / `-retain-until-date`, a SHA-256 checksum (S3 refuses lock
headers without MD5 or a checksum) and `If-None-Match: *`, so it never stacks a second
version on a key; a redo of the same bytes finds them there and answers their version.
Never sends the governance bypass header.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from opentrail.storage._retention import RetentionPolicy
from opentrail.storage._storage import (
    LockConfig,
    NoSuchKey,
    ObjectHead,
    ObjectVersion,
    Retention,
    StorageError,
    StoredObject,
    Versions,
    Written,
)

__all__ = ["S3Storage"]

MISSING_BUCKET = ("NoSuchBucket", "404", "NotFound")
MISSING_KEY = ("NoSuchKey", "404", "NotFound", "NoSuchVersion")
NO_LOCK = ("ObjectLockConfigurationNotFoundError",)


def _code(exc: Exception) -> str:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def _epoch(value: Any) -> float:
    return float(value.timestamp()) if isinstance(value, datetime) else 0.0


def _retention(response: dict[str, Any]) -> Retention | None:
    mode, until = response.get("ObjectLockMode"), response.get("ObjectLockRetainUntilDate")
    return Retention(str(mode), _epoch(until)) if mode and until else None


def _error(exc: Exception) -> StorageError:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return StorageError(str(err.get("Code", "Unknown")), str(err.get("Message", exc)))
    return StorageError(type(exc).__name__, str(exc))


class S3Storage:
    def __init__(self, endpoint_url: str | None = None, *, region: str | None = None,
                 client: Any = None, policy: RetentionPolicy | None = None) -> None:
        self.endpoint_url = endpoint_url
        self._client = client if client is not None else self._make_client(region)
        self.policy = policy or RetentionPolicy()

    def _make_client(self, region: str | None) -> Any:
        import boto3
        from botocore.config import Config

        config = Config(retries={"max_attempts": 4, "mode": "standard"},
                        connect_timeout=5, read_timeout=30,
                        s3={"addressing_style": "path"} if self.endpoint_url else {})
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint_url, region_name=region or "us-east-1",
            config=config)

    def put(self, bucket: str, key: str, body: bytes, metadata: dict[str, str] | None = None,
            *, retention: Retention | None = None) -> Written:
        try:
            retention = retention or self.policy.retention(self, bucket)
            if retention is None:
                response = self._client.put_object(Bucket=bucket, Key=key, Body=body,
                                                   Metadata=metadata or {})
                return Written(response.get("VersionId"))
            return self._put_locked(bucket, key, body, metadata or {}, retention)
        except StorageError:
            raise
        except Exception as exc:
            raise _error(exc) from exc

    def _put_locked(self, bucket: str, key: str, body: bytes, metadata: dict[str, str],
                    retention: Retention) -> Written:
        until = datetime.fromtimestamp(retention.retain_until, UTC)
        lock = {"ObjectLockMode": retention.mode, "ObjectLockRetainUntilDate": until,
                "ChecksumAlgorithm": "SHA256"}
        try:
            response = self._client.put_object(Bucket=bucket, Key=key, Body=body,
                                               Metadata=metadata, IfNoneMatch="*", **lock)
            return Written(response.get("VersionId"), retention)
        except Exception as exc:
            if _code(exc) == "NotImplemented":  # a server without conditional writes
                response = self._client.put_object(Bucket=bucket, Key=key, Body=body,
                                                   Metadata=metadata, **lock)
                return Written(response.get("VersionId"), retention)
            if _code(exc) != "PreconditionFailed":
                raise
        there = self.get(bucket, key)  # a redo after a crash, or somebody else's object
        if hashlib.sha256(there.body).digest() != hashlib.sha256(body).digest() or \
                there.metadata != metadata:
            raise StorageError("PreconditionFailed", f"s3://{bucket}/{key} already holds a "
                               "different object; a locked object is never replaced.")
        return Written(there.version_id, self.head(bucket, key, there.version_id).retention)

    def get(self, bucket: str, key: str, version_id: str | None = None) -> StoredObject:
        try:
            extra = {"VersionId": version_id} if version_id else {}
            response = self._client.get_object(Bucket=bucket, Key=key, **extra)
            return StoredObject(response["Body"].read(), dict(response.get("Metadata", {})),
                                response.get("VersionId"))
        except Exception as exc:
            if _code(exc) in MISSING_KEY:
                raise NoSuchKey(bucket, key) from None
            raise _error(exc) from exc

    def list(self, bucket: str, prefix: str = "") -> list[str]:
        keys: list[str] = []
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(
                    Bucket=bucket, Prefix=prefix):
                keys.extend(item["Key"] for item in page.get("Contents", []))
        except Exception as exc:
            raise _error(exc) from exc
        return sorted(keys)

    def bucket_exists(self, bucket: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client.head_bucket(Bucket=bucket)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in MISSING_BUCKET:
                return False
            raise _error(exc) from exc
        except Exception as exc:
            raise _error(exc) from exc
        return True

    def lock_config(self, bucket: str) -> LockConfig:
        try:
            config = self._client.get_object_lock_configuration(Bucket=bucket)
        except Exception as exc:
            if _code(exc) in NO_LOCK:
                return LockConfig()
            raise _error(exc) from exc
        lock = config.get("ObjectLockConfiguration", {})
        default = lock.get("Rule", {}).get("DefaultRetention", {})
        # moto answers the unset one of Days/Years as 0: treat 0 as not set.
        return LockConfig(lock.get("ObjectLockEnabled") == "Enabled", default.get("Mode"),
                          default.get("Days") or None, default.get("Years") or None)

    def head(self, bucket: str, key: str, version_id: str | None = None) -> ObjectHead:
        """By HeadObject, which more servers answer than GetObjectRetention (moto too)."""
        try:
            extra = {"VersionId": version_id} if version_id else {}
            response = self._client.head_object(Bucket=bucket, Key=key, **extra)
        except Exception as exc:
            if _code(exc) in MISSING_KEY:
                raise NoSuchKey(bucket, key) from None
            raise _error(exc) from exc
        return ObjectHead(response.get("VersionId"), _retention(response),
                          response.get("ObjectLockLegalHoldStatus") == "ON")

    def versions(self, bucket: str, prefix: str) -> Versions:
        out: list[ObjectVersion] = []
        try:
            for page in self._client.get_paginator("list_object_versions").paginate(
                    Bucket=bucket, Prefix=prefix):
                for item, marker in [*((v, False) for v in page.get("Versions", [])),
                                     *((d, True) for d in page.get("DeleteMarkers", []))]:
                    out.append(ObjectVersion(str(item["Key"]), item.get("VersionId"),
                                             bool(item.get("IsLatest")), marker,
                                             _epoch(item.get("LastModified"))))
        except Exception as exc:
            raise _error(exc) from exc
        return sorted(out, key=lambda v: (v.key, -v.modified, not v.latest))
