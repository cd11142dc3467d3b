"""Everything but the ledger: rows copied as they are, access-key secrets resealed.

Each table is copied in one transaction under its store's advisory lock: a row an
earlier run copied is skipped when it is the same and refused (naming it) when it
differs, so running again is safe. Rows numbered by SQLite (trail delivery's outbox,
record and undigested files) keep their ids, and the database's identity then goes on
after the highest, so a node's next row is numbered after every copied one.
Access-key secrets are opened with the data dir's master key and sealed again with the
cluster's (the vault's `access-key-seal`); digest signing keys go through the backend's
rows, which seal them with the master key.
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
from opentrail.backends.postgres._db import (
    CATALOG_LOCK,
    CHANNEL_LOCK,
    DELIVERY_LOCK,
    DETECT_LOCK,
    LAKE_WRITER_LOCK,
    TRAIL_LOCK,
    Conn,
)
from opentrail.backends.sqlite import FolderSigningKeyRows
from opentrail.backends.transfer._errors import MigrationRefused
from opentrail.errors import OpenTrailError

__all__ = ["DELIVERY_TABLES", "FINDING_TABLES", "LAKE_WRITER_TABLES", "TABLES", "Copied",
           "Table", "bring_delivery_current", "copy_checkpoints", "copy_journal", "copy_keys",
           "copy_signing_keys", "copy_table"]


@dataclass(frozen=True)
class Table:
    what: str  # for messages: "trails"
    file: str  # the data dir's SQLite file
    source: str  # its table
    target: str  # the database's table
    columns: tuple[str, ...]  # the first is the key
    lock: int
    flags: tuple[str, ...] = ()  # SQLite integers that are booleans in PostgreSQL
    keys: int = 1  # how many leading columns make the key
    renamed: tuple[tuple[str, str], ...] = ()  # (database's column, data dir's) that differ
    numbered: bool = False  # the key is an identity the database goes on from

    def source_columns(self) -> str:
        names = dict(self.renamed)
        return ", ".join(names.get(column, column) for column in self.columns)


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

# Trail delivery's state (delivery.db; the `delivery_*` tables of migration 0008).
_SEQS = ("first_seq", "last_seq", "created")
DELIVERY_TABLES = (
    Table("trail delivery cursors", "delivery.db", "cursors", "delivery_cursors",
          ("arn", "created", "seq", "period", "last_run"), DELIVERY_LOCK),
    Table("trail delivery outbox", "delivery.db", "outbox", "delivery_outbox",
          ("id", "arn", "kind", "bucket", "key", "body", "metadata", *_SEQS), DELIVERY_LOCK,
          numbered=True),
    Table("trail delivery record", "delivery.db", "delivered", "delivery_record",
          ("id", "arn", "kind", "bucket", "key", *_SEQS, "delivered", "version_id",
           "lock_mode", "retain_until"), DELIVERY_LOCK, numbered=True),
    Table("undigested log files", "delivery.db", "undigested", "delivery_undigested",
          ("id", "arn", "chain", "file"), DELIVERY_LOCK, renamed=(("chain", "region"),),
          numbered=True),
    Table("digest chains", "delivery.db", "chains", "delivery_chains",
          ("arn", "chain", "start", "prev"), DELIVERY_LOCK, keys=2,
          renamed=(("chain", "region"),)),
)

# Sigma findings, their state and the detector's cursor (findings.db; migration 0013).
FINDING_TABLES = (
    Table("Sigma findings", "findings.db", "findings", "findings",
          ("id", "account", "region", "created", "state", "acknowledged_by",
           "acknowledged_at", "detail", "published"), DETECT_LOCK, ("published",)),
    Table("the Sigma detector's cursor", "findings.db", "cursor", "detect_cursor",
          ("name", "seq"), DETECT_LOCK),
)
# Journaled records land under a node number no node ever holds (nodes take 1 and up),
# so the first node to start replays them into the ledger (outcome unknown).
GONE_NODE = 0
# The Lake writer's state (lake-writer.db; the `lake_writer_*` tables of migration 0015):
# the node holding the lake-writer role goes on from its cursor and manifest chains, and
# recovers its pending keys, as the embedded writer would have at its next start.
LAKE_WRITER_TABLES = (
    Table("Lake writer cursor", "lake-writer.db", "cursor", "lake_writer_cursor",
          ("name", "seq"), LAKE_WRITER_LOCK),
    Table("Lake manifest chains", "lake-writer.db", "chain", "lake_writer_chains",
          ("store_id", "next", "head", "ranges", "store", "since"), LAKE_WRITER_LOCK),
    Table("Lake files", "lake-writer.db", "files", "lake_writer_files",
          ("store_id", "key", "sha256", "rows", "bytes", "first_seq", "last_seq"),
          LAKE_WRITER_LOCK, keys=2),
    Table("Lake keys being changed", "lake-writer.db", "pending", "lake_writer_pending",
          ("key",), LAKE_WRITER_LOCK),
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
    done = Copied()
    with _source(data_dir / table.file) as src:
        if src is None:
            return done
        rows = src.execute(f"SELECT {table.source_columns()} FROM {table.source} "
                           "ORDER BY 1").fetchall()
    flags = [table.columns.index(name) for name in table.flags]
    with backend.db.transaction(table.lock) as conn:
        for raw in rows:
            row = tuple(bool(v) if i in flags else _plain(v) for i, v in enumerate(raw))
            found = _found(conn, table, row)
            if found is None:
                _insert(conn, table, row)
                done.copied += 1
            elif tuple(map(_plain, found)) == row:
                done.present += 1
            else:
                key = " ".join(map(str, row[:table.keys]))
                raise MigrationRefused(
                    f"{table.what}: {key} in the database {backend.where} differs from "
                    f"the one in {data_dir / table.file}; nothing of it was changed.")
        if table.numbered and rows:
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table.target}', "
                         f"'{table.columns[0]}'), (SELECT max({table.columns[0]}) FROM "
                         f"{table.target}))")
    return done


def _found(conn: Conn, table: Table, row: tuple[Any, ...]) -> tuple[Any, ...] | None:
    where = " AND ".join(f"{name} = %s" for name in table.columns[:table.keys])
    return conn.execute(f"SELECT {', '.join(table.columns)} FROM {table.target} "
                        f"WHERE {where}", row[:table.keys]).fetchone()


def _insert(conn: Conn, table: Table, row: tuple[Any, ...]) -> None:
    marks = ", ".join(["%s"] * len(table.columns))
    overriding = " OVERRIDING SYSTEM VALUE" if table.numbered else ""
    conn.execute(f"INSERT INTO {table.target} ({', '.join(table.columns)}){overriding} "
                 f"VALUES ({marks})", row)


def bring_delivery_current(data_dir: Path) -> None:
    """An older delivery.db lacks the record's lock columns: add them, as a server
    starting on it would, so the record copies with them (NULL before they existed)."""
    from opentrail.backends.sqlite._delivery import DELIVERY_FILE, SqliteDeliveryRows

    if (data_dir / DELIVERY_FILE).exists():
        SqliteDeliveryRows(data_dir).close()


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


def copy_journal(data_dir: Path, backend: PostgresBackend) -> Copied:
    """DATA_DIR/audit-journal's records of changes in flight when the server stopped,
    into `audit_journal` as a gone node's: the first node to start replays them (and the
    ledger keeps one of any it already holds). The same record twice is skipped; another
    record under its eventID is refused."""
    from opentrail.ledger import JOURNAL_DIR

    done = Copied()
    folder = data_dir / JOURNAL_DIR
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    with backend.db.transaction() as conn:
        for file in files:
            body = file.read_bytes()
            found = conn.execute("SELECT body FROM audit_journal WHERE event_id = %s",
                                 (file.stem,)).fetchone()
            if found is None:
                conn.execute("INSERT INTO audit_journal (event_id, node, written, body) "
                             "VALUES (%s, %s, %s, %s)",
                             (file.stem, GONE_NODE, file.stat().st_mtime, body))
                done.copied += 1
            elif bytes(found[0]) == body:
                done.present += 1
            else:
                raise MigrationRefused(
                    f"audit journal: the record {file.stem} in the database {backend.where} "
                    f"differs from {file}; nothing of it was changed.")
    return done
