"""Where each followed file was read up to, kept in one JSON state file.

A position is saved only after the server acknowledged every event before it, and the
file is replaced durably (temp file → fsync → rename → fsync of the folder), so after
a crash at any point the collector restarts at or before the last acknowledged byte:
events may be sent again (the server stores them once, by eventID), never skipped.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["Position", "Positions"]


@dataclass(frozen=True, slots=True)
class Position:
    inode: int  # identifies the file across renames: rotation keeps the inode
    offset: int  # bytes read and acknowledged


class Positions:
    def __init__(self, state_file: Path) -> None:
        self.state_file = state_file
        self._positions: dict[str, Position] = {}
        try:
            raw = json.loads(state_file.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise ValueError(f"The state file {state_file} is unreadable ({exc}); move it "
                             "aside to start over (events are then sent again).") from exc
        self._positions = {k: Position(int(v["inode"]), int(v["offset"]))
                           for k, v in raw.get("files", {}).items()}

    def get(self, source: str) -> Position | None:
        return self._positions.get(source)

    def save(self, source: str, position: Position) -> None:
        self._positions[source] = position
        data = json.dumps({"files": {k: asdict(v) for k, v in self._positions.items()}},
                          indent=1, sort_keys=True).encode()
        temp = self.state_file.with_name(f".{self.state_file.name}.tmp")
        with temp.open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        temp.replace(self.state_file)
        folder = os.open(self.state_file.parent, os.O_RDONLY)
        try:  # the rename itself survives a power cut only once the folder is synced
            os.fsync(folder)
        finally:
            os.close(folder)
