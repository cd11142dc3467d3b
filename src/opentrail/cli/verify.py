"""`opentrail verify`: recompute every leaf of the ledger from its stored bytes, and the
tree's root at every signed checkpoint."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from opentrail.config import default_data_dir

__all__ = ["verify"]

DEFAULT_RETENTION_DAYS = 90  # the server's own default (history_retention_days)


def _verifier(data_dir: Path, public_key: Path | None) -> Any:
    """The checkpoint key: --public-key, else DATA_DIR/checkpoint.pub, else None."""
    from opentrail.ledger import NoteError, NoteVerifier
    from opentrail.ledger._checkpoint import PUBLIC_KEY_FILE

    path = public_key or data_dir / PUBLIC_KEY_FILE
    if not path.exists():
        return None
    try:
        return NoteVerifier.parse(path.read_text())
    except NoteError as err:
        raise click.BadParameter(f"{path} is not a checkpoint public key: {err}",
                                 param_hint="--public-key") from None


def _retention(given: int | None, conn: Any, now: float) -> tuple[Any, str]:
    """The retention to check missing bodies by, and where it came from."""
    from opentrail.ledger import Retention, recorded_retention

    if given is not None:
        return Retention.of_days(given, now), "--retention-days"
    recorded = Retention.of_history(recorded_retention(conn), now)
    if recorded is not None:
        return recorded, "recorded by the server"
    return Retention.of_days(DEFAULT_RETENTION_DAYS, now), "default"


@click.command()
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=default_data_dir, show_default="per-user data dir",
              help="The server's data directory.")
@click.option("--retention-days", type=click.IntRange(min=0), default=None,
              help="History retention the server runs with (0: forever). A body missing "
                   "from an event younger than this is reported. Default: the settings "
                   "the server recorded in the ledger, else 90.")
@click.option("--public-key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Checkpoint public key to check signed checkpoints with "
                                 "(default: DATA_DIR/checkpoint.pub). Pass a copy kept "
                                 "outside the data dir to trust nothing in it.")
def verify(data_dir: Path, retention_days: int | None, public_key: Path | None) -> None:
    """Recompute every leaf hash from stored bytes and the Merkle root at the size of every
    signed checkpoint, check the sequence has no gaps, that no body went missing before
    the retention period was over and that the append-only guards are in place, and print
    the Merkle tree head.

    Exits 0 when everything matches, 1 when anything does not. Safe while the server runs.
    """
    from opentrail.ledger import SignedCheckpoints, open_reader, verify_ledger

    conn = open_reader(data_dir)
    retention, source = _retention(retention_days, conn, time.time())
    signed = SignedCheckpoints(data_dir, _verifier(data_dir, public_key))
    report = verify_ledger(conn, checkpoints=signed, retention=retention)
    report.mismatches[:0] = signed.problems
    for m in report.mismatches:
        where = f"event seq {m.seq}" if m.seq >= 0 else "ledger"
        click.echo(f"MISMATCH\t{where}\t{m.reason}")
    click.echo(f"retention: {retention.text} ({source})  "
               f"signed checkpoints matched: {report.checkpoints}")
    click.echo(f"events: {report.size}  verified: {report.checked}  "
               f"expired (leaf kept): {report.expired}  mismatches: {len(report.mismatches)}")
    click.echo(f"tree head: size {report.size} root {report.root.hex()}")
    sys.exit(0 if report.ok else 1)
