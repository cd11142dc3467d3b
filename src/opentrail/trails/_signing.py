"""Digest signing keys: one RSA-2048 key at a time per region, rotated on a schedule.

Keys live in DATA_DIR/signing-keys/REGION/VALIDFROM-FINGERPRINT.pem (folder 0700, files
0600, PKCS#8 PEM). A key is valid from its creation until the next key of its region
replaces it, `rotation_days` later. Old keys are kept: digests they signed must stay
verifiable, and ListPublicKeys hands them out by validity window.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from opentrail.clock import Clock

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
    def __init__(self, root: Path, clock: Clock, rotation_days: float = 30) -> None:
        if rotation_days <= 0:
            raise ValueError("signing_key_rotation_days must be greater than 0.")
        self.root = root
        self.clock = clock
        self.lifetime = rotation_days * 86400
        self._lock = threading.Lock()
        self._cache: dict[str, list[SigningKey]] = {}

    def _folder(self, region: str) -> Path:
        if not REGION.match(region):
            raise ValueError(f"{region!r} is not a region name.")
        return self.root / region

    def _load(self, region: str) -> list[SigningKey]:
        if region not in self._cache:
            folder = self._folder(region)
            entries = sorted(folder.glob("*.pem")) if folder.exists() else []
            starts = [float(p.name.split("-", 1)[0]) for p in entries]
            keys = []
            for i, path in enumerate(entries):
                private = serialization.load_pem_private_key(path.read_bytes(), None)
                assert isinstance(private, rsa.RSAPrivateKey)
                until = starts[i + 1] if i + 1 < len(starts) else starts[i] + self.lifetime
                keys.append(SigningKey(region, private, starts[i], until))
            self._cache[region] = keys
        return self._cache[region]

    def _create(self, region: str, valid_from: float) -> SigningKey:
        private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
        key = SigningKey(region, private, valid_from, valid_from + self.lifetime)
        folder = self._folder(region)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = private.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        path = folder / f"{int(valid_from):012d}-{key.fingerprint}.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
        return key

    def current(self, region: str) -> SigningKey:
        """The key that signs now, creating or rotating it when due."""
        now = self.clock.now()
        with self._lock:
            keys = self._load(region)
            if not keys or now >= keys[-1].valid_until:
                if keys:  # the retiring key's window ends where the new one starts
                    last = keys[-1]
                    keys[-1] = SigningKey(region, last.private_key, last.valid_from,
                                          float(int(now)))
                keys.append(self._create(region, float(int(now))))
            return keys[-1]

    def between(self, region: str, start: float, end: float) -> list[SigningKey]:
        """Every key of the region whose validity window meets [start, end]. Read-only:
        a region gets its first key when it first signs a digest."""
        with self._lock:
            return [k for k in self._load(region)
                    if k.valid_from <= end and k.valid_until >= start]
