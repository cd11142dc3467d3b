"""`opentrail migrate --from DATA_DIR --to postgresql://...`: an embedded installation
into PostgreSQL, every leaf checked (opentrail.backends.transfer)."""

from __future__ import annotations

from pathlib import Path

import click

from opentrail.config import DATABASE_URL_ENV, MASTER_KEY_FILE_ENV
from opentrail.errors import OpenTrailError

__all__ = ["migrate"]


@click.command()
@click.option("--from", "data_dir", required=True, metavar="DATA_DIR",
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The data dir of the installation to move (stop its server first).")
@click.option("--to", "url", required=True, envvar=DATABASE_URL_ENV, show_envvar=True,
              metavar="URL", help="The cluster's PostgreSQL database (postgresql://...): "
                                  "empty, or the target of an earlier run from DATA_DIR.")
@click.option("--master-key-file", envvar=MASTER_KEY_FILE_ENV, default="", show_envvar=True,
              metavar="PATH", help="The cluster's master key (base64 of 32 bytes), else "
                                   "$OPENTRAIL_MASTER_KEY: secrets are resealed with it.")
@click.option("--from-master-key-file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, metavar="PATH",
              help="The data dir's own master key, which sealed its access-key and "
                   "event rule connection secrets [default: DATA_DIR/master.key].")
def migrate(data_dir: Path, url: str, master_key_file: str,
            from_master_key_file: Path | None) -> None:
    """Move an embedded installation (DATA_DIR's SQLite files) into PostgreSQL.

    First every leaf of DATA_DIR's ledger is recomputed from its bytes and the root
    at every signed checkpoint compared; on any mismatch nothing is written and the
    event's seq is named. Then the ledger is copied in committed chunks and the
    database's tree head is recomputed and compared, and the access keys (secrets
    resealed with the cluster's master key), trails, bucket owners, channels, the Lake
    catalog, the digest signing keys, the checkpoint signing key, the signed checkpoints
    and each trail's delivery state (cursor, unconfirmed files, digest chains) follow,
    so a migrated trail goes on delivering where it stopped; then the event rules'
    state (rules, targets, tags, connections with their secrets resealed, API
    destinations, the rule engine's cursor and outbox) and the Insights engine's state
    (insights.db: counters, detector states, its cursor), so rules go on matching and
    delivering, and Insights counting, where they stopped;
    and Lake queries (with their results) and imports (with their done files).

    The database must be empty or the target of an earlier run from DATA_DIR: a run cut
    short is run again and goes on where it stopped; rows already copied are checked,
    not copied twice. Exits 0 when everything was moved, 1 when anything was refused.
    """
    from opentrail.backends import BackendError, is_database_url, load_master_key, redact_url
    from opentrail.backends.transfer import NOT_MOVED, migrate_data_dir

    if not is_database_url(url):
        raise click.BadParameter(f"must be a postgresql:// URL, not {redact_url(url)!r}.",
                                 param_hint="--to")
    try:
        key = load_master_key(master_key_file)
        if key is None:
            raise click.UsageError(
                "The cluster's master key is needed: set OPENTRAIL_MASTER_KEY (base64 of 32 "
                "random bytes, from `opentrail keys master-key`) or --master-key-file PATH.")
        click.echo(f"Migrating {data_dir} into {redact_url(url)}")
        size, root = migrate_data_dir(data_dir, url, key, source_master_key=from_master_key_file,
                                      progress=click.echo)
    except (BackendError, OpenTrailError) as exc:  # refused, or the database went away
        raise click.ClickException(exc.message) from exc
    click.echo(f"Done: the database holds {data_dir}'s ledger (tree head size {size} root "
               f"{root.hex()}) and its keys, trails, channels, Lake catalog, signing keys, "
               "trail delivery state, event rules, Insights state and Lake queries and "
               "imports.")
    click.echo("Left in the data dir (not on PostgreSQL yet, docs/design/scale-out.md):"
               + "".join(f"\n  - {part}" for part in NOT_MOVED))
