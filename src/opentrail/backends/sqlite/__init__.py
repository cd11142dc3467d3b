"""The embedded backend: every store in its own SQLite file under the data dir.

These are the files OpenTrail has always used (keys.db, trails.db, channels.db,
lake.db, signing-keys/); each store's schema is created on open with
`CREATE ... IF NOT EXISTS`.
"""

from opentrail.backends.sqlite._backend import SqliteBackend
from opentrail.backends.sqlite._catalog import SqliteCatalogRows
from opentrail.backends.sqlite._channels import SqliteChannelRows
from opentrail.backends.sqlite._db import SqliteDb
from opentrail.backends.sqlite._delivery import SqliteDeliveryRows
from opentrail.backends.sqlite._keys import SqliteKeyRows
from opentrail.backends.sqlite._lake_imports import SqliteImportRows
from opentrail.backends.sqlite._lake_queries import SqliteQueryRows
from opentrail.backends.sqlite._signing_keys import FolderSigningKeyRows
from opentrail.backends.sqlite._trails import SqliteTrailRows

__all__ = [
           "FolderSigningKeyRows",
           "SqliteBackend",
           "SqliteCatalogRows",
           "SqliteChannelRows",
           "SqliteDb",
           "SqliteDeliveryRows",
           "SqliteImportRows",
           "SqliteKeyRows",
           "SqliteQueryRows",
           "SqliteTrailRows",
]
