"""The embedded backend: stores in SQLite files under the data dir, as always.

Readiness here means the data dir takes a durable write and the ledger file opens.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from opentrail.backends.sqlite._channels import SqliteChannelRows
from opentrail.backends.sqlite._history import SqliteHistoryIndex
from opentrail.backends.sqlite._role import FileRole

if TYPE_CHECKING:
    from opentrail.auth import KeyStore
    from opentrail.channels import ChannelRegistry
    from opentrail.clock import Clock
    from opentrail.detect import FindingStore
    from opentrail.insights import InsightsStore
    from opentrail.lake import ImportRows, QueryRows, StoreCatalog, WriterRows
    from opentrail.ledger import (
        CheckpointRows,
        Journal,
        LedgerAudit,
        LedgerReader,
        LedgerWriter,
        NoteSigner,
    )
    from opentrail.rules import Sealer, SqliteRuleStore
    from opentrail.trails import DeliveryRows, SigningKeys, TrailStore

__all__ = ["SqliteBackend"]

_PROBE = ".ready-probe"
ROLES_DIR = "roles"  # one lock file per elected role (backends/sqlite/_role.py)


class SqliteBackend:
    kind = "sqlite"

    def __init__(self, data_dir: Path, *, master_key_file: Path | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.where = str(self.data_dir)
        self._master_key_file = master_key_file
        self._roles: list[FileRole] = []

    def keys(self, clock: Clock | None = None) -> KeyStore:
        from opentrail.auth import KeyStore

        return KeyStore(self.data_dir, master_key_file=self._master_key_file, clock=clock)

    def trails(self, *, own_buckets: bool) -> TrailStore:
        from opentrail.backends.sqlite._trails import SqliteTrailRows
        from opentrail.trails import TrailStore

        return TrailStore(SqliteTrailRows(self.data_dir), own_buckets=own_buckets)

    def channels(self) -> ChannelRegistry:
        from opentrail.channels import ChannelRegistry

        return ChannelRegistry(SqliteChannelRows(self.data_dir))

    def catalog(self, clock: Clock) -> StoreCatalog:
        from opentrail.backends.sqlite._catalog import SqliteCatalogRows
        from opentrail.lake import StoreCatalog

        return StoreCatalog(SqliteCatalogRows(self.data_dir), clock)

    def signing_keys(self, clock: Clock, rotation_days: float) -> SigningKeys:
        from opentrail.backends.sqlite._signing_keys import FolderSigningKeyRows
        from opentrail.trails import SigningKeys

        return SigningKeys(FolderSigningKeyRows(self.data_dir / "signing-keys"), clock,
                           rotation_days)

    def ledger_reader(self) -> LedgerReader:
        from opentrail.ledger import open_ledger_reader

        return open_ledger_reader(self.data_dir)

    def ledger_writer(self, clock: Clock, *, max_pending: int = 100_000,
                      retention_days: int | None = None) -> LedgerWriter:
        from opentrail.ledger import LedgerWriter

        return LedgerWriter(self.data_dir, clock, max_pending=max_pending,
                            retention_days=retention_days)

    def ledger_audit(self) -> LedgerAudit:
        from opentrail.ledger import SqliteLedgerAudit

        return SqliteLedgerAudit(self.data_dir)

    def checkpoint_signer(self) -> NoteSigner:
        from opentrail.ledger import load_signer

        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return load_signer(self.data_dir)

    def checkpoints(self) -> CheckpointRows:
        from opentrail.ledger import SqliteCheckpointRows

        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return SqliteCheckpointRows(self.data_dir)

    def delivery_rows(self) -> DeliveryRows:
        from opentrail.backends.sqlite._delivery import SqliteDeliveryRows

        return SqliteDeliveryRows(self.data_dir)

    def role(self, name: str) -> FileRole:
        role = FileRole(self.data_dir / ROLES_DIR, name)
        self._roles.append(role)
        return role

    def history_index(self) -> SqliteHistoryIndex:
        return SqliteHistoryIndex(self.data_dir)

    def problems(self) -> list[str]:
        found = []
        probe = self.data_dir / _PROBE
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, b"ok")
                os.fsync(fd)
            finally:
                os.close(fd)
            probe.unlink()
        except OSError as exc:
            found.append(f"the data dir {self.data_dir} takes no writes: "
                         f"{exc.strerror or exc}")
        ledger = self.data_dir / "ledger.db"
        try:
            conn = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=2)
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            found.append(f"the ledger {ledger} cannot be read: {exc}")
        return found

    def close(self) -> None:
        """Each store closes its own file; the roles are let go."""
        for role in self._roles:
            role.release()

    def rules(self, sealer: Sealer) -> SqliteRuleStore:
        from opentrail.rules import SqliteRuleStore

        return SqliteRuleStore(self.data_dir, sealer)

    def findings(self) -> FindingStore:
        from opentrail.detect import SqliteFindingStore

        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return SqliteFindingStore(self.data_dir)

    def audit_journal(self) -> Journal:
        from opentrail.ledger import AuditJournal

        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return AuditJournal(self.data_dir)

    def lake_writer_rows(self) -> WriterRows:
        from opentrail.backends.sqlite._lake_writer import SqliteWriterRows

        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return SqliteWriterRows(self.data_dir)

    def insights_store(self) -> InsightsStore:
        from opentrail.insights import CounterStore

        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return CounterStore(self.data_dir)

    def lake_queries(self) -> QueryRows:
        from opentrail.backends.sqlite._lake_queries import SqliteQueryRows

        return SqliteQueryRows(self.data_dir)

    def lake_imports(self) -> ImportRows:
        from opentrail.backends.sqlite._lake_imports import SqliteImportRows

        return SqliteImportRows(self.data_dir)

    def organization_id(self, setting: str) -> str | None:
        from opentrail.datadir import organization_id

        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return organization_id(self.data_dir, setting)
