"""Who owns the server's audit files, and who else may open them (OT-13, server side).

The server looks at its own files, as the user it runs as: the data directory, the
ledger (ledger.db and its WAL), the checkpoint signing key, and, for a folder
destination, each of the caller's bucket folders. Each entry says its owner, its mode,
whether the service user owns it and whether group or others have any access. Paths are
relative to the data directory. Nothing is changed.
"""

from __future__ import annotations

import os
import pwd
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["LEDGER_FILES", "file_access"]

LEDGER_FILES = (".", "ledger.db", "ledger.db-wal", "checkpoint.key")


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _entry(data_dir: Path, name: str) -> dict[str, Any] | None:
    try:
        info = (data_dir / name).stat()
    except OSError:
        return None
    mode = stat.S_IMODE(info.st_mode)
    return {"path": name, "owner": _user(info.st_uid), "mode": f"{mode:04o}",
            "ownedByService": info.st_uid == os.geteuid(), "openToOthers": bool(mode & 0o077)}


def file_access(data_dir: Path, buckets: Iterable[str] = ()) -> dict[str, Any]:
    """The service user and the entries that exist (bucket folders: buckets/NAME)."""
    names = [*LEDGER_FILES, *(f"buckets/{b}" for b in sorted(buckets))]
    entries = [e for name in names if (e := _entry(data_dir, name)) is not None]
    return {"serviceUser": _user(os.geteuid()), "entries": entries}
