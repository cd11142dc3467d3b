"""Where a store's Parquet files and manifests live: a local folder or an S3 prefix.

Keys are `/`-separated paths relative to the location (`<store-id>/account=.../x.parquet`);
both implementations use the same keys, so a lake copied from a folder to a bucket (or
back) is the same lake.

Durability, step by step. Folder: write the bytes to a hidden temp file (`.tmp-<uuid>`, no
`.parquet` suffix, so no reader's glob matches it) in the target folder, fsync it, rename
it over the target (atomic on POSIX: a reader sees the old file or the new one, never half
of one), then fsync the folder so the rename survives a crash. S3: one PUT, which S3
makes visible whole or not at all.

Engines read a store through `scan(store_id)`: the files, the hive base path, and a
pyarrow filesystem (local, or `pyarrow.fs.S3FileSystem` with the same endpoint and
credentials as boto3), so DuckDB or pyarrow read S3 without any DuckDB extension.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from opentrail.storage import StorageError, write_atomic

if TYPE_CHECKING:
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs

    from opentrail.config import Settings

__all__ = ["FolderLocation", "LakeLocation", "S3Location", "StoreScan", "open_location",
           "parse_location", "partition_of"]

TEMP_PREFIX = ".tmp-"  # storage.write_atomic's temp files, skipped when listing

PARTITIONS = ("account", "region", "date")


def partition_of(account: str, region: str, event_time: int) -> str:
    """The hive partition (folder) of an event: by account, region and UTC event date."""
    date = datetime.fromtimestamp(event_time, UTC).strftime("%Y-%m-%d")
    return f"account={account}/region={region}/date={date}"


@dataclass(frozen=True)
class StoreScan:
    """What an engine needs to read one store's data files."""

    base: str  # the store's folder or `bucket/prefix/<store-id>` (the hive base path)
    paths: tuple[str, ...]  # every data file, in the filesystem's own path form
    filesystem: pafs.FileSystem
    glob: str | None  # local only: `<base>/*/*/*/*.parquet` for DuckDB's read_parquet

    def dataset(self, schema: Any = None) -> ds.Dataset:
        """A pyarrow dataset of the files with the hive partition columns as strings
        (`account`, `region`, `date`); DuckDB scans it as a table."""
        import pyarrow as pa
        import pyarrow.dataset as ds

        parts = ds.partitioning(pa.schema([(p, pa.string()) for p in PARTITIONS]),
                                flavor="hive")
        if schema is not None:
            schema = pa.unify_schemas(
                [schema, pa.schema([(p, pa.string()) for p in PARTITIONS])])
        return ds.dataset(list(self.paths), schema=schema, format="parquet",
                          filesystem=self.filesystem, partitioning=parts,
                          partition_base_dir=self.base)


class LakeLocation(Protocol):
    """Atomic puts, reads, listing and deletes of keys; raises StorageError on failure."""

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def keys(self, prefix: str) -> list[str]:
        """Every key under prefix, sorted (temp files excluded)."""
        ...

    def delete(self, keys: list[str]) -> None:
        """Remove the keys; a key already gone is not an error."""
        ...

    def scan(self, store_id: str) -> StoreScan: ...

    def describe(self, key: str = "") -> str:
        """The location (or one key) as a user would write it: a path or s3:// URL."""
        ...


def _check_key(key: str) -> list[str]:
    parts = key.split("/")
    if not key or any(p in ("", ".", "..") or p.startswith(TEMP_PREFIX) for p in parts):
        raise StorageError("InvalidObjectName", f"{key!r} is not a valid lake key.")
    return parts


class FolderLocation:
    """A local folder (default DATA_DIR/lake)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*_check_key(key))

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            write_atomic(path, data)
        except OSError as exc:
            raise StorageError(_os_code(exc), f"Cannot write {path}: {exc.strerror or exc}."
                               ) from exc

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise StorageError("NoSuchKey", f"{path} does not exist.") from None
        except OSError as exc:
            raise StorageError(_os_code(exc), f"Cannot read {path}: {exc}.") from exc

    def keys(self, prefix: str) -> list[str]:
        start = self.root.joinpath(*prefix.split("/")[:-1]) if "/" in prefix else self.root
        keys: list[str] = []
        for folder, _dirs, files in os.walk(start):
            rel = Path(folder).relative_to(self.root).as_posix()
            for name in files:
                key = name if rel == "." else f"{rel}/{name}"
                if not name.startswith(TEMP_PREFIX) and key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def delete(self, keys: list[str]) -> None:
        folders = set()
        for key in keys:
            path = self._path(key)
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                raise StorageError(_os_code(exc), f"Cannot delete {path}: {exc}.") from exc
            folders.add(path.parent)
        for folder in sorted(folders, key=lambda p: -len(p.parts)):
            _prune(folder, self.root)

    def scan(self, store_id: str) -> StoreScan:
        import pyarrow.fs as pafs

        base = self.root / store_id
        paths = tuple(str(self.root / k) for k in self.keys(f"{store_id}/")
                      if k.endswith(".parquet"))
        return StoreScan(str(base), paths, pafs.LocalFileSystem(),
                         f"{base}/*/*/*/*.parquet")

    def describe(self, key: str = "") -> str:
        return str(self.root / key) if key else str(self.root)


def _prune(folder: Path, root: Path) -> None:
    """Remove empty partition folders up to (not including) the store's folder."""
    while root not in (folder, folder.parent):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def _os_code(exc: OSError) -> str:
    import errno

    return {errno.ENOSPC: "DiskFull", errno.EACCES: "AccessDenied",
            errno.EROFS: "ReadOnlyFileSystem"}.get(exc.errno or 0, "InternalError")


def _client_error(exc: Exception) -> StorageError:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return StorageError(str(err.get("Code", "Unknown")), str(err.get("Message", exc)))
    return StorageError(type(exc).__name__, str(exc))


class S3Location:
    """`s3://bucket/prefix` through boto3 (AWS S3, MinIO, moto...)."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None,
                 region: str = "us-east-1") -> None:
        import boto3
        from botocore.config import Config

        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.endpoint_url, self.region = endpoint_url, region
        self._session = boto3.session.Session()
        config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5,
                        read_timeout=30,
                        s3={"addressing_style": "path"} if endpoint_url else {})
        self._client: Any = self._session.client("s3", endpoint_url=endpoint_url,
                                                 region_name=region, config=config)

    def _key(self, key: str) -> str:
        _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> None:
        try:
            self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except Exception as exc:
            raise _client_error(exc) from exc

    def get(self, key: str) -> bytes:
        try:
            body: bytes = self._client.get_object(Bucket=self.bucket,
                                                  Key=self._key(key))["Body"].read()
            return body
        except Exception as exc:
            raise _client_error(exc) from exc

    def keys(self, prefix: str) -> list[str]:
        full = f"{self.prefix}/{prefix}" if self.prefix else prefix
        cut = len(self.prefix) + 1 if self.prefix else 0
        keys: list[str] = []
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(
                    Bucket=self.bucket, Prefix=full):
                keys.extend(item["Key"][cut:] for item in page.get("Contents", []))
        except Exception as exc:
            raise _client_error(exc) from exc
        return sorted(keys)

    def delete(self, keys: list[str]) -> None:
        for i in range(0, len(keys), 1000):
            chunk = [{"Key": self._key(k)} for k in keys[i : i + 1000]]
            try:
                out = self._client.delete_objects(Bucket=self.bucket,
                                                  Delete={"Objects": chunk, "Quiet": True})
            except Exception as exc:
                raise _client_error(exc) from exc
            if out.get("Errors"):
                err = out["Errors"][0]
                raise StorageError(str(err.get("Code")), f"Cannot delete {err.get('Key')}: "
                                   f"{err.get('Message')}.")

    def filesystem(self) -> pafs.S3FileSystem:
        """pyarrow's S3 client with boto3's endpoint, region and credentials."""
        import pyarrow.fs as pafs

        creds = self._session.get_credentials()
        frozen = creds.get_frozen_credentials() if creds is not None else None
        kwargs: dict[str, Any] = {"region": self.region}
        if frozen is not None:
            kwargs.update(access_key=frozen.access_key, secret_key=frozen.secret_key,
                          session_token=frozen.token)
        else:
            kwargs["anonymous"] = True
        if self.endpoint_url:
            scheme, _, host = self.endpoint_url.partition("://")
            kwargs.update(endpoint_override=host.rstrip("/"), scheme=scheme)
        return pafs.S3FileSystem(**kwargs)

    def scan(self, store_id: str) -> StoreScan:
        base = f"{self.bucket}/{self._key(store_id)}"
        paths = tuple(f"{self.bucket}/{self._key(k)}" for k in self.keys(f"{store_id}/")
                      if k.endswith(".parquet"))
        return StoreScan(base, paths, self.filesystem(), None)

    def describe(self, key: str = "") -> str:
        where = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        return f"{where}/{key}" if key else where


def parse_location(value: str) -> tuple[str, str] | None:
    """(bucket, prefix) of an `s3://bucket[/prefix]` value; None for a folder path;
    ValueError for an s3:// value without a valid bucket name."""
    import re

    if not value.startswith("s3://"):
        return None
    bucket, _, prefix = value[5:].partition("/")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]", bucket):
        raise ValueError(f"--lake-location {value!r}: {bucket!r} is not a valid S3 bucket "
                         "name (3-63 of a-z, 0-9, '.', '-').")
    return bucket, prefix.strip("/")


def open_location(settings: Settings) -> LakeLocation:
    """`lake_location`: empty = DATA_DIR/lake, `s3://bucket/prefix`, or a folder path."""
    value = settings.lake_location
    s3 = parse_location(value)
    if s3 is not None:
        return S3Location(s3[0], s3[1], settings.s3_endpoint_url or None, settings.region)
    return FolderLocation(Path(value) if value else settings.data_dir / "lake")
