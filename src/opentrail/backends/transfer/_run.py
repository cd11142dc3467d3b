"""One migration run: check the data dir, claim the database, copy, check the copy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from opentrail.backends.postgres import PostgresBackend
from opentrail.backends.postgres._backend import ORGANIZATION_ID
from opentrail.backends.transfer._claim import claim
from opentrail.backends.transfer._errors import MigrationRefused
from opentrail.backends.transfer._insights import copy_insights
from opentrail.backends.transfer._lake import LAKE_TABLES, bring_lake_current
from opentrail.backends.transfer._ledger import check_source, copy_events, database_head
from opentrail.backends.transfer._rules import RULE_TABLES, copy_connections
from opentrail.backends.transfer._state import (
    DELIVERY_TABLES,
    FINDING_TABLES,
    LAKE_WRITER_TABLES,
    TABLES,
    bring_delivery_current,
    copy_checkpoints,
    copy_journal,
    copy_keys,
    copy_signing_keys,
    copy_table,
)
from opentrail.datadir import ORGANIZATION_FILE
from opentrail.ledger import LEDGER_FILE, load_signer, open_ledger_reader

__all__ = ["NOT_MOVED", "Progress", "migrate_data_dir"]

Progress = Callable[[str], None]

# State that stays in the data dir: what `serve` does not read from PostgreSQL yet
# (docs/design/scale-out.md, "What remains"). The history index and the Merkle tree are
# derived from the ledger and rebuilt from it.
NOT_MOVED = (
    "the history index and the Merkle tree (derived: rebuilt from the ledger)",
)


def migrate_data_dir(data_dir: Path, url: str, master_key: bytes, *,
                     source_master_key: Path | None = None,
                     progress: Progress = lambda line: None) -> tuple[int, bytes]:
    """Move `data_dir` into the database `url`; the tree head both now hold."""
    size, root, signed = check_source(data_dir, load_signer(data_dir).verifier())
    progress(f"checked {data_dir}: {size} events, every leaf recomputed, {signed} signed "
             f"checkpoints matched; tree head size {size} root {root.hex()}")
    backend = PostgresBackend.open(url, master_key, pool_size=2)
    try:
        signer = load_signer(data_dir)
        resumed = claim(backend, signer, data_dir)
        progress(("resuming in" if resumed else "claimed") + f" {backend.where} for this "
                 f"installation (checkpoint key {signer.name})")
        _copy_ledger(data_dir, backend, size, root, progress)
        _copy_state(data_dir, backend, source_master_key or data_dir / "master.key",
                    progress)
    finally:
        backend.close()
    return size, root


def _copy_ledger(data_dir: Path, backend: PostgresBackend, size: int, root: bytes,
                 progress: Progress) -> None:
    copied = copy_events(data_dir, backend.db, size,
                         lambda done: progress(f"ledger: {done}/{size} events copied"))
    progress(f"ledger: {copied} events copied by this run, {size - copied} were already")
    total, theirs = database_head(backend.db, size)
    if theirs != root:
        raise MigrationRefused(
            f"The database's tree head at size {size} is {theirs.hex() or 'missing'}, the "
            f"data dir's {root.hex()}: the copy does not match. Nothing more was copied.")
    progress(f"ledger: the database recomputes the same tree head (size {size} root "
             f"{root.hex()})" + (f"; it holds {total - size} newer events" if total > size
                                 else ""))
    reader = open_ledger_reader(data_dir) if (data_dir / LEDGER_FILE).exists() else None
    grown = 0 if reader is None else reader.size() - size
    if reader is not None:
        reader.close()
    if grown > 0:
        progress(f"ledger: {data_dir} gained {grown} events while this ran (is its server "
                 "running?): stop it and run the migration again to copy them")


def _copy_state(data_dir: Path, backend: PostgresBackend, master_key_file: Path,
                progress: Progress) -> None:
    keys = copy_keys(data_dir, backend, master_key_file)
    progress(f"access keys: {keys.copied} copied (secrets resealed with the cluster's "
             f"master key), {keys.present} already there")
    for table in TABLES:
        done = copy_table(data_dir, backend, table)
        progress(f"{table.what}: {done.copied} copied, {done.present} already there")
    signing = copy_signing_keys(data_dir, backend)
    progress(f"digest signing keys: {signing.copied} copied (sealed with the master key), "
             f"{signing.present} already there")
    signed = copy_checkpoints(data_dir, backend)
    progress(f"signed checkpoints: {signed.copied} copied, {signed.present} already there")
    bring_delivery_current(data_dir)
    for table in DELIVERY_TABLES + LAKE_WRITER_TABLES:  # where each stopped: goes on there
        done = copy_table(data_dir, backend, table)
        progress(f"{table.what}: {done.copied} copied, {done.present} already there")
    _copy_organization_id(data_dir, backend, progress)
    _copy_rules(data_dir, backend, master_key_file, progress)
    _copy_findings_and_journal(data_dir, backend, progress)
    progress(copy_insights(data_dir, backend))  # with its cursor: a node goes on from it
    _copy_lake(data_dir, backend, progress)


def _copy_lake(data_dir: Path, backend: PostgresBackend, progress: Progress) -> None:
    """Lake queries with their results, imports with their done files."""
    bring_lake_current(data_dir)
    for table in LAKE_TABLES:
        done = copy_table(data_dir, backend, table)
        progress(f"{table.what}: {done.copied} copied, {done.present} already there")


def _copy_organization_id(data_dir: Path, backend: PostgresBackend,
                          progress: Progress) -> None:
    """The ID `--organization-id auto` made: organization trails' keys go on under it."""
    kept = data_dir / ORGANIZATION_FILE
    if not kept.exists():
        return
    own = kept.read_text().strip()
    shared = backend.vault.secret(ORGANIZATION_ID, own.encode).decode()  # made if new
    if shared != own:
        raise MigrationRefused(f"organization ID: the database's is {shared}, the data "
                               f"dir's {own}; organization trails would change their keys.")
    progress(f"organization ID: {own} in the database")


def _copy_rules(data_dir: Path, backend: PostgresBackend, master_key_file: Path,
                progress: Progress) -> None:
    """rules.db: connections resealed, the rest as it is (the engine goes on from its
    cursor, the sender from its outbox)."""
    conns = copy_connections(data_dir, backend, master_key_file)
    progress(f"event rule connections: {conns.copied} copied (secrets resealed with the "
             f"cluster's master key), {conns.present} already there")
    for table in RULE_TABLES:
        done = copy_table(data_dir, backend, table)
        progress(f"{table.what}: {done.copied} copied, {done.present} already there")


def _copy_findings_and_journal(data_dir: Path, backend: PostgresBackend,
                               progress: Progress) -> None:
    for table in FINDING_TABLES:  # the detector goes on from its cursor
        done = copy_table(data_dir, backend, table)
        progress(f"{table.what}: {done.copied} copied, {done.present} already there")
    journal = copy_journal(data_dir, backend)
    progress(f"audit journal: {journal.copied} record(s) of changes in flight copied (the "
             f"first node to start records them, outcome unknown), {journal.present} "
             "already there")
