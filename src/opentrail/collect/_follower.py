"""`FileFollower`: the new complete lines of a growing file, across rotation and truncation.

* Rotation (logrotate's rename, or auditd's own `max_log_file_action = rotate`): the
  path now names a different inode. The old file is read to its end first (the writer
  may have added lines after the rename), then the new one from its start.
* Truncation (`copytruncate`): the same inode got shorter than the position; the
  file is read again from its start.
* Restart: the saved position names an inode; if the path is now another file, the
  rotated one is looked for beside it (`audit.log.1`, `audit.log-20261125`, ...) by
  inode and finished before the new one is started.

Only whole lines are returned; `cut` lets a format keep back lines that may still be
joined by more (an auditd event whose records are not all written yet) until the file
has stopped growing for one poll.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from opentrail.collect._positions import Position

__all__ = ["Chunk", "FileFollower"]

log = logging.getLogger("opentrail.collect")


@dataclass(frozen=True, slots=True)
class Chunk:
    data: bytes  # whole lines
    start: Position
    end: Position  # to save once every event in `data` is acknowledged


class FileFollower:
    def __init__(self, path: Path, start: Position | None, *, chunk_bytes: int = 1 << 20,
                 cut: Callable[[bytes], int] | None = None) -> None:
        self.path, self.chunk_bytes, self._cut = path, chunk_bytes, cut
        self._start = start
        self._file: BinaryIO | None = None
        self._inode, self._offset = 0, 0
        self._held = -1  # size of the last chunk kept back whole by `cut`

    @property
    def position(self) -> Position:
        return Position(self._inode, self._offset)

    def read(self) -> Chunk | None:
        """The next whole lines, or None when there is nothing new yet."""
        if self._file is None and not self._open():
            return None
        assert self._file is not None
        self._file.seek(self._offset)
        data = self._file.read(self.chunk_bytes)
        end = data.rfind(b"\n") + 1
        if end == 0 and len(data) < self.chunk_bytes:
            return self._at_end(data)
        end = end or len(data)  # a line longer than a chunk is sent in pieces
        return self._chunk(data[:end])

    def _chunk(self, data: bytes, *, whole: bool = False) -> Chunk | None:
        size = len(data)
        if self._cut is not None and not whole:
            size = self._cut(data)
            if size == 0:
                if self._held != len(data):  # wait one poll for the rest of the event
                    self._held = len(data)
                    return None
                size = len(data)
        self._held = -1
        start = self.position
        self._offset += size
        return Chunk(data[:size], start, self.position)

    def _at_end(self, partial: bytes) -> Chunk | None:
        """Nothing whole to read: look for rotation or truncation of the file."""
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            return None  # rotated away, the new file not created yet
        if current.st_ino != self._inode:
            if partial:  # the writer moved on: its unterminated last line is whole
                return self._chunk(partial, whole=True)
            log.info("%s was rotated; reading the new file from its start", self.path)
            self._switch(None)
        elif current.st_size < self._offset:
            log.warning("%s was truncated; reading it again from its start", self.path)
            self._offset = 0
        return None

    def _switch(self, start: Position | None) -> None:
        if self._file is not None:
            self._file.close()
        self._file, self._start = None, start
        self._open()

    def _open(self) -> bool:
        try:
            file = self.path.open("rb")
        except FileNotFoundError:
            return False
        inode, size = os.fstat(file.fileno()).st_ino, os.fstat(file.fileno()).st_size
        start, self._start = self._start, None
        if start is not None and start.inode != inode:
            rotated = self._rotated(start.inode)
            if rotated is not None:
                file.close()
                file, inode, size = rotated.open("rb"), start.inode, rotated.stat().st_size
                log.info("finishing %s (rotated from %s) before the new file", rotated,
                         self.path)
            else:
                log.warning("%s is a new file and the one read before is gone; reading "
                            "from its start", self.path)
                start = None
        self._file, self._inode = file, inode
        self._offset = start.offset if start is not None and start.offset <= size else 0
        return True

    def _rotated(self, inode: int) -> Path | None:
        for candidate in sorted(self.path.parent.glob(f"{self.path.name}*")):
            try:
                if candidate != self.path and candidate.stat().st_ino == inode:
                    return candidate
            except OSError:
                continue
        return None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
