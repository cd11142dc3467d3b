"""Access keys in the backend's `KeyRows`; secrets sealed with a key kept apart from them.

Each row holds a secret AES-256-GCM encrypted with the key id as associated data (a
sealed secret cannot be moved to another row). Embedded (given a data dir): the rows
are DATA_DIR/keys.db (0600) and the sealing key is DATA_DIR/master.key (0600) or the
file named by $OPENTRAIL_MASTER_KEY_FILE, so a copy of keys.db alone reveals no secret.
Given rows, the sealing key comes with them (PostgreSQL keeps it in the database, itself
sealed with the node's master key: backends/postgres/_vault.py).
"""

from __future__ import annotations

import base64
import binascii
import builtins
import contextlib
import os
import re
import secrets
import threading
import time
from pathlib import Path
from types import TracebackType

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from opentrail.auth._key_rows import KeyRow, KeyRows
from opentrail.auth._principal import Principal, Role
from opentrail.clock import Clock, SystemClock
from opentrail.datadir import make_private_dir
from opentrail.errors import OpenTrailError, ValidationError

__all__ = ["MASTER_KEY_ENV", "KeyStore", "SecretBox"]

MASTER_KEY_ENV = "OPENTRAIL_MASTER_KEY_FILE"

_ID_PREFIX = "OTAK"
_ID_PATTERN = re.compile(r"OTAK[A-Z2-7]{16}")
_ACCOUNT_PATTERN = re.compile(r"[0-9]{12}")
_MAX_NAME = 128
_CACHE_LIMIT = 10_000  # bounds the negative cache a scan of random key ids could fill
_SEAL_VERSION = b"\x01"
_NONCE_BYTES = 12
_Entry = tuple[Principal, str]


class KeyStore:
    """Access keys of one data dir or database. Thread-safe; `lookup` is cached for the
    hot path.

    Keys deleted through this object stop working at once; keys deleted by another
    process or node (the CLI while the server runs) within `refresh_interval` seconds,
    found through the rows' `change_marker` (SQLite's `PRAGMA data_version`).
    """

    def __init__(
        self,
        rows: KeyRows | Path,
        *,
        master_key_file: Path | None = None,
        sealing_key: bytes | None = None,
        clock: Clock | None = None,
        refresh_interval: float = 1.0,
    ) -> None:
        """A data dir keeps its keys in keys.db, sealed with the master key file;
        `rows` from a backend come with their `sealing_key`."""
        self._master_path: Path | None = None
        if isinstance(rows, Path):
            from opentrail.backends.sqlite import SqliteKeyRows

            self._master_path = _master_key_path(rows, master_key_file)
            rows = SqliteKeyRows(rows)
        elif sealing_key is None:
            raise ValueError("KeyStore over a backend's rows needs their sealing_key.")
        self._rows = rows
        self._clock: Clock = clock or SystemClock()
        self._refresh_interval = refresh_interval
        self._lock = threading.Lock()
        self._box: SecretBox | None = None if sealing_key is None else SecretBox(sealing_key)
        self._cache: dict[str, _Entry | None] = {}
        self._data_version = self._rows.change_marker()
        self._next_check = time.monotonic() + refresh_interval

    @property
    def path(self) -> str:
        """Where the keys are: the SQLite file, or the database URL without password."""
        return self._rows.where

    def create(
        self,
        *,
        account: str | None,
        organization: bool,
        role: Role,
        name: str | None = None,
    ) -> tuple[Principal, str]:
        """Make a key; returns it with its secret, which is not retrievable in clear later."""
        account = _check_scope(account, organization)
        role = _check_role(role)
        access_key_id = _ID_PREFIX + base64.b32encode(secrets.token_bytes(10)).decode()
        secret = secrets.token_urlsafe(30)  # 40 characters
        name = _check_name(f"{role}-{access_key_id[-4:]}" if name is None else name)
        principal = Principal(access_key_id, account, organization, role, name, self._clock.now())
        with self._lock:
            sealed = self._secret_box(may_create=True).seal(access_key_id, secret)
            self._rows.insert(KeyRow(access_key_id, account, organization, role.value, name,
                                     principal.created, sealed))
            self._cache.pop(access_key_id, None)  # may hold a cached "unknown"
        return principal, secret

    def list(self) -> builtins.list[Principal]:
        """Every key, oldest first, without secrets."""
        with self._lock:
            rows = self._rows.select_all()
        return [_principal(row) for row in rows]

    def delete(self, access_key_id: str) -> bool:
        """Remove a key; False if there was none with this id."""
        with self._lock:
            deleted = self._rows.delete(access_key_id)
            self._cache.pop(access_key_id, None)
        return deleted

    def lookup(self, access_key_id: str) -> tuple[Principal, str] | None:
        """The key and its secret, or None. Served from memory on the hot path."""
        if time.monotonic() >= self._next_check:
            self._refresh()
        try:
            return self._cache[access_key_id]
        except KeyError:
            return self._load(access_key_id)

    def close(self) -> None:
        with self._lock:
            self._rows.close()

    def __enter__(self) -> KeyStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _refresh(self) -> None:
        with self._lock:
            now = time.monotonic()
            if now < self._next_check:
                return  # another thread just checked
            self._next_check = now + self._refresh_interval
            version = self._rows.change_marker()
            if version != self._data_version:
                self._data_version = version
                self._cache = {}

    def _load(self, access_key_id: str) -> _Entry | None:
        if not _ID_PATTERN.fullmatch(access_key_id):
            return None  # never ours; not worth a query or a cache slot
        with self._lock:  # query and cache together, so a concurrent delete cannot interleave
            if access_key_id in self._cache:
                return self._cache[access_key_id]
            row = self._rows.select(access_key_id)
            entry = None
            if row is not None:
                secret = self._secret_box(may_create=False).open(access_key_id,
                                                                 row.sealed_secret)
                entry = (_principal(row), secret)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache = {}
            self._cache[access_key_id] = entry
            return entry

    def seal(self, label: str, secret: str) -> bytes:
        """Seal another secret (a connection's credentials) with the master key, bound to
        `label` as the access-key secrets are bound to their key id."""
        with self._lock:
            return self._secret_box(may_create=True).seal(label, secret)

    def unseal(self, label: str, blob: bytes) -> str:
        with self._lock:
            return self._secret_box(may_create=False).open(label, blob)

    def _secret_box(self, *, may_create: bool) -> SecretBox:
        """Load the master key on first use; create it only while no key depends on it."""
        if self._box is None:
            assert self._master_path is not None  # rows without a file came with a key
            if not self._master_path.exists():
                if not may_create or self._rows.any():
                    raise OpenTrailError(
                        f"The master key file {self._master_path} is missing, so the secrets"
                        f" in {self.path} cannot be decrypted. Restore it, or set"
                        f" {MASTER_KEY_ENV} to its location."
                    )
                _create_master_key(self._master_path)
            self._box = SecretBox(_read_master_key(self._master_path))
        return self._box


class SecretBox:
    """AES-256-GCM with a name (the access key id) as associated data."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, access_key_id: str, secret: str) -> bytes:
        return self.seal_bytes(access_key_id, secret.encode())

    def open(self, access_key_id: str, blob: bytes) -> str:
        try:
            return self.open_bytes(access_key_id, blob).decode()
        except InvalidTag:
            raise OpenTrailError(
                f"Cannot decrypt the secret of access key {access_key_id}: the master key"
                " is not the one it was sealed with."
            ) from None

    def seal_bytes(self, name: str, secret: bytes) -> bytes:
        """version || nonce || AES-GCM(secret), bound to `name`."""
        nonce = os.urandom(_NONCE_BYTES)
        return _SEAL_VERSION + nonce + self._aead.encrypt(nonce, secret, name.encode())

    def open_bytes(self, name: str, blob: bytes) -> bytes:
        """The secret `seal_bytes(name, ...)` sealed; InvalidTag with any other key,
        name or a changed blob."""
        if blob[:1] != _SEAL_VERSION:
            raise InvalidTag
        nonce, sealed = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        return self._aead.decrypt(nonce, sealed, name.encode())


def _principal(row: KeyRow) -> Principal:
    return Principal(row.access_key_id, row.account, bool(row.organization), Role(row.role),
                     row.name, row.created)


def _check_scope(account: str | None, organization: bool) -> str | None:
    if organization:
        if account is not None:
            raise ValidationError(
                "An organization key covers every account; give either account or"
                " organization, not both."
            )
        return None
    if account is None:
        raise ValidationError("account is required unless organization is true.")
    if not _ACCOUNT_PATTERN.fullmatch(account):
        raise ValidationError(f"account must be exactly 12 digits, not {account!r}.")
    return account


def _check_role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise ValidationError(f"role must be one of {choices}, not {role!r}.") from None


def _check_name(name: str) -> str:
    if not 0 < len(name) <= _MAX_NAME or not name.isprintable():
        raise ValidationError(f"name must be 1 to {_MAX_NAME} printable characters, not {name!r}.")
    return name


def _master_key_path(data_dir: Path, explicit: Path | None) -> Path:
    if explicit is not None:
        return Path(explicit)
    env = os.environ.get(MASTER_KEY_ENV)
    return Path(env) if env else data_dir / "master.key"


def _read_master_key(path: Path) -> bytes:
    """The 32 bytes in a master key file (base64); a clear error if it holds none."""
    try:
        key = base64.urlsafe_b64decode(path.read_text().strip())
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise OpenTrailError(f"{path} does not hold a base64 256-bit OpenTrail master key.")
    return key


def _create_master_key(path: Path) -> None:
    """Write a fresh key atomically (temp file, fsync, link); if another process won the
    race, its key stays and ours is dropped."""
    make_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            f.write(base64.urlsafe_b64encode(AESGCM.generate_key(256)) + b"\n")
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):  # another process's key wins
            os.link(tmp, path)  # unlike rename, never replaces an existing key
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        tmp.unlink(missing_ok=True)
