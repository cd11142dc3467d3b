"""Digest signing keys: one RSA-2048 key at a time per region, rotated on a schedule.

Keys are kept by the backend's `SigningKeyRows` (trails/_signing_rows.py): embedded, in
DATA_DIR/signing-keys/REGION/VALIDFROM-FINGERPRINT.pem (folder 0700, files 0600, PKCS#8
PEM); on PostgreSQL, in the database, sealed with the cluster's master key. A key is
valid from its creation until the next key of its region replaces it, `rotation_days`
later. Old keys are kept: digests they signed must stay verifiable, and ListPublicKeys
hands them out by validity window. A rotation is decided under the rows' `creating`
lock after reading the keys again, so nodes sharing the rows rotate once; `between`
reads the rows each time, so every node hands out a key another node made.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from opentrail.clock import Clock
from opentrail.trails._signing_rows import SigningKeyRow, SigningKeyRows, StoredKey

__all__ = ["SIGNATURE_ALGORITHM", "SigningKey", "SigningKeys"]

SIGNATURE_ALGORITHM = "SHA256withRSA"
KEY_BITS = 2048
REGION = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+-\d+$")


@dataclass(frozen=True)
class SigningKey:
    region: str
    private_key: rsa.RSAPrivateKey
    valid_from: float
    valid_until: float

    @property
    def public_der(self) -> bytes:
        """DER of the PKCS#1 RSAPublicKey: what ListPublicKeys returns and awscli loads."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.PKCS1)

    @property
    def fingerprint(self) -> str:
        return hashlib.md5(self.public_der, usedforsecurity=False).hexdigest()

    def sign(self, data: bytes) -> str:
        """SHA256withRSA (RSASSA-PKCS1-v1_5), lowercase hex."""
        return self.private_key.sign(data, padding.PKCS1v15(), hashes.SHA256()).hex()


class SigningKeys:
    def __init__(self, rows: SigningKeyRows | Path, clock: Clock,
                 rotation_days: float = 30) -> None:
        if rotation_days <= 0:
            raise ValueError("signing_key_rotation_days must be greater than 0.")
        if isinstance(rows, Path):
            from opentrail.backends.sqlite import FolderSigningKeyRows

            rows = FolderSigningKeyRows(rows)
        self._rows = rows
        self.clock = clock
        self.lifetime = rotation_days * 86400
        self._lock = threading.Lock()
        self._cache: dict[str, list[SigningKey]] = {}
        self._parsed: dict[tuple[str, float], rsa.RSAPrivateKey] = {}

    def listed(self) -> list[StoredKey]:
        """Every key stored, any region (the health log watches it for rotations)."""
        return self._rows.listed()

    def _check(self, region: str) -> str:
        if not REGION.match(region):
            raise ValueError(f"{region!r} is not a region name.")
        return region

    def _load(self, region: str, *, fresh: bool = False) -> list[SigningKey]:
        if fresh or region not in self._cache:
            rows = self._rows.load(self._check(region))
            keys = []
            for i, row in enumerate(rows):
                until = (rows[i + 1].valid_from if i + 1 < len(rows)
                         else row.valid_from + self.lifetime)
                keys.append(SigningKey(region, self._private(region, row), row.valid_from,
                                       until))
            self._cache[region] = keys
        return self._cache[region]

    def _private(self, region: str, row: SigningKeyRow) -> rsa.RSAPrivateKey:
        """Parsed once per key (parsing a PEM costs milliseconds)."""
        found = self._parsed.get((region, row.valid_from))
        if found is None:
            private = serialization.load_pem_private_key(row.pem, None)
            assert isinstance(private, rsa.RSAPrivateKey)
            found = self._parsed[(region, row.valid_from)] = private
        return found

    def _create(self, region: str, valid_from: float) -> None:
        private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
        key = SigningKey(region, private, valid_from, valid_from + self.lifetime)
        pem = private.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        self._rows.add(self._check(region), SigningKeyRow(valid_from, key.fingerprint, pem))

    def current(self, region: str) -> SigningKey:
        """The key that signs now, creating or rotating it when due."""
        now = self.clock.now()
        with self._lock:
            keys = self._load(region)
            if keys and now < keys[-1].valid_until:
                return keys[-1]
            with self._rows.creating(self._check(region)):
                keys = self._load(region, fresh=True)  # another node may have rotated
                if not keys or now >= keys[-1].valid_until:
                    self._create(region, float(int(now)))
                    keys = self._load(region, fresh=True)
            return keys[-1]

    def between(self, region: str, start: float, end: float) -> list[SigningKey]:
        """Every key of the region whose validity window meets [start, end]. Read-only:
        a region gets its first key when it first signs a digest."""
        with self._lock:
            return [k for k in self._load(region, fresh=True)
                    if k.valid_from <= end and k.valid_until >= start]
