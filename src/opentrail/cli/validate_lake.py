"""`opentrail validate-lake`: prove an event data store's files against its signed
manifests and the ledger, in the data dir or the cluster's database (the ledger, the
checkpoint key and the writer's recorded chain heads read through the backend)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from opentrail.cli._backend import database_options, opened_backend
from opentrail.config import default_data_dir

if TYPE_CHECKING:
    from opentrail.backends import Backend
    from opentrail.lake import LakeLocation, LakeReport
    from opentrail.ledger import NoteVerifier

__all__ = ["validate_lake"]


def _verifier(backend: Backend, data_dir: Path, database_url: str) -> NoteVerifier:
    """The checkpoint key: the backend's public key (DATA_DIR/checkpoint.pub, or the
    cluster's key in the database), else the data dir's private key file."""
    from opentrail.ledger import CHECKPOINT_KEY_FILE, NoteSigner

    found = backend.ledger_audit().public_key()
    if found is not None:
        return found
    key = data_dir / CHECKPOINT_KEY_FILE
    if not database_url and key.exists():
        return NoteSigner.parse(key.read_text()).verifier()
    where = backend.where
    raise click.ClickException(f"{where} holds no checkpoint key: it is not an OpenTrail "
                               + ("database." if database_url else
                                  "data directory (checkpoint.pub or checkpoint.key)."))


@click.command("validate-lake")
@click.argument("store")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              default=default_data_dir, show_default="per-user data dir",
              help="The server's data directory (its ledger and checkpoint key).")
@database_options
@click.option("--lake-location", default="", show_default="DATA_DIR/lake",
              help="Where the stores' files are: a folder or s3://BUCKET/PREFIX, as given "
                   "to `opentrail serve`.")
@click.option("--s3-endpoint-url", default="", help="S3-compatible endpoint for an s3:// "
              "lake location; empty means AWS S3.")
def validate_lake(store: str, data_dir: Path, database_url: str, master_key_file: str,
                  lake_location: str, s3_endpoint_url: str) -> None:
    """Check event data store STORE (its ID or ARN): every manifest's signature and chain,
    that no file was changed, removed or added since the writer wrote it, that every
    row is the ledger's event (its eventjson hashes to the ledger's leaf), and that the
    store holds exactly the ledger's events its selectors chose.

    Exits 0 when everything holds, 1 when anything does not, 2 when the store has no
    manifest at this location. Safe while the server runs (files being written now may
    show up as not yet in a manifest; run it again). With --database-url it reads the
    cluster's database (ledger, checkpoint key, recorded chain heads) instead of the data
    dir; give the cluster's --lake-location.
    """
    from dataclasses import replace

    from opentrail.config import Settings
    from opentrail.lake import open_location

    if not database_url and not data_dir.is_dir():
        raise click.BadParameter(f"{data_dir} is not a directory.", param_hint="--data-dir")
    store_id = store.rsplit("/", 1)[-1] if store.startswith("arn:") else store
    settings = replace(Settings(), data_dir=data_dir, lake_location=lake_location,
                       s3_endpoint_url=s3_endpoint_url)
    try:
        location = open_location(settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    with opened_backend(data_dir, database_url, master_key_file) as backend:
        report = _check(backend, location, store_id,
                        _verifier(backend, data_dir, database_url))
    sys.exit(_report(store_id, location, report))


def _check(backend: Backend, location: LakeLocation, store_id: str,
           verifier: NoteVerifier) -> LakeReport:
    from opentrail.lake import receives, recorded_head
    from opentrail.lake import validate_lake as check

    ledger, rows = backend.ledger_reader(), backend.lake_writer_rows()
    try:
        return check(location, store_id, verifier, ledger, receives,
                     recorded_head(rows, store_id))
    finally:
        ledger.close()
        rows.close()


def _report(store_id: str, location: LakeLocation, report: LakeReport) -> int:
    """Print the report; the exit status (0 valid, 1 not, 2 nothing to validate)."""
    if report.manifests == 0 and report.ok:
        click.echo(f"Event data store {store_id} has no manifest at "
                   f"{location.describe(store_id)}: nothing to validate.", err=True)
        return 2
    for problem in report.problems:
        click.echo(f"INVALID\t{problem}")
    click.echo(f"store {store_id}: manifests {report.manifests}, files {report.files}, rows "
               f"{report.rows}; ledger events covered {report.covered}, selected "
               f"{report.selected}, not rechecked (body expired) {report.unchecked}; "
               f"problems {len(report.problems)}")
    click.echo("VALID" if report.ok else "NOT VALID")
    return 0 if report.ok else 1
