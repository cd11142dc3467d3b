"""Event rules' state (rules.db) into the database's `rule*` tables (migration 0012).

Rules, targets, tags, API destinations, the engine's cursor, the outbox and the receipts
are copied as they are (`copy_table`: a row an earlier run copied is skipped when it is
the same and refused, naming it, when it differs; outbox and receipt ids are kept).
Connections' secrets are opened with the data dir's master key and sealed again with
the cluster's (the key store's seal), and compared opened, so running again is safe.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson

from opentrail.auth import KeyStore
from opentrail.backends.postgres import PostgresBackend
from opentrail.backends.postgres._db import RULES_LOCK, Conn
from opentrail.backends.transfer._errors import MigrationRefused
from opentrail.backends.transfer._state import Copied, Table
from opentrail.rules import RULES_FILE, Connection

__all__ = ["RULE_TABLES", "copy_connections"]

_IN_ACCOUNT = ("account", "region")
RULE_TABLES = (
    Table("event rules", RULES_FILE, "rules", "rules",
          (*_IN_ACCOUNT, "name", "pattern", "state", "description", "created"), RULES_LOCK,
          keys=3),
    Table("event rule targets", RULES_FILE, "targets", "rule_targets",
          (*_IN_ACCOUNT, "rule", "id", "body"), RULES_LOCK, keys=4),
    Table("event rule tags", RULES_FILE, "tags", "rule_tags", ("arn", "key", "value"),
          RULES_LOCK, keys=2),
    Table("API destinations", RULES_FILE, "api_destinations", "rule_destinations",
          (*_IN_ACCOUNT, "name", "uuid", "connection_arn", "endpoint", "method", "rate",
           "description", "created", "modified"), RULES_LOCK, keys=3),
    Table("event rule cursor", RULES_FILE, "cursor", "rule_cursor", ("name", "seq"),
          RULES_LOCK),
    Table("event rule outbox", RULES_FILE, "outbox", "rule_outbox",
          ("id", *_IN_ACCOUNT, "rule", "target", "event", "enqueued", "attempts", "next_try",
           "state", "last_error"), RULES_LOCK, numbered=True),
    Table("delivered alert receipts", RULES_FILE, "receipts", "rule_receipts",
          ("id", *_IN_ACCOUNT, "rule", "target", "kind", "event_id", "event_name",
           "delivered"), RULES_LOCK, numbered=True),
)
_CONN = ("account", "region", "name", "uuid", "auth_type", "params", "description", "state",
         "created", "modified", "authorized")


def copy_connections(data_dir: Path, backend: PostgresBackend,
                     master_key_file: Path | None) -> Copied:
    """rules.db's connections, each secret opened with the data dir's master key and
    sealed with the cluster's."""
    done = Copied()
    path = data_dir / RULES_FILE
    if not path.exists():
        return done
    src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = src.execute(f"SELECT {', '.join(_CONN)}, sealed FROM connections "
                           "ORDER BY account, region, name").fetchall()
    finally:
        src.close()
    cluster = backend.keys()
    with KeyStore(data_dir, master_key_file=master_key_file) as source, \
            backend.db.transaction(RULES_LOCK) as conn:
        for row in rows:
            label = _arn(row)
            secret = _open(source, label, bytes(row[-1]))
            _put_connection(conn, cluster, tuple(row[:-1]), secret, done, backend.where)
    cluster.close()
    return done


def _arn(row: tuple[Any, ...]) -> str:
    return Connection(row[0], row[1], row[2], row[3], row[4], {}).arn


def _open(source: KeyStore, label: str, blob: bytes) -> str:
    try:
        return source.unseal(label, blob)
    except Exception:
        raise MigrationRefused(f"The secrets of connection {label} do not open with the "
                               "data dir's master key: give it with "
                               "--from-master-key-file.") from None


def _put_connection(conn: Conn, cluster: KeyStore, row: tuple[Any, ...], secret: str,
                    done: Copied, where: str) -> None:
    label = _arn(row)
    found = conn.execute(f"SELECT {', '.join(_CONN)}, sealed FROM rule_connections WHERE "
                         "account = %s AND region = %s AND name = %s", row[:3]).fetchone()
    if found is None:
        marks = ", ".join(["%s"] * (len(_CONN) + 1))
        conn.execute(f"INSERT INTO rule_connections ({', '.join(_CONN)}, sealed) VALUES "
                     f"({marks})", (*row, cluster.seal(label, secret)))
        done.copied += 1
        return
    same = (tuple(bytes(v) if isinstance(v, memoryview) else v for v in found[:-1]) == row
            and orjson.loads(cluster.unseal(label, bytes(found[-1]))) == orjson.loads(secret))
    if not same:
        raise MigrationRefused(f"event rule connection {label} in the database {where} "
                               "differs from the data dir's; it was not changed.")
    done.present += 1
