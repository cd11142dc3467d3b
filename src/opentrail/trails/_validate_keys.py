"""The public keys digests are checked against, by fingerprint, and the signature check.

awscli asks ListPublicKeys once for [start, end + 2 h] and ignores NextToken, so a digest
signed by a key outside that window (a late digest after a rotation) fails with "public key
not found". Here keys are fetched for the span of the digests actually found, every page,
and once more up to now for any fingerprint still unknown.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from opentrail.trails._signing import SigningKeys
from opentrail.trails._validate_digest import Digest, Invalid

__all__ = ["KeyFetcher", "PublicKeys", "cloudtrail_fetcher", "file_fetcher", "local_fetcher"]

# (start, end) -> the ListPublicKeys entries for that window, every page.
KeyFetcher = Callable[[datetime, datetime], list[dict[str, Any]]]
MARGIN = timedelta(hours=2)


def _der(value: object) -> bytes:
    """botocore hands blobs over decoded; a saved `aws cloudtrail list-public-keys` has base64."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return base64.b64decode(str(value))


def cloudtrail_fetcher(client: Any) -> KeyFetcher:
    def fetch(start: datetime, end: datetime) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"StartTime": start, "EndTime": end}
        while True:
            page = client.list_public_keys(**kwargs)
            entries.extend(page.get("PublicKeyList", []))
            if not page.get("NextToken"):
                return entries
            kwargs["NextToken"] = page["NextToken"]
    return fetch


def file_fetcher(path: Path) -> KeyFetcher:
    """Keys from a saved ListPublicKeys answer (`aws cloudtrail list-public-keys > FILE`),
    for offline validation; every key in the file is offered whatever the window."""
    data = json.loads(path.read_text())
    entries = data.get("PublicKeyList", data) if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise ValueError(f"{path} holds no PublicKeyList.")
    return lambda start, end: list(entries)


def local_fetcher(keys: SigningKeys, region: str) -> KeyFetcher:
    """The server's own signing keys of `region`, as ListPublicKeys would list them, for
    validation run inside the server (no round trip to its own API)."""
    def fetch(start: datetime, end: datetime) -> list[dict[str, Any]]:
        found = keys.between(region, start.timestamp(), end.timestamp())
        return [{"Value": k.public_der, "Fingerprint": k.fingerprint} for k in found]
    return fetch


class PublicKeys:
    def __init__(self, fetch: KeyFetcher, now: datetime) -> None:
        self._fetch = fetch
        self._now = now
        self._der: dict[str, bytes] = {}
        self._loaded: dict[str, rsa.RSAPublicKey | None] = {}
        self._widened: set[str] = set()

    def _add(self, entries: Iterable[dict[str, Any]]) -> None:
        for entry in entries:
            if "Fingerprint" in entry and "Value" in entry:
                self._der.setdefault(str(entry["Fingerprint"]), _der(entry["Value"]))

    def load_for(self, digests: Iterable[Digest], start: datetime, end: datetime) -> None:
        """Keys for [start, end + 2 h] widened to the span of every digest found."""
        found = list(digests)
        low = min([start, *(d.start for d in found)]) - MARGIN
        high = max([end, *(d.end for d in found)]) + MARGIN
        self._add(self._fetch(low, high))
        if not self._der:
            raise RuntimeError(f"No public keys found between {low:%Y-%m-%dT%H:%M:%SZ} and "
                               f"{high:%Y-%m-%dT%H:%M:%SZ}")

    def _widen(self, digest: Digest) -> None:
        """An unknown fingerprint: the digest may have been signed late, after a
        rotation, so ask once more for every key from its start until now."""
        if digest.fingerprint in self._der or digest.fingerprint in self._widened:
            return
        self._widened.add(digest.fingerprint)
        self._add(self._fetch(digest.start - MARGIN, max(digest.end + MARGIN, self._now)))

    def _key(self, fingerprint: str) -> rsa.RSAPublicKey | None:
        if fingerprint not in self._loaded:
            try:
                key = serialization.load_der_public_key(self._der[fingerprint])
            except ValueError:
                key = None
            self._loaded[fingerprint] = key if isinstance(key, rsa.RSAPublicKey) else None
        return self._loaded[fingerprint]

    def verify(self, digest: Digest, home_region: str) -> None:
        """SHA256withRSA over spec 3.3's string; raises Invalid with awscli's reasons."""
        fingerprint = digest.fingerprint
        self._widen(digest)
        if fingerprint not in self._der:
            raise Invalid(f"public key not found in region {home_region} "
                          f"for fingerprint {fingerprint}")
        key = self._key(fingerprint)
        if key is None:
            raise Invalid(f"Unable to load PKCS #1 key with fingerprint {fingerprint}")
        try:
            key.verify(binascii.unhexlify(digest.signature), digest.string_to_sign(),
                       padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, binascii.Error, ValueError):
            raise Invalid("signature verification failed") from None
