"""The embedded role: an exclusive `flock` on DATA_DIR/roles/<hash of the name>.lock.

One process on one data dir holds a role at a time (the kernel frees the lock when the
holder's file is closed or its process ends, kill -9 included), so two processes serving
one data dir still run each elected job once.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from pathlib import Path

__all__ = ["FileRole"]


class FileRole:
    def __init__(self, folder: Path, name: str) -> None:
        self.name = name
        digest = hashlib.sha256(name.encode()).hexdigest()[:32]
        self._path = folder / f"{digest}.lock"
        self._fd: int | None = None
        self._lock = threading.Lock()

    def held(self) -> bool:
        with self._lock:
            if self._fd is not None:
                return True
            try:
                self._path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:
                return False
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
            self._fd = fd
            return True

    def release(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)  # closing the file drops the flock
                self._fd = None
