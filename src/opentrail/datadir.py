"""The data dir is private to the user who runs OpenTrail.

Everything OpenTrail keeps there (SQLite databases with their -wal and -shm files, keys,
signing keys, segments, checkpoints, folder-mode trail buckets) is readable by that user
only: the dir is 0700 and every file 0600. The service sets the process umask to 077 when
it opens the data dir, so files made by any component (SQLite makes its own) and by the
indexer child process are private without each creator remembering to; an existing dir
that group or others can enter is warned about and tightened.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

__all__ = [
    "NODE_FILE",
    "ORGANIZATION_FILE",
    "PRIVATE_UMASK",
    "make_private_dir",
    "new_organization_id",
    "node_id",
    "organization_id",
    "prepare_data_dir",
]

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077
ORGANIZATION_FILE = "organization-id"
NODE_FILE = "node-id"
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def organization_id(path: Path, setting: str) -> str | None:
    """The organization ID of `--organization-id`: given, None for 'none', or for 'auto'
    the one kept in DATA_DIR/organization-id (made on the first start, like the ID AWS
    Organizations assigns once: organization trails' keys must not change later)."""
    if setting != "auto":
        return None if setting == "none" else setting
    kept = path / ORGANIZATION_FILE
    if kept.exists():
        return kept.read_text().strip()
    made = new_organization_id()
    kept.write_text(made + "\n")
    return made


def new_organization_id() -> str:
    """An ID in AWS Organizations' form, o- and ten lowercase letters or digits."""
    import secrets

    return "o-" + "".join(secrets.choice(_ALPHABET) for _ in range(10))


def node_id(path: Path) -> str:
    """This node's name, kept in DATA_DIR/node-id (made on the first start): each node of
    a cluster has its own data dir, so its own name, the same after a restart."""
    kept = path / NODE_FILE
    if kept.exists():
        return kept.read_text().strip()
    import uuid

    made = str(uuid.uuid4())
    kept.write_text(made + "\n")
    return made


def prepare_data_dir(path: Path) -> None:
    """Create `path` 0700 or tighten it to 0700, and make new files in this process 0600."""
    os.umask(PRIVATE_UMASK)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("data dir %s was accessible to group or others (mode %04o); "
                    "changed to 0700", path, mode)
        path.chmod(0o700)


def make_private_dir(path: Path) -> None:
    """Create `path` 0700 if missing (whatever the umask); an existing dir is left as is."""
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask
