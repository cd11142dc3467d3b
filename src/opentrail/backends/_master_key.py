"""The master key every node of a database is given: it seals the shared secrets.

From $OPENTRAIL_MASTER_KEY (base64 of 32 random bytes) or a file (`--master-key-file`,
the same base64 text); `new_master_key()` makes one (`opentrail keys master-key`).
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

from opentrail.backends._errors import BackendError

__all__ = ["MASTER_KEY_VALUE_ENV", "load_master_key", "new_master_key", "parse_master_key"]

MASTER_KEY_VALUE_ENV = "OPENTRAIL_MASTER_KEY"
KEY_BYTES = 32


def new_master_key() -> str:
    """A fresh master key as the base64 text OPENTRAIL_MASTER_KEY takes."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def parse_master_key(text: str, source: str) -> bytes:
    """The 32 bytes of a base64 master key; `source` names where it came from."""
    try:
        key = base64.urlsafe_b64decode(text.strip().encode())  # also takes + and /
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise BackendError(
            f"{source} does not hold an OpenTrail master key: it must be the base64 of "
            f"{KEY_BYTES} random bytes (make one with `opentrail keys master-key`).")
    return key


def load_master_key(master_key_file: str | Path | None) -> bytes | None:
    """The key from the file when one is named, else from $OPENTRAIL_MASTER_KEY, else None."""
    if master_key_file:
        path = Path(master_key_file)
        try:
            text = path.read_text()
        except OSError as exc:
            raise BackendError(f"Cannot read the master key file {path}: "
                               f"{exc.strerror or exc}.") from None
        return parse_master_key(text, f"The master key file {path}")
    value = os.environ.get(MASTER_KEY_VALUE_ENV)
    if value:
        return parse_master_key(value, MASTER_KEY_VALUE_ENV)
    return None
