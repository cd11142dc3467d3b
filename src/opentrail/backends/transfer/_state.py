"""Everything but the ledger: rows copied as they are, access-key secrets resealed.

Each table is copied in one transaction under its store's advisory lock: a row an
earlier run copied is skipped when it is the same and refused (naming it) when it
differs, so running again is safe. Access-key secrets are opened with the data dir's
master key and sealed again with the cluster's (the vault's `access-key-seal`);
digest signing keys go through the backend's rows, which seal them with the master key.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentrail.auth import KeyStore
from opentrail.auth._key_rows import KeyRow
from opentrail.auth._keys import SecretBox
from opentrail.backends.postgres import (
    ACCESS_KEY_SEAL,
    PgKeyRows,
    PgSigningKeyRows,
    PostgresBackend,
)
from opentrail.backends.postgres._db import CATALOG_LOCK, CHANNEL_LOCK, TRAIL_LOCK
from opentrail.backends.sqlite import FolderSigningKeyRows
from opentrail.backends.transfer._errors import MigrationRefused
from opentrail.errors import OpenTrailError

__all__ = ["TABLES", "Copied", "Table", "copy_checkpoints", "copy_keys", "copy_signing_keys",
           "copy_table"]


@dataclass(frozen=True)
class Table:
    what: str  # for messages: "trails"
    file: str  # the data dir's SQLite file
    source: str  # its table
    target: str  # the database's table
    columns: tuple[str, ...]  # the first is the key
    lock: int
    flags: tuple[str, ...] = ()  # SQLite integers that are booleans in PostgreSQL


TABLES = (
    Table("trails", "trails.db", "trails", "trails",
          ("arn", "account", "home_region", "name", "multi_region", "config", "status"),
          TRAIL_LOCK, ("multi_region",)),
    Table("bucket owners", "trails.db", "bucket_owners", "bucket_owners",
          ("bucket", "account"), TRAIL_LOCK),
    Table("channels", "channels.db", "channels", "channels",
          ("arn", "account", "region", "name", "source", "destinations", "tags", "ingestion"),
          CHANNEL_LOCK),
    Table("event data stores", "lake.db", "stores", "lake_stores",
          ("id", "account", "region", "name", "record", "tags", "prior_status"), CATALOG_LOCK),
)


@dataclass
class Copied:
    copied: int = 0
    present: int = 0  # already in the database from an earlier run


def _plain(value: Any) -> Any:
    """A value as both drivers' rows compare: bytes for blobs, bool stays bool."""
    return bytes(value) if isinstance(value, memoryview | bytearray) else value


@contextmanager
def _source(path: Path) -> Iterator[sqlite3.Connection | None]:
    if not path.exists():
        yield None
        return
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        yield conn
    finally:
        conn.close()


def copy_table(data_dir: Path, backend: PostgresBackend, table: Table) -> Copied:
    columns = ", ".join(table.columns)
    done = Copied()
    with _source(data_dir / table.file) as src:
        if src is None:
            return done
        rows = src.execute(f"SELECT {columns} FROM {table.source}").fetchall()
    flags = [table.columns.index(name) for name in table.flags]
    marks = ", ".join(["%s"] * len(table.columns))
    with backend.db.transaction(table.lock) as conn:
        for raw in rows:
            row = tuple(bool(v) if i in flags else _plain(v) for i, v in enumerate(raw))
            found = conn.execute(f"SELECT {columns} FROM {table.target} WHERE "
                                 f"{table.columns[0]} = %s", (row[0],)).fetchone()
            if found is None:
                conn.execute(f"INSERT INTO {table.target} ({columns}) VALUES ({marks})", row)
                done.copied += 1
            elif tuple(map(_plain, found)) == row:
                done.present += 1
            else:
                raise MigrationRefused(
                    f"{table.what}: {row[0]} in the database {backend.where} differs from "
                    f"the one in {data_dir / table.file}; nothing of it was changed.")
    return done


def copy_keys(data_dir: Path, backend: PostgresBackend, master_key_file: Path | None
              ) -> Copied:
    """Access keys, each secret opened with the data dir's master key and resealed."""
    done = Copied()
    if not (data_dir / "keys.db").exists():
        return done
    rows = PgKeyRows(backend.db)
    box = SecretBox(backend.vault.secret(ACCESS_KEY_SEAL))
    with KeyStore(data_dir, master_key_file=master_key_file) as source:
        for principal in source.list():
            try:
                found = source.lookup(principal.access_key_id)
            except OpenTrailError as exc:
                raise MigrationRefused(f"{exc.message} Give the data dir's master key with "
                                       "--from-master-key-file.") from None
            assert found is not None  # listed a moment ago; `migrate` runs on a stopped dir
            _, secret = found
            row = KeyRow(principal.access_key_id, principal.account, principal.organization,
                         principal.role.value, principal.name, principal.created,
                         box.seal(principal.access_key_id, secret))
            _put_key(rows, box, row, secret, done)
    return done


def _put_key(rows: PgKeyRows, box: SecretBox, row: KeyRow, secret: str,
             done: Copied) -> None:
    there = rows.select(row.access_key_id)
    if there is None:
        rows.insert(row)
        done.copied += 1
        return
    same = there[:6] == row[:6] and box.open(row.access_key_id, there.sealed_secret) == secret
    if not same:
        raise MigrationRefused(f"access key {row.access_key_id} in the database {rows.where} "
                               "differs from the data dir's; it was not changed.")
    done.present += 1


def copy_signing_keys(data_dir: Path, backend: PostgresBackend) -> Copied:
    """DATA_DIR/signing-keys/REGION/*.pem into the database, sealed with the master key."""
    done = Copied()
    root = data_dir / "signing-keys"
    if not root.is_dir():
        return done
    source, target = FolderSigningKeyRows(root), PgSigningKeyRows(backend.db, backend.vault)
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        region = folder.name
        with target.creating(region):
            there = {row.valid_from: row for row in target.load(region)}
            for row in source.load(region):
                if row.valid_from not in there:
                    target.add(region, row)
                    done.copied += 1
                elif there[row.valid_from] == row:
                    done.present += 1
                else:
                    raise MigrationRefused(
                        f"The digest signing key of {region} valid from {row.valid_from} in "
                        f"the database {backend.where} differs from {folder}'s.")
    return done


def copy_checkpoints(data_dir: Path, backend: PostgresBackend) -> Copied:
    """checkpoints.db's signed checkpoints, in size order, into the `checkpoints` table
    (a size already there stays: the same installation signed it with the same key)."""
    from opentrail.ledger import CHECKPOINTS_FILE, SqliteCheckpointRows

    if not (data_dir / CHECKPOINTS_FILE).exists():
        return Copied(0, 0)
    source, target = SqliteCheckpointRows(data_dir), backend.checkpoints()
    copied = present = 0
    try:
        size = -1  # the empty tree's checkpoint (size 0) too
        while page := source.after(size, 1000):
            for row in page:
                if target.at(row.size) is None:
                    target.add(row)
                    copied += 1
                else:
                    present += 1
            size = page[-1].size
    finally:
        source.close()
        target.close()
    return Copied(copied, present)
