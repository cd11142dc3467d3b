"""Access keys in SQLite; secrets sealed with a master key kept outside the database.

Layout: DATA_DIR/keys.db (0600) holds one row per key, the secret AES-256-GCM encrypted
with the key id as associated data (a sealed secret cannot be moved to another row).
The master key is DATA_DIR/master.key (0600) or the file named by
$OPENTRAIL_MASTER_KEY_FILE, so a copy of keys.db alone reveals no secret.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import contextlib
import os
import re
import secrets
import sqlite3
import threading
import time
from pathlib import Path
from types import TracebackType

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from opentrail.auth._principal import Principal, Role
from opentrail.clock import Clock, SystemClock
from opentrail.errors import OpenTrailError, ValidationError

__all__ = ["MASTER_KEY_ENV", "KeyStore"]

MASTER_KEY_ENV = "OPENTRAIL_MASTER_KEY_FILE"

_ID_PREFIX = "OTAK"
_ID_PATTERN = re.compile(r"OTAK[A-Z2-7]{16}")
_ACCOUNT_PATTERN = re.compile(r"[0-9]{12}")
_MAX_NAME = 128
_CACHE_LIMIT = 10_000  # bounds the negative cache a scan of random key ids could fill
_SEAL_VERSION = b"\x01"
_NONCE_BYTES = 12
_COLUMNS = "access_key_id, account, organization, role, name, created"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS access_keys (
    access_key_id TEXT PRIMARY KEY,
    account TEXT,                    -- NULL for organization keys
    organization INTEGER NOT NULL,
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    created REAL NOT NULL,
    sealed_secret BLOB NOT NULL      -- version || nonce || AES-GCM(secret)
) STRICT
"""

_Entry = tuple[Principal, str]
_Row = tuple[str, str | None, int, str, str, float]


class KeyStore:
    """Access keys for one data dir. Thread-safe; `lookup` is cached for the hot path.

    Keys deleted through this object stop working at once; keys deleted by another
    process (the CLI while the server runs) within `refresh_interval` seconds, found
    through SQLite's `PRAGMA data_version`, which changes on any other connection's commit.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        master_key_file: Path | None = None,
        clock: Clock | None = None,
        refresh_interval: float = 1.0,
    ) -> None:
        self._dir = Path(data_dir)
        self._master_path = _master_key_path(self._dir, master_key_file)
        self._clock: Clock = clock or SystemClock()
        self._refresh_interval = refresh_interval
        self._lock = threading.Lock()
        # One connection shared under the lock: data_version then sees only other
        # connections' commits, and ours invalidate the cache directly.
        self._db = _open_db(self._dir / "keys.db")
        self._box: _SecretBox | None = None
        self._cache: dict[str, _Entry | None] = {}
        self._data_version = self._read_data_version()
        self._next_check = time.monotonic() + refresh_interval

    @property
    def path(self) -> Path:
        """The SQLite file holding the keys."""
        return self._dir / "keys.db"

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
            self._db.execute(
                f"INSERT INTO access_keys ({_COLUMNS}, sealed_secret) VALUES (?,?,?,?,?,?,?)",
                (
                    access_key_id,
                    account,
                    int(organization),
                    role.value,
                    name,
                    principal.created,
                    sealed,
                ),
            )
            self._cache.pop(access_key_id, None)  # may hold a cached "unknown"
        return principal, secret

    def list(self) -> builtins.list[Principal]:
        """Every key, oldest first, without secrets."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM access_keys ORDER BY created, access_key_id"
            ).fetchall()
        return [_principal(row) for row in rows]

    def delete(self, access_key_id: str) -> bool:
        """Remove a key; False if there was none with this id."""
        with self._lock:
            cursor = self._db.execute(
                "DELETE FROM access_keys WHERE access_key_id = ?", (access_key_id,)
            )
            self._cache.pop(access_key_id, None)
        return cursor.rowcount > 0

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
            self._db.close()

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
            version = self._read_data_version()
            if version != self._data_version:
                self._data_version = version
                self._cache = {}

    def _load(self, access_key_id: str) -> _Entry | None:
        if not _ID_PATTERN.fullmatch(access_key_id):
            return None  # never ours; not worth a query or a cache slot
        with self._lock:  # query and cache together, so a concurrent delete cannot interleave
            if access_key_id in self._cache:
                return self._cache[access_key_id]
            row = self._db.execute(
                f"SELECT {_COLUMNS}, sealed_secret FROM access_keys WHERE access_key_id = ?",
                (access_key_id,),
            ).fetchone()
            entry = None
            if row is not None:
                secret = self._secret_box(may_create=False).open(access_key_id, row[6])
                entry = (_principal(row[:6]), secret)
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

    def _read_data_version(self) -> int:
        row = self._db.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def _secret_box(self, *, may_create: bool) -> _SecretBox:
        """Load the master key on first use; create it only while no key depends on it."""
        if self._box is None:
            if not self._master_path.exists():
                has_keys = self._db.execute("SELECT 1 FROM access_keys LIMIT 1").fetchone()
                if not may_create or has_keys:
                    raise OpenTrailError(
                        f"The master key file {self._master_path} is missing, so the secrets"
                        f" in {self.path} cannot be decrypted. Restore it, or set"
                        f" {MASTER_KEY_ENV} to its location."
                    )
                _create_master_key(self._master_path)
            self._box = _SecretBox(_read_master_key(self._master_path))
        return self._box


class _SecretBox:
    """AES-256-GCM with the access key id as associated data."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, access_key_id: str, secret: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode(), access_key_id.encode())
        return _SEAL_VERSION + nonce + sealed

    def open(self, access_key_id: str, blob: bytes) -> str:
        nonce, sealed = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            if blob[:1] != _SEAL_VERSION:
                raise InvalidTag
            return self._aead.decrypt(nonce, sealed, access_key_id.encode()).decode()
        except InvalidTag:
            raise OpenTrailError(
                f"Cannot decrypt the secret of access key {access_key_id}: the master key"
                " is not the one it was sealed with."
            ) from None


def _principal(row: _Row) -> Principal:
    key_id, account, organization, role, name, created = row
    return Principal(key_id, account, bool(organization), Role(role), name, created)


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


def _make_private_dir(path: Path) -> None:
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask


def _open_db(path: Path) -> sqlite3.Connection:
    _make_private_dir(path.parent)
    # SQLite would create the file 0644; its -wal and -shm files copy the db's mode.
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        os.chmod(path, 0o600)
    except FileExistsError:
        pass
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
    db.execute("PRAGMA journal_mode=WAL")  # the server keeps reading while the CLI writes
    db.execute(_SCHEMA)
    return db


def _read_master_key(path: Path) -> bytes:
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
    _make_private_dir(path.parent)
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
