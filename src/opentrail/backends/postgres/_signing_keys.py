"""Digest signing keys in PostgreSQL: `SigningKeyRows` (trails/_signing_rows.py).

Every node signs with and hands out the same keys. Private keys are stored sealed with
the cluster's master key (the vault's box, the key's region and start as associated
data); `creating` holds SIGNING_KEY_LOCK for the whole read-decide-insert of a rotation.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentrail.backends.postgres._db import SIGNING_KEY_LOCK, PgDb
from opentrail.backends.postgres._vault import Vault
from opentrail.trails._signing_rows import SigningKeyRow, StoredKey

__all__ = ["PgSigningKeyRows"]


def _name(region: str, valid_from: float) -> str:
    return f"digest-signing-key/{region}/{valid_from!r}"


class PgSigningKeyRows:
    def __init__(self, db: PgDb, vault: Vault) -> None:
        self._db = db
        self._vault = vault

    def load(self, region: str) -> list[SigningKeyRow]:
        with self._db.transaction() as conn:
            rows = conn.execute(
                "SELECT valid_from, fingerprint, sealed_pem FROM digest_signing_keys "
                "WHERE region = %s ORDER BY valid_from", (region,)).fetchall()
        return [SigningKeyRow(float(start), str(fingerprint),
                              self._vault.open(_name(region, float(start)), bytes(sealed)))
                for start, fingerprint, sealed in rows]

    def listed(self) -> list[StoredKey]:
        with self._db.transaction() as conn:
            rows = conn.execute("SELECT region, valid_from, fingerprint FROM "
                                "digest_signing_keys ORDER BY region, valid_from").fetchall()
        return [StoredKey(str(region), float(start), str(fingerprint), None)
                for region, start, fingerprint in rows]

    def add(self, region: str, row: SigningKeyRow) -> None:
        sealed = self._vault.seal(_name(region, row.valid_from), row.pem)
        with self._db.transaction(SIGNING_KEY_LOCK) as conn:
            conn.execute("INSERT INTO digest_signing_keys VALUES (%s, %s, %s, %s)",
                         (region, row.valid_from, row.fingerprint, sealed))

    @contextmanager
    def creating(self, region: str) -> Iterator[None]:
        with self._db.transaction(SIGNING_KEY_LOCK):
            yield
