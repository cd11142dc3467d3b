"""The embedded backend: every store in its own SQLite file under the data dir.

These are the files OpenTrail has always used (keys.db, trails.db, channels.db,
lake.db, signing-keys/); each store's schema is created on open with
`CREATE ... IF NOT EXISTS`.

The row classes of the Lake and of trails are imported on first use: they pull in
pyarrow, DuckDB and boto, and a child process that needs only keys and rules (the rule
engine's) would otherwise carry ~60 MB of modules it never runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from opentrail.backends.sqlite._backend import SqliteBackend
from opentrail.backends.sqlite._channels import SqliteChannelRows
from opentrail.backends.sqlite._db import SqliteDb
from opentrail.backends.sqlite._keys import SqliteKeyRows

if TYPE_CHECKING:
    from opentrail.backends.sqlite._catalog import SqliteCatalogRows
    from opentrail.backends.sqlite._delivery import SqliteDeliveryRows
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

_LAZY = {"SqliteCatalogRows": "_catalog", "SqliteDeliveryRows": "_delivery",
         "SqliteImportRows": "_lake_imports", "SqliteQueryRows": "_lake_queries",
         "FolderSigningKeyRows": "_signing_keys", "SqliteTrailRows": "_trails"}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
