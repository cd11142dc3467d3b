"""Digest signing keys as files: `SigningKeyRows` (trails/_signing_rows.py), embedded.

DATA_DIR/signing-keys/REGION/VALIDFROM-FINGERPRINT.pem: folders 0700, files 0600,
PKCS#8 PEM, each written once (O_EXCL) and fsynced. `creating` holds an exclusive
flock on signing-keys/.lock, so two processes (or two SigningKeys) rotate once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from opentrail.trails._signing_rows import SigningKeyRow, StoredKey

__all__ = ["FolderSigningKeyRows"]


class FolderSigningKeyRows:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def load(self, region: str) -> list[SigningKeyRow]:
        folder = self.root / region
        entries = sorted(folder.glob("*.pem")) if folder.exists() else []
        rows = []
        for path in entries:
            start, _, fingerprint = path.stem.partition("-")
            rows.append(SigningKeyRow(float(start), fingerprint, path.read_bytes()))
        return rows

    def listed(self) -> list[StoredKey]:
        paths = sorted(self.root.glob("*/*.pem")) if self.root.is_dir() else []
        out = []
        for path in paths:
            start, _, fingerprint = path.stem.partition("-")
            out.append(StoredKey(path.parent.name, float(start), fingerprint,
                                 oct(path.stat().st_mode & 0o777)))
        return out

    def add(self, region: str, row: SigningKeyRow) -> None:
        folder = self.root / region
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / f"{int(row.valid_from):012d}-{row.fingerprint}.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(row.pem)
            out.flush()
            os.fsync(out.fileno())

    @contextlib.contextmanager
    def creating(self, region: str) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock
