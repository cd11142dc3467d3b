"""The scale-out backend: every node's state in one PostgreSQL database.

`PostgresBackend.open(url, master_key)` connects (DatabaseUnreachable names the URL
without its password), migrates the schema (SchemaTooNew if a newer release migrated
it), and checks the master key against the database's key check (MasterKeyMismatch) —
all before any store exists, so a node that cannot work refuses to start instead of
failing requests. Readiness: the database answers and its schema is this release's.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING

from opentrail.backends._url import redact_url
from opentrail.backends.postgres._catalog import PgCatalogRows
from opentrail.backends.postgres._channels import PgChannelRows
from opentrail.backends.postgres._checkpoints import PgCheckpointRows
from opentrail.backends.postgres._db import Conn, PgDb, connect
from opentrail.backends.postgres._history import PgHistoryIndex
from opentrail.backends.postgres._keys import PgKeyRows
from opentrail.backends.postgres._ledger_reader import PgLedgerReader
from opentrail.backends.postgres._ledger_sequencer import PgSequencer
from opentrail.backends.postgres._migrations import LATEST, migrate, schema_version
from opentrail.backends.postgres._role import PgRole
from opentrail.backends.postgres._signing_keys import PgSigningKeyRows
from opentrail.backends.postgres._trails import PgTrailRows
from opentrail.backends.postgres._vault import Vault

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
    from opentrail.rules import RuleStore, Sealer
    from opentrail.trails import DeliveryRows, SigningKeys, TrailStore

__all__ = ["ACCESS_KEY_SEAL", "PostgresBackend"]

log = logging.getLogger(__name__)

ACCESS_KEY_SEAL = "access-key-seal"  # the vault secret that seals access-key secrets
CHECKPOINT_KEY = "checkpoint-signing-key"  # the vault secret: the ledger's note key text
ORGANIZATION_ID = "organization-id"  # the vault entry: --organization-id auto's ID


class PostgresBackend:
    kind = "postgresql"

    def __init__(self, db: PgDb, vault: Vault) -> None:
        self.db = db
        self.where = db.where
        self.vault = vault
        self._roles: list[PgRole] = []

    @classmethod
    def open(cls, url: str, master_key: bytes, *, pool_size: int = 10,
             wait: float = 5.0) -> PostgresBackend:
        """`wait`: seconds a request waits for a connection before ServiceUnavailable."""
        with connect(url) as conn:
            migrate(conn, redact_url(url))
            _warn_if_not_durable(conn, redact_url(url))
        db = PgDb(url, max_size=pool_size, wait=wait)
        try:
            vault = Vault(db, master_key)
            vault.check()
        except BaseException:
            db.close()
            raise
        return cls(db, vault)

    def keys(self, clock: Clock | None = None) -> KeyStore:
        from opentrail.auth import KeyStore

        return KeyStore(PgKeyRows(self.db), sealing_key=self.vault.secret(ACCESS_KEY_SEAL),
                        clock=clock)

    def trails(self, *, own_buckets: bool) -> TrailStore:
        from opentrail.trails import TrailStore

        return TrailStore(PgTrailRows(self.db), own_buckets=own_buckets)

    def channels(self) -> ChannelRegistry:
        from opentrail.channels import ChannelRegistry

        return ChannelRegistry(PgChannelRows(self.db))

    def catalog(self, clock: Clock) -> StoreCatalog:
        from opentrail.lake import StoreCatalog

        return StoreCatalog(PgCatalogRows(self.db), clock)

    def signing_keys(self, clock: Clock, rotation_days: float) -> SigningKeys:
        from opentrail.trails import SigningKeys

        return SigningKeys(PgSigningKeyRows(self.db, self.vault), clock, rotation_days)

    def ledger_reader(self) -> LedgerReader:
        return PgLedgerReader(self.db)

    def ledger_writer(self, clock: Clock, *, max_pending: int = 100_000,
                      retention_days: int | None = None) -> LedgerWriter:
        from opentrail.ledger import LedgerWriter

        retention = None if retention_days is None else (retention_days, clock.now())
        return LedgerWriter(None, clock, max_pending=max_pending,
                            sequencer=PgSequencer(self.db, retention=retention))

    def ledger_audit(self) -> LedgerAudit:
        from opentrail.backends.postgres._ledger_audit import PgLedgerAudit

        return PgLedgerAudit(self.db, self.vault)

    def checkpoint_signer(self) -> NoteSigner:
        """One checkpoint key for the cluster, in the vault (sealed with the master key),
        made by the first node that asks."""
        from opentrail.ledger import NoteSigner

        def make() -> bytes:
            name = f"opentrail.local/ledger/{secrets.token_hex(6)}"
            return NoteSigner.generate(name).text().encode()

        return NoteSigner.parse(self.vault.secret(CHECKPOINT_KEY, make).decode())

    def checkpoints(self) -> CheckpointRows:
        return PgCheckpointRows(self.db)

    def delivery_rows(self) -> DeliveryRows:
        from opentrail.backends.postgres._delivery import PgDeliveryRows

        return PgDeliveryRows(self.db)

    def role(self, name: str) -> PgRole:
        role = PgRole(self.db.url, name)
        self._roles.append(role)
        return role

    def history_index(self) -> PgHistoryIndex:
        return PgHistoryIndex(self.db)

    def problems(self) -> list[str]:
        try:
            with self.db.transaction() as conn:
                version = schema_version(conn)
        except Exception as exc:  # any failure to answer is "not ready", said plainly
            return [f"the database {self.where} does not answer: {type(exc).__name__}"]
        if version != LATEST:
            return [f"the database {self.where} has schema version {version}, this node "
                    f"needs {LATEST}"]
        return []

    def close(self) -> None:
        for role in self._roles:
            role.release()
        self.db.close()

    def rules(self, sealer: Sealer) -> RuleStore:
        from opentrail.backends.postgres._rules import PgRuleStore

        return PgRuleStore(self.db, sealer)

    def findings(self) -> FindingStore:
        from opentrail.backends.postgres._findings import PgFindingStore

        return PgFindingStore(self.db)

    def audit_journal(self) -> Journal:
        """This node's journal, under a number of its own (its lock is let go on close)."""
        from opentrail.backends.postgres._journal import PgAuditJournal

        journal = PgAuditJournal(self.db)
        self._roles.append(journal.lease)
        return journal

    def lake_writer_rows(self) -> WriterRows:
        from opentrail.backends.postgres._lake_writer import PgWriterRows

        return PgWriterRows(self.db)

    def insights_store(self) -> InsightsStore:
        from opentrail.backends.postgres._insights import PgInsightsStore

        return PgInsightsStore(self.db)

    def lake_queries(self) -> QueryRows:
        from opentrail.backends.postgres._lake_queries import PgQueryRows

        return PgQueryRows(self.db)

    def lake_imports(self) -> ImportRows:
        from opentrail.backends.postgres._lake_imports import PgImportRows

        return PgImportRows(self.db)


    def organization_id(self, setting: str) -> str | None:
        """For 'auto', one ID for the cluster in the vault, made by the first node that
        asks (organization trails deliver under it, whichever node delivers)."""
        from opentrail.datadir import new_organization_id

        if setting != "auto":
            return None if setting == "none" else setting
        made = self.vault.secret(ORGANIZATION_ID, lambda: new_organization_id().encode())
        return made.decode()


def _warn_if_not_durable(conn: Conn, where: str) -> None:
    """OpenTrail keeps the operator's synchronous_commit; `off` would acknowledge changes
    a crash can lose, so say so at start (docs/design/scale-out.md)."""
    row = conn.execute("SHOW synchronous_commit").fetchone()
    if row is not None and row[0] == "off":
        log.warning("the database %s has synchronous_commit = off: a change is "
                    "acknowledged before it is durable, and a crash can lose the last "
                    "acknowledged ones. Use on (with a synchronous standby to survive a "
                    "lost machine).", where)
