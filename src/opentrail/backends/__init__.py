"""Where OpenTrail's state lives: SQLite files (embedded) or PostgreSQL (scale-out).

Each package that keeps state declares a small storage interface (auth/_key_rows.py,
trails/_rows.py, channels/_rows.py, lake/_catalog_rows.py); `backends/sqlite/` and
`backends/postgres/` implement them, sharing interfaces and contract tests, not SQL.
`open_backend(settings)` picks one, once, in service.py. See docs/design/scale-out.md.
"""

from opentrail.backends._backend import Backend, open_backend
from opentrail.backends._errors import (
    BackendError,
    DatabaseUnreachable,
    MasterKeyMismatch,
    SchemaTooNew,
)
from opentrail.backends._master_key import (
    MASTER_KEY_VALUE_ENV,
    load_master_key,
    new_master_key,
    parse_master_key,
)
from opentrail.backends._role import Role, TrackedRole
from opentrail.backends._url import is_database_url, redact_url

__all__ = [
    "MASTER_KEY_VALUE_ENV",
    "Backend",
    "BackendError",
    "DatabaseUnreachable",
    "MasterKeyMismatch",
    "Role",
    "SchemaTooNew",
    "TrackedRole",
    "is_database_url",
    "load_master_key",
    "new_master_key",
    "open_backend",
    "parse_master_key",
    "redact_url",
]
