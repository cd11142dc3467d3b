"""Which installation a database belongs to: the one whose checkpoint signing key it holds.

A data dir's checkpoint key (DATA_DIR/checkpoint.key, a fresh random name per
installation) becomes the cluster's (the vault secret `checkpoint-signing-key`). The
first migration run writes it, under the vault's lock, only into a database that holds
no OpenTrail state yet; a later run finds the same key and goes on where the last one
stopped; a database holding another key, or state without a key, is refused.
"""

from __future__ import annotations

from pathlib import Path

from opentrail.backends.postgres import PostgresBackend
from opentrail.backends.postgres._backend import CHECKPOINT_KEY
from opentrail.backends.postgres._db import VAULT_LOCK, Conn
from opentrail.backends.postgres._vault import KEY_CHECK
from opentrail.backends.transfer._errors import MigrationRefused
from opentrail.ledger import NoteSigner

__all__ = ["claim"]

# Tables whose rows are an installation's state (the vault's own rows are counted apart).
STATE_TABLES = ("events", "access_keys", "trails", "bucket_owners", "channels",
                "lake_stores", "digest_signing_keys", "checkpoints", "delivery_cursors",
                "delivery_outbox", "delivery_record", "delivery_undigested",
                "delivery_chains", "rules", "rule_targets", "rule_connections",
                "rule_destinations", "rule_outbox", "findings", "detect_cursor",
                "audit_journal", "lake_writer_cursor", "lake_writer_chains",
                "lake_writer_files", "lake_writer_pending", "insights_series",
                "lake_queries", "lake_delivered_results", "lake_imports")
_OWN_SECRETS = (KEY_CHECK, "access-key-seal")  # made by any node or `keys` on first use


def claim(backend: PostgresBackend, signer: NoteSigner, data_dir: Path) -> bool:
    """Make the database this data dir's; True when an earlier run had (a resume)."""
    db, vault = backend.db, backend.vault
    with db.transaction(VAULT_LOCK) as conn:
        row = conn.execute("SELECT sealed FROM secrets WHERE name = %s",
                           (CHECKPOINT_KEY,)).fetchone()
        if row is None:
            found = _state(conn)
            if found:
                raise MigrationRefused(
                    f"The database {db.where} already holds OpenTrail state that did not "
                    f"come from {data_dir} ({', '.join(found)}). Migrate into an empty "
                    "database (CREATE DATABASE ...); nothing was written.")
            conn.execute("INSERT INTO secrets (name, sealed) VALUES (%s, %s)",
                         (CHECKPOINT_KEY, vault.seal(CHECKPOINT_KEY, signer.text().encode())))
            return False
    theirs = NoteSigner.parse(vault.open(CHECKPOINT_KEY, bytes(row[0])).decode())
    if theirs.text() != signer.text():
        raise MigrationRefused(
            f"The database {db.where} belongs to another installation: its checkpoint key "
            f"is {theirs.name}, {data_dir}'s is {signer.name}. Migrate into an empty "
            "database; nothing was written.")
    return True


def _state(conn: Conn) -> list[str]:
    """What the database holds, as "N rows in TABLE" phrases (empty: nothing)."""
    found = []
    for table in STATE_TABLES:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        if row and row[0]:
            found.append(f"{row[0]} rows in {table}")
    row = conn.execute("SELECT count(*) FROM secrets WHERE name <> ALL(%s)",
                       (list(_OWN_SECRETS),)).fetchone()
    if row and row[0]:
        found.append(f"{row[0]} shared secrets")
    return found
