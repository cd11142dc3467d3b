"""What `opentrail verify` reads from the database beside the events: `LedgerAudit`.

The checkpoint public key is the cluster's checkpoint key in the vault (opened with the
master key, never made here: verify writes nothing). Signed checkpoints are the
`checkpoints` table (migration 0007), which the elected signer fills. The guards
are the append-only triggers of migration 0006: each must exist, be enabled and call
the function whose body that migration created.
"""

from __future__ import annotations

import re
from pathlib import Path

from opentrail.backends.postgres._checkpoints import PgCheckpointRows
from opentrail.backends.postgres._db import PgDb
from opentrail.backends.postgres._migrations import MIGRATIONS
from opentrail.backends.postgres._vault import Vault
from opentrail.ledger import Mismatch, NoteSigner, NoteVerifier, SignedCheckpoints

__all__ = ["PgLedgerAudit"]

CHECKPOINT_KEY = "checkpoint-signing-key"  # the vault secret (backends/postgres/_backend.py)
# trigger -> (table, the function it must call)
GUARDS = {"events_no_change": ("events", "ledger_append_only"),
          "events_no_truncate": ("events", "ledger_append_only"),
          "ledger_purge_no_delete": ("ledger_purge", "ledger_purge_kept")}
_TRIGGERS = ("SELECT t.tgname, c.relname, p.proname, t.tgenabled, p.prosrc FROM pg_trigger t "
             "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid "
             "WHERE NOT t.tgisinternal AND t.tgname = ANY(%s)")


def _bodies() -> dict[str, str]:
    """Each guard function's body as the ledger's migration wrote it."""
    sql = next(m.sql for m in MIGRATIONS if m.name == "ledger")
    found = re.findall(r"CREATE FUNCTION (\w+)\(\) RETURNS trigger LANGUAGE plpgsql AS "
                       r"\$\$(.*?)\$\$", sql, re.DOTALL)
    return dict(found)


class PgLedgerAudit:
    def __init__(self, db: PgDb, vault: Vault) -> None:
        self._db = db
        self._vault = vault

    def public_key(self) -> NoteVerifier | None:
        with self._db.transaction() as conn:
            row = conn.execute("SELECT sealed FROM secrets WHERE name = %s",
                               (CHECKPOINT_KEY,)).fetchone()
        if row is None:
            return None
        text = self._vault.open(CHECKPOINT_KEY, bytes(row[0])).decode()
        return NoteSigner.parse(text).verifier()

    def signed_checkpoints(self, verifier: NoteVerifier | None) -> SignedCheckpoints:
        # No data dir: the rows are the table every node's signer writes.
        return SignedCheckpoints(Path(), verifier, rows=PgCheckpointRows(self._db))

    def retention(self) -> list[tuple[int, int]]:
        with self._db.transaction() as conn:
            rows = conn.execute("SELECT since, days FROM ledger_retention "
                                "ORDER BY since").fetchall()
        return [(int(since), int(days)) for since, days in rows]

    def guard_problems(self) -> list[Mismatch]:
        with self._db.transaction() as conn:
            rows = conn.execute(_TRIGGERS, (list(GUARDS),)).fetchall()
        found = {name: (table, function, enabled, body)
                 for name, table, function, enabled, body in rows}
        bodies, out = _bodies(), []
        for name, (table, function) in GUARDS.items():
            if name not in found:
                out.append(Mismatch(-1, f"append-only trigger {name} is missing"))
                continue
            on, calls, enabled, body = found[name]
            if (on, calls, body) != (table, function, bodies[function]):
                out.append(Mismatch(-1, f"append-only trigger {name} was replaced by another"))
            elif enabled == "D":
                out.append(Mismatch(-1, f"append-only trigger {name} is disabled"))
        return out
