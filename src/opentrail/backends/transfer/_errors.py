"""Why a migration stopped: a whole sentence for the operator, naming what differs."""

from __future__ import annotations

from opentrail.backends._errors import BackendError

__all__ = ["MigrationRefused"]


class MigrationRefused(BackendError):
    """The data dir or the database is not fit to migrate; nothing unsafe was written."""
