"""An S3-compatible bucket reached with boto3 (AWS S3, MinIO, moto, ...).

The endpoint comes from configuration (`--s3-endpoint-url`; None means AWS itself) and the
credentials from the standard AWS chain (env, profile, instance role); nothing is
hard-coded. One client per endpoint; botocore's standard retry mode absorbs brief faults,
and whatever still fails surfaces as StorageError for delivery's own backoff.
"""

from __future__ import annotations

from typing import Any

from opentrail.storage._storage import NoSuchKey, StorageError, StoredObject

__all__ = ["S3Storage"]

MISSING_BUCKET = ("NoSuchBucket", "404", "NotFound")


def _error(exc: Exception) -> StorageError:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return StorageError(str(err.get("Code", "Unknown")), str(err.get("Message", exc)))
    return StorageError(type(exc).__name__, str(exc))


class S3Storage:
    def __init__(self, endpoint_url: str | None = None, *, region: str | None = None,
                 client: Any = None) -> None:
        self.endpoint_url = endpoint_url
        self._client = client if client is not None else self._make_client(region)

    def _make_client(self, region: str | None) -> Any:
        import boto3
        from botocore.config import Config

        config = Config(retries={"max_attempts": 4, "mode": "standard"},
                        connect_timeout=5, read_timeout=30,
                        s3={"addressing_style": "path"} if self.endpoint_url else {})
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint_url, region_name=region or "us-east-1",
            config=config)

    def put(self, bucket: str, key: str, body: bytes,
            metadata: dict[str, str] | None = None) -> None:
        try:
            self._client.put_object(Bucket=bucket, Key=key, Body=body,
                                    Metadata=metadata or {})
        except Exception as exc:
            raise _error(exc) from exc

    def get(self, bucket: str, key: str) -> StoredObject:
        try:
            response = self._client.get_object(Bucket=bucket, Key=key)
            return StoredObject(response["Body"].read(), dict(response.get("Metadata", {})))
        except self._client.exceptions.NoSuchKey:
            raise NoSuchKey(bucket, key) from None
        except Exception as exc:
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
