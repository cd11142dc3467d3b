"""`opentrail verify`: recompute every leaf of the ledger from its stored bytes."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from opentrail.config import default_data_dir

__all__ = ["verify"]


@click.command()
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=default_data_dir, show_default="per-user data dir",
              help="The server's data directory.")
def verify(data_dir: Path) -> None:
    """Recompute every leaf hash from stored bytes, check the sequence has no gaps and the
    append-only guards are in place, and print the Merkle tree head.

    Exits 0 when everything matches, 1 when anything does not. Safe while the server runs.
    """
    from opentrail.ledger import open_reader, verify_ledger

    report = verify_ledger(open_reader(data_dir))
    for m in report.mismatches:
        where = f"event seq {m.seq}" if m.seq >= 0 else "ledger"
        click.echo(f"MISMATCH\t{where}\t{m.reason}")
    click.echo(f"events: {report.size}  verified: {report.checked}  "
               f"expired (leaf kept): {report.expired}  mismatches: {len(report.mismatches)}")
    click.echo(f"tree head: size {report.size} root {report.root.hex()}")
    sys.exit(0 if report.ok else 1)
