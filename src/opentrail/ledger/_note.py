"""Signed notes (the C2SP signed-note format, as Go's golang.org/x/mod/sumdb/note).

A note is UTF-8 text ending in a newline, then a blank line, then signature lines
`— <key name> <base64(key id || signature)>`. The key id is the first 4 bytes of
SHA-256(name || "\\n" || 0x01 || Ed25519 public key). Keys are written as
`<name>+<key id hex>+<base64(0x01 || key)>` (the verifier key) and
`PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || seed)>`, so any signed-note tool reads
them and a verifier key names the log it belongs to.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = ["NoteError", "NoteSigner", "NoteVerifier", "split_note"]

ED25519 = b"\x01"
DASH = "\u2014 "  # em dash and space: starts every signature line


class NoteError(ValueError):
    """A note or key is malformed, or no signature by the expected key verifies."""


def _key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public).digest()[:4]


def _check_name(name: str) -> str:
    if not name or "+" in name or any(c.isspace() for c in name):
        raise NoteError(f"the key name {name!r} must be non-empty, without spaces or '+'.")
    return name


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"{what} is not valid base64.") from None


@dataclass(frozen=True)
class NoteSigner:
    name: str
    key: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        return cls(_check_name(name), Ed25519PrivateKey.generate())

    @classmethod
    def parse(cls, text: str) -> NoteSigner:
        parts = text.strip().split("+", 4)  # base64 may hold '+': split only the fields
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("a signer key reads PRIVATE+KEY+<name>+<id>+<base64 key>.")
        raw = _b64decode(parts[4], "the signer key")
        if len(raw) != 33 or raw[:1] != ED25519:
            raise NoteError("the signer key is not an Ed25519 key.")
        signer = cls(_check_name(parts[2]), Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if signer.key_id.hex() != parts[3]:
            raise NoteError("the signer key's id does not match its name and key.")
        return signer

    @property
    def key_id(self) -> bytes:
        return _key_id(self.name, _raw_public(self.key.public_key()))

    def text(self) -> str:
        seed = self.key.private_bytes(serialization.Encoding.Raw,
                                      serialization.PrivateFormat.Raw,
                                      serialization.NoEncryption())
        return (f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+"
                f"{base64.b64encode(ED25519 + seed).decode()}")

    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self.name, self.key.public_key())

    def sign(self, text: str) -> str:
        """The signed note: `text` (which must end in a newline), a blank line, a signature."""
        if not text.endswith("\n") or "\n\n" in text:
            raise NoteError("note text must end in a newline and hold no blank line.")
        signature = self.key_id + self.key.sign(text.encode())
        return f"{text}\n{DASH}{self.name} {base64.b64encode(signature).decode()}\n"


@dataclass(frozen=True)
class NoteVerifier:
    name: str
    key: Ed25519PublicKey

    @classmethod
    def parse(cls, text: str) -> NoteVerifier:
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise NoteError("a verifier key reads <name>+<key id hex>+<base64 key>.")
        raw = _b64decode(parts[2], "the verifier key")
        if len(raw) != 33 or raw[:1] != ED25519:
            raise NoteError("the verifier key is not an Ed25519 key.")
        verifier = cls(_check_name(parts[0]), Ed25519PublicKey.from_public_bytes(raw[1:]))
        if verifier.key_id.hex() != parts[1]:
            raise NoteError("the verifier key's id does not match its name and key.")
        return verifier

    @property
    def key_id(self) -> bytes:
        return _key_id(self.name, _raw_public(self.key))

    def text(self) -> str:
        raw = base64.b64encode(ED25519 + _raw_public(self.key)).decode()
        return f"{self.name}+{self.key_id.hex()}+{raw}"

    def pem(self) -> str:
        return self.key.public_bytes(serialization.Encoding.PEM,
                                     serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def open(self, note: str) -> str:
        """The note's text, once a signature by this key verifies; NoteError otherwise."""
        text, signatures = split_note(note)
        for line in signatures:
            name, _, encoded = line.removeprefix(DASH).partition(" ")
            if name != self.name:
                continue
            raw = _b64decode(encoded, f"the signature of {name}")
            if raw[:4] != self.key_id:
                continue
            try:
                self.key.verify(raw[4:], text.encode())
            except InvalidSignature:
                raise NoteError(f"the signature by {name} does not match the note.") from None
            return text
        raise NoteError(f"the note carries no signature by the key {self.name} "
                        f"({self.key_id.hex()}).")


def split_note(note: str) -> tuple[str, list[str]]:
    """(text, signature lines) of a signed note; NoteError when the shape is wrong."""
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise NoteError("a signed note is text, a blank line, then signature lines.")
    text, lines = note[:split + 1], note[split + 2:].splitlines()
    if not lines or not all(line.startswith(DASH) for line in lines):
        raise NoteError("every line after the blank line must be a signature line (— name sig).")
    return text, lines
