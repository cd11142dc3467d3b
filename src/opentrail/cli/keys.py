"""`opentrail keys`: create, list and delete access keys in a data dir or a database.

Works on DATA_DIR/keys.db (or the PostgreSQL database of --database-url) directly, so
it may run while the server does: a running server stops accepting a deleted key within
a second. `keys master-key` prints a new master key for a PostgreSQL cluster.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from opentrail.auth import KeyStore, Principal, Role
from opentrail.config import DATABASE_URL_ENV, MASTER_KEY_FILE_ENV, Settings, default_data_dir
from opentrail.errors import OpenTrailError

__all__ = ["keys"]

_ROLES = [role.value for role in Role]

_data_dir = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=default_data_dir,
    show_default="$OPENTRAIL_DATA_DIR, else $XDG_DATA_HOME/opentrail",
    help="The server's data dir; keys live in DATA_DIR/keys.db.",
)
_database_url = click.option(
    "--database-url", envvar=DATABASE_URL_ENV, default="", show_envvar=True, metavar="URL",
    help="The cluster's PostgreSQL database (postgresql://...) instead of the data dir; "
         "needs the master key ($OPENTRAIL_MASTER_KEY or --master-key-file).",
)
_master_key_file = click.option(
    "--master-key-file", envvar=MASTER_KEY_FILE_ENV, default="", show_envvar=True,
    metavar="PATH", help="File holding the master key (base64 of 32 bytes).",
)


def _data_dir_option(f: Any) -> Any:
    """--data-dir, --database-url and --master-key-file: where the keys are."""
    return _data_dir(_database_url(_master_key_file(f)))


@click.group()
def keys() -> None:
    """Create, list and delete access keys.

    Each key has an access key id (OTAK...), a secret shown once at creation, a role
    (reader < writer < admin) and either one 12-digit account or the whole organization.
    Secrets are stored encrypted with DATA_DIR/master.key, or the file named by
    $OPENTRAIL_MASTER_KEY_FILE; keep that file as safe as the keys themselves. With
    --database-url the keys are in PostgreSQL, sealed with the cluster's master key.
    """


@keys.command(name="master-key")
def master_key() -> None:
    """Print a new master key (base64 of 32 random bytes) for a PostgreSQL cluster.

    Give the same key to every node, as $OPENTRAIL_MASTER_KEY or in the file named by
    --master-key-file; the database keeps only secrets sealed with it. A node with
    another key refuses to start.
    """
    from opentrail.backends import new_master_key

    click.echo(new_master_key())


def _check_account(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not (len(value) == 12 and value.isascii() and value.isdigit()):
        raise click.BadParameter(f"must be exactly 12 digits, not {value!r}.")
    return value


@keys.command()
@_data_dir_option
@click.option(
    "--account",
    metavar="ACCOUNT_ID",
    callback=_check_account,
    help="The 12-digit account the key may read and write.",
)
@click.option(
    "--organization", is_flag=True, help="Make an organization key, valid for every account."
)
@click.option(
    "--role",
    type=click.Choice(_ROLES),
    default=Role.READER.value,
    show_default=True,
    help="reader: look up events; writer: also send events; admin: also manage"
    " trails and other resources.",
)
@click.option("--name", help="A label to recognise the key by.  [default: ROLE-LAST4]")
def create(
    data_dir: Path, database_url: str, master_key_file: str, account: str | None,
    organization: bool, role: str, name: str | None
) -> None:
    """Create an access key and print it as one JSON object.

    The SecretAccessKey appears only in this output; store it now, it cannot be
    shown again.

    \b
    Examples:
      opentrail keys create --account 123456789012 --role writer
      opentrail keys create --organization --role admin --name ops
    """
    if organization == (account is not None):
        raise click.UsageError("Give exactly one of --account ACCOUNT_ID or --organization.")
    with _store(data_dir, database_url, master_key_file) as store:
        principal, secret = store.create(
            account=account, organization=organization, role=Role(role), name=name
        )
    click.echo(
        json.dumps(
            {
                "AccessKeyId": principal.access_key_id,
                "SecretAccessKey": secret,
                "Account": principal.account,
                "Organization": principal.organization,
                "Role": principal.role.value,
                "Name": principal.name,
            }
        )
    )


@keys.command(name="list")
@_data_dir_option
@click.option(
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A table for people, or JSON for scripts.",
)
def list_(data_dir: Path, database_url: str, master_key_file: str, output: str) -> None:
    """List access keys, oldest first. Secrets are never shown."""
    with _store(data_dir, database_url, master_key_file) as store:
        principals = store.list()
    if output == "json":
        click.echo(json.dumps({"AccessKeys": [_describe(p) for p in principals]}, indent=2))
    elif not principals:
        click.echo("No access keys yet. Create one with `opentrail keys create`.", err=True)
    else:
        _print_table(principals)


@keys.command()
@_data_dir_option
@click.argument("access_key_id")
def delete(data_dir: Path, database_url: str, master_key_file: str,
           access_key_id: str) -> None:
    """Delete an access key.

    ACCESS_KEY_ID stops working at once; a server already running notices within a
    second.
    """
    with _store(data_dir, database_url, master_key_file) as store:
        if not store.delete(access_key_id):
            raise click.ClickException(
                f"No access key {access_key_id} in {store.path}. "
                "See `opentrail keys list` for the ids."
            )
    click.echo(f"Deleted access key {access_key_id}.")


@contextmanager
def _store(data_dir: Path, database_url: str, master_key_file: str) -> Iterator[KeyStore]:
    """A KeyStore whose errors become one-line CLI messages (exit 1)."""
    from opentrail.backends import BackendError, is_database_url, open_backend

    if database_url and not is_database_url(database_url):
        raise click.BadParameter("must be a postgresql:// URL.", param_hint="--database-url")
    try:
        if not database_url:  # as before: a missing master key file is made with a key
            with KeyStore(data_dir, master_key_file=Path(master_key_file)
                          if master_key_file else None) as store:
                yield store
            return
        backend = open_backend(Settings(data_dir=data_dir, database_url=database_url,
                                        master_key_file=master_key_file))
        try:
            with backend.keys() as store:
                yield store
        finally:
            backend.close()
    except BackendError as exc:
        raise click.ClickException(exc.message) from exc
    except OpenTrailError as exc:
        raise click.ClickException(exc.message) from exc
    except OSError as exc:
        raise click.ClickException(f"Cannot use data dir {data_dir}: {exc}") from exc


def _describe(principal: Principal) -> dict[str, Any]:
    return {
        "AccessKeyId": principal.access_key_id,
        "Account": principal.account,
        "Organization": principal.organization,
        "Role": principal.role.value,
        "Name": principal.name,
        "Created": _iso(principal.created),
    }


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _print_table(principals: list[Principal]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("Access key ID", "Account", "Role", "Name", "Created (UTC)")
    for column in (0, 1, 4):  # ids and times are copied, so never wrapped; names may wrap
        table.columns[column].no_wrap = True
    table.columns[3].overflow = "fold"
    for p in principals:
        scope = "organization" if p.organization else str(p.account)
        created = datetime.fromtimestamp(p.created, UTC).strftime("%Y-%m-%d %H:%M")
        table.add_row(p.access_key_id, scope, p.role.value, p.name, created)
    Console().print(table)
