"""Shared secrets in the database, sealed with the cluster's master key.

Every node is given the same master key (OPENTRAIL_MASTER_KEY or --master-key-file);
the database holds only sealed blobs (auth's SecretBox: AES-256-GCM, the secret's name
as associated data, so a blob cannot be moved to another name). The row 'key-check'
seals a known text: a node whose master key does not open it refuses to start
(MasterKeyMismatch) instead of failing requests or sealing secrets nobody else can
read. `secret(name)` makes a secret on first use, once for the whole cluster.
"""

from __future__ import annotations

import secrets as random
from collections.abc import Callable

from cryptography.exceptions import InvalidTag

from opentrail.auth._keys import SecretBox
from opentrail.backends._errors import MasterKeyMismatch
from opentrail.backends.postgres._db import VAULT_LOCK, PgDb

__all__ = ["KEY_CHECK", "Vault"]

KEY_CHECK = "key-check"
_CHECK_TEXT = b"OpenTrail master key check v1"


def _random_key() -> bytes:
    return random.token_bytes(32)


class Vault:
    def __init__(self, db: PgDb, master_key: bytes) -> None:
        self._db = db
        self._box = SecretBox(master_key)

    def check(self) -> None:
        """Record the key check on first use; refuse a master key that does not open it."""
        with self._db.transaction(VAULT_LOCK) as conn:
            row = conn.execute("SELECT sealed FROM secrets WHERE name = %s",
                               (KEY_CHECK,)).fetchone()
            if row is None:
                conn.execute("INSERT INTO secrets (name, sealed) VALUES (%s, %s)",
                             (KEY_CHECK, self._box.seal_bytes(KEY_CHECK, _CHECK_TEXT)))
                return
        try:
            opened = self._box.open_bytes(KEY_CHECK, bytes(row[0]))
        except InvalidTag:
            opened = b""
        if opened != _CHECK_TEXT:
            raise MasterKeyMismatch(
                f"This node's master key is not the one the secrets in {self._db.where} are "
                "sealed with (its key check does not open). Give this node the same "
                "OPENTRAIL_MASTER_KEY or --master-key-file as the other nodes; nothing was "
                "written.")

    def seal(self, name: str, value: bytes) -> bytes:
        """`value` sealed for storage under `name` (a secret kept in another table)."""
        return self._box.seal_bytes(name, value)

    def open(self, name: str, blob: bytes) -> bytes:
        """What `seal(name, ...)` sealed; MasterKeyMismatch if this key cannot open it."""
        try:
            return self._box.open_bytes(name, blob)
        except InvalidTag:
            raise MasterKeyMismatch(
                f"The secret {name!r} in {self._db.where} does not open with this node's "
                "master key.") from None

    def secret(self, name: str, make: Callable[[], bytes] = _random_key) -> bytes:
        """The shared secret `name`, made by `make()` and stored sealed if it is new."""
        with self._db.transaction(VAULT_LOCK) as conn:
            row = conn.execute("SELECT sealed FROM secrets WHERE name = %s",
                               (name,)).fetchone()
            if row is None:
                value = make()
                conn.execute("INSERT INTO secrets (name, sealed) VALUES (%s, %s)",
                             (name, self._box.seal_bytes(name, value)))
                return value
        return self.open(name, bytes(row[0]))
