"""Why a backend cannot start: each a whole sentence for the operator, never a secret."""

from __future__ import annotations

from opentrail.errors import OpenTrailError

__all__ = ["BackendError", "DatabaseUnreachable", "MasterKeyMismatch", "SchemaTooNew"]


class BackendError(OpenTrailError):
    """The backend refuses to start (or to go on); the message says why and what to do."""


class DatabaseUnreachable(BackendError):
    """No connection to the database (the message names its URL without password)."""


class SchemaTooNew(BackendError):
    """The database was migrated by a newer OpenTrail than this one."""

    def __init__(self, found: int, known: int, where: str) -> None:
        super().__init__(
            f"The database {where} has schema version {found}, newer than this OpenTrail's "
            f"{known}: it was migrated by a newer release. Run that release (or newer) "
            "instead; OpenTrail never downgrades a schema.")
        self.found = found
        self.known = known


class MasterKeyMismatch(BackendError):
    """This node's master key is not the one the database's secrets are sealed with."""
