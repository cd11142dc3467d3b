"""Moving an embedded installation (a data dir's SQLite files) into PostgreSQL.

`migrate_data_dir` (the `opentrail migrate` command) checks the data dir's ledger first
(every leaf recomputed from its bytes, the root at every signed checkpoint) and refuses
before writing anything when it does not hold; then claims the database for this data
dir (its checkpoint signing key is the installation's identity), copies the ledger in
committed chunks, and the keys (secrets resealed with the cluster's master key), trails,
bucket owners, channels, the Lake catalog, the digest signing keys, trail delivery's
state, the Insights engine's (insights.db, with its cursor) and Lake queries and
imports. Every step
skips what an earlier run copied and refuses what differs, so a run cut short is simply
run again. See docs/design/scale-out.md, "Moving an installation".
"""

from opentrail.backends.transfer._errors import MigrationRefused
from opentrail.backends.transfer._run import NOT_MOVED, Progress, migrate_data_dir

__all__ = ["NOT_MOVED", "MigrationRefused", "Progress", "migrate_data_dir"]
