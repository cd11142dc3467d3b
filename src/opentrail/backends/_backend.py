"""The one seam between OpenTrail and where its state lives: a `Backend`.

`open_backend(settings)` is called once, by service.py (and by CLI commands that open a
store): SQLite files under the data dir by default, PostgreSQL when `database_url` is
set. A backend hands out the stores the packages declare interfaces for (auth/_key_rows,
trails/_rows, channels/_rows, lake/_catalog_rows, insights/_store) already wired to
their rows; nothing above this package asks which backend is in use.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from opentrail.backends._errors import BackendError
from opentrail.backends._master_key import MASTER_KEY_VALUE_ENV, load_master_key
from opentrail.backends._role import Role

if TYPE_CHECKING:
    from opentrail.auth import KeyStore
    from opentrail.channels import ChannelRegistry
    from opentrail.clock import Clock
    from opentrail.config import Settings
    from opentrail.detect import FindingStore
    from opentrail.history import HistoryIndex
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
    from opentrail.rules import RuleStore, Sealer
    from opentrail.trails import DeliveryRows, SigningKeys, TrailStore

__all__ = ["Backend", "open_backend"]

class Backend(Protocol):
    kind: str  # "sqlite" or "postgresql"
    where: str  # the data dir, or the database URL without its password

    def keys(self, clock: Clock | None = None) -> KeyStore: ...

    def trails(self, *, own_buckets: bool) -> TrailStore: ...

    def channels(self) -> ChannelRegistry: ...

    def catalog(self, clock: Clock) -> StoreCatalog: ...

    def signing_keys(self, clock: Clock, rotation_days: float) -> SigningKeys:
        """The digest signing keys (shared by every node on PostgreSQL)."""
        ...

    def ledger_reader(self) -> LedgerReader:
        """The ledger as its followers read it."""
        ...

    def ledger_writer(self, clock: Clock, *, max_pending: int = 100_000,
                      retention_days: int | None = None) -> LedgerWriter:
        """A writer appending to this backend's ledger (not started), one per node."""
        ...

    def ledger_audit(self) -> LedgerAudit:
        """What `opentrail verify` checks beside the rows: the checkpoint key, signed
        checkpoints, recorded retention settings, the append-only guards."""
        ...

    def checkpoint_signer(self) -> NoteSigner:
        """The key that signs the ledger's checkpoints: DATA_DIR/checkpoint.key, or one
        key in the vault shared by every node."""
        ...

    def checkpoints(self) -> CheckpointRows:
        """Where signed checkpoints are kept: DATA_DIR/checkpoints.db, or one table."""
        ...

    def delivery_rows(self) -> DeliveryRows:
        """Trail delivery's state: DATA_DIR/delivery.db, or tables every node shares."""
        ...

    def role(self, name: str) -> Role:
        """The lease on a job that must run on one node at a time (backends/_role.py);
        released when the backend closes."""
        ...

    def history_index(self) -> HistoryIndex:
        """The history index (LookupEvents): its indexer and its lookups, over history.db
        or the shared tables (not yet what `Service` uses)."""
        ...

    def problems(self) -> list[str]:
        """Why this backend cannot serve now (readiness); empty when it can."""
        ...

    def close(self) -> None: ...

    def rules(self, sealer: Sealer) -> RuleStore:
        """Event rules' state (rules, targets, connections, API destinations, the engine's
        cursor, the outbox): DATA_DIR/rules.db, or tables every node shares; connection
        secrets sealed by `sealer` (the key store)."""
        ...

    def findings(self) -> FindingStore:
        """Sigma findings, their state and the detector's cursor: DATA_DIR/findings.db,
        or tables every node shares."""
        ...

    def audit_journal(self) -> Journal:
        """The self-audit records of changes in flight: DATA_DIR/audit-journal, or a
        table from which any node replays a lost node's records."""
        ...

    def lake_writer_rows(self) -> WriterRows:
        """The Lake writer's state (cursor, manifest chains, file lists, pending keys):
        DATA_DIR/lake-writer.db, or tables every node shares."""
        ...

    def insights_store(self) -> InsightsStore:
        """The Insights engine's state (counters, detector states, its cursor):
        DATA_DIR/insights.db, or tables every node shares."""
        ...

    def lake_queries(self) -> QueryRows:
        """Lake queries and their results: DATA_DIR/lake-queries.db, or tables every
        node shares (a query started on one node is read and cancelled on any)."""
        ...

    def lake_imports(self) -> ImportRows:
        """Lake imports' state: DATA_DIR/lake-imports.db, or tables every node shares."""
        ...


    def organization_id(self, setting: str) -> str | None:
        """`--organization-id`: given, None for 'none', or for 'auto' the installation's
        own, made once (DATA_DIR/organization-id, or one shared by every node)."""
        ...


def open_backend(settings: Settings) -> Backend:
    """SQLite under `settings.data_dir`, or the PostgreSQL database `database_url` names
    (migrated to this release's schema, its master key checked)."""
    if settings.database_url:
        try:
            from opentrail.backends.postgres import PostgresBackend
        except ImportError as exc:
            raise BackendError(f"A database URL needs psycopg 3, which is not installed "
                               f"({exc}): pip install 'opentrail[postgres]'.") from None
        key = load_master_key(settings.master_key_file)
        if key is None:
            raise BackendError(
                f"A database URL needs the cluster's master key: set {MASTER_KEY_VALUE_ENV} "
                "(base64 of 32 random bytes, from `opentrail keys master-key`) or "
                "--master-key-file PATH, the same on every node.")
        return PostgresBackend.open(settings.database_url, key)
    from opentrail.backends.sqlite import SqliteBackend

    master = Path(settings.master_key_file) if settings.master_key_file else None
    return SqliteBackend(settings.data_dir, master_key_file=master)
