"""The scale-out backend: state in PostgreSQL through psycopg 3 (the `postgres` extra).

Its own numbered migrations (migrations/NNNN_*.sql, _migrations.py), a connection pool
with one transaction helper (_db.py), shared secrets sealed with the master key
(_vault.py), and one module per store interface. See docs/design/scale-out.md.
"""

from opentrail.backends.postgres._backend import ACCESS_KEY_SEAL, PostgresBackend
from opentrail.backends.postgres._catalog import PgCatalogRows
from opentrail.backends.postgres._channels import PgChannelRows
from opentrail.backends.postgres._db import PgDb, connect
from opentrail.backends.postgres._delivery import PgDeliveryRows
from opentrail.backends.postgres._history import PgHistoryIndex, PgIndexRows
from opentrail.backends.postgres._keys import PgKeyRows
from opentrail.backends.postgres._ledger_reader import PgLedgerReader
from opentrail.backends.postgres._ledger_sequencer import PgSequencer
from opentrail.backends.postgres._migrations import LATEST, MIGRATIONS, migrate, schema_version
from opentrail.backends.postgres._signing_keys import PgSigningKeyRows
from opentrail.backends.postgres._trails import PgTrailRows
from opentrail.backends.postgres._vault import Vault

__all__ = ["ACCESS_KEY_SEAL", "LATEST", "MIGRATIONS", "PgCatalogRows", "PgChannelRows",
           "PgDb", "PgDeliveryRows", "PgHistoryIndex", "PgIndexRows", "PgKeyRows",
           "PgLedgerReader", "PgSequencer", "PgSigningKeyRows", "PgTrailRows",
           "PostgresBackend", "Vault",
           "connect", "migrate", "schema_version"]
