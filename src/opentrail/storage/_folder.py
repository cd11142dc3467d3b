"""A folder that behaves like a set of S3 buckets, for the embedded default.

Mapping (documented in docs/trails.md): bucket NAME is the folder ROOT/NAME/ (ROOT is
DATA_DIR/buckets), object KEY is the file ROOT/NAME/KEY with `/` as the folder separator,
and an object's user metadata (a digest's `signature`, `signature-algorithm`) is the JSON
file ROOT/NAME/KEY.meta.json beside it, so validation works offline from the folder alone.

Durability, step by step: write the bytes to a hidden temp file in the target folder,
fsync it, rename it over the target (atomic on POSIX), then fsync the folder so the rename
itself survives a crash. The metadata file is written first, so an object that exists
always has its metadata.

With a Retention (Object Lock asked for), the folder offers what a file system can: the
object and its metadata are made read-only (mode 0444) and linked into place with
link(2), which fails rather than replace an existing file, so OpenTrail never overwrites
it; the same bytes again are a harmless redo. This is **not WORM**: the file's owner or
root can chmod, replace or delete it, and nothing keeps a retain-until date. A folder has
no versions: version IDs are None and `versions` lists each file once as its latest.
"""

from __future__ import annotations

import json
import os
import re
import stat
import uuid
from pathlib import Path

from opentrail.storage._retention import RetentionPolicy
from opentrail.storage._storage import (
    InvalidObjectName,
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

__all__ = ["FolderStorage", "write_atomic"]

META_SUFFIX = ".meta.json"
TEMP_PREFIX = ".tmp-"
READ_ONLY = 0o444
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, locked: bool = False) -> None:
    """Replace `path` with `data` so a reader sees the old file or the new one, never half:
    a 0600 temp file beside it, fsync, rename, fsync the folder. `locked`: a read-only
    file, linked into place only if `path` does not exist yet (FileExistsError if it does)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.parent / f"{TEMP_PREFIX}{uuid.uuid4().hex}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            if locked:
                os.fchmod(out.fileno(), READ_ONLY)
            os.fsync(out.fileno())
        if locked:
            os.link(temp, path)
            temp.unlink()
        else:
            os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


class FolderStorage:
    """Buckets as folders under `root`. A bucket folder is created by its first object,
    so every well-formed bucket name "exists" (CreateTrail needs no setup step)."""

    def __init__(self, root: Path, *, policy: RetentionPolicy | None = None) -> None:
        self.root = root
        self.policy = policy or RetentionPolicy()

    def _bucket(self, bucket: str) -> Path:
        if not BUCKET_NAME.match(bucket) or ".." in bucket:
            raise InvalidObjectName(f"The bucket name {bucket!r} is not a valid S3 bucket "
                                    "name (3-63 of a-z, 0-9, '.', '-').")
        return self.root / bucket

    def _path(self, bucket: str, key: str) -> Path:
        parts = key.split("/")
        bad = (not key or len(key.encode()) > 1024 or "\0" in key or key.endswith(META_SUFFIX)
               or any(p in ("", ".", "..") or p.startswith(TEMP_PREFIX) for p in parts))
        if bad:
            raise InvalidObjectName(f"The key {key!r} cannot be stored in a folder: it must "
                                    "have no empty, '.' or '..' segments and must not end "
                                    f"with {META_SUFFIX!r}.")
        return self._bucket(bucket).joinpath(*parts)

    def put(self, bucket: str, key: str, body: bytes, metadata: dict[str, str] | None = None,
            *, retention: Retention | None = None) -> Written:
        path = self._path(bucket, key)
        meta = path.with_name(path.name + META_SUFFIX)
        retention = retention or self.policy.retention(self, bucket)
        try:
            if retention is not None:
                self._put_locked(path, meta, body, metadata or {})
                return Written(None, retention)
            if metadata:
                write_atomic(meta, json.dumps(metadata, sort_keys=True).encode())
            elif meta.exists():
                meta.unlink()
            write_atomic(path, body)
        except OSError as exc:
            raise StorageError("InternalError", f"Cannot write {path}: {exc}.") from exc
        return Written()

    def _put_locked(self, path: Path, meta: Path, body: bytes,
                    metadata: dict[str, str]) -> None:
        """Read-only files, never replaced: the same bytes again are a redo."""
        wanted = json.dumps(metadata, sort_keys=True).encode() if metadata else None
        if path.exists():
            same_meta = (meta.read_bytes() if meta.exists() else None) == wanted
            if path.read_bytes() == body and same_meta:
                return
            raise StorageError("PreconditionFailed", f"{path} already holds a different "
                               "object; a locked object is never replaced.")
        if wanted is not None and not meta.exists():
            write_atomic(meta, wanted, locked=True)
        try:
            write_atomic(path, body, locked=True)
        except FileExistsError:  # another writer won the race: same rule as above
            self._put_locked(path, meta, body, metadata)

    def get(self, bucket: str, key: str, version_id: str | None = None) -> StoredObject:
        path = self._path(bucket, key)
        try:
            body = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NoSuchKey(bucket, key) from None
        meta = path.with_name(path.name + META_SUFFIX)
        metadata = json.loads(meta.read_bytes()) if meta.exists() else {}
        return StoredObject(body, metadata)

    def list(self, bucket: str, prefix: str = "") -> list[str]:
        base = self._bucket(bucket)
        # Walk only the deepest folder the prefix names; S3 prefixes are plain strings.
        start = base.joinpath(*prefix.split("/")[:-1]) if "/" in prefix else base
        keys: list[str] = []
        for folder, _dirs, files in os.walk(start):
            rel = Path(folder).relative_to(base).as_posix()
            for name in files:
                if name.endswith(META_SUFFIX) or name.startswith(TEMP_PREFIX):
                    continue
                key = name if rel == "." else f"{rel}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def bucket_exists(self, bucket: str) -> bool:
        try:
            self._bucket(bucket)
        except InvalidObjectName:
            return False
        return True

    def lock_config(self, bucket: str) -> LockConfig:
        self._bucket(bucket)
        return LockConfig()  # a file system has no Object Lock

    def head(self, bucket: str, key: str, version_id: str | None = None) -> ObjectHead:
        path = self._path(bucket, key)
        try:
            mode = path.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            raise NoSuchKey(bucket, key) from None
        writable = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
        return ObjectHead(None, None, read_only=not mode & writable)

    def versions(self, bucket: str, prefix: str) -> Versions:
        out = []
        for key in self.list(bucket, prefix):
            modified = self._path(bucket, key).stat().st_mtime
            out.append(ObjectVersion(key, None, True, False, modified))
        return out
