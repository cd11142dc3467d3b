"""--database-url and --master-key-file for commands that read state at rest, and the one
way they open it: `open_backend` over the data dir, or over the database when a URL is
given (then every read goes through the backend, never the data dir's files)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from opentrail.config import DATABASE_URL_ENV, MASTER_KEY_FILE_ENV

if TYPE_CHECKING:
    from opentrail.backends import Backend

__all__ = ["database_options", "opened_backend"]

F = TypeVar("F", bound=Callable[..., Any])


def database_options(f: F) -> F:
    """--database-url (instead of the data dir) and --master-key-file."""
    f = click.option(
        "--master-key-file", envvar=MASTER_KEY_FILE_ENV, default="", show_envvar=True,
        metavar="PATH", help="With --database-url: the file holding the cluster's master "
                             "key, else $OPENTRAIL_MASTER_KEY.")(f)
    return click.option(
        "--database-url", envvar=DATABASE_URL_ENV, default="", show_envvar=True,
        metavar="URL", help="Read the cluster's PostgreSQL database (postgresql://...) "
                            "instead of the data dir; needs the master key.")(f)


@contextmanager
def opened_backend(data_dir: Path, database_url: str, master_key_file: str
                   ) -> Iterator[Backend]:
    """The backend holding the state; its errors are one-line CLI messages (exit 1)."""
    from opentrail.backends import BackendError, is_database_url, open_backend, redact_url
    from opentrail.config import Settings

    if database_url and not is_database_url(database_url):
        raise click.BadParameter(f"must be a postgresql:// URL, not "
                                 f"{redact_url(database_url)!r}.", param_hint="--database-url")
    try:
        backend = open_backend(Settings(data_dir=data_dir, database_url=database_url,
                                        master_key_file=master_key_file))
    except BackendError as exc:
        raise click.ClickException(exc.message) from exc
    try:
        yield backend
    finally:
        backend.close()
