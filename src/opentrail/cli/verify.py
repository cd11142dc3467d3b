"""`opentrail verify`: recompute every leaf of the ledger from its stored bytes, and the
tree's root at every signed checkpoint, in the data dir or the cluster's database (read
through the backend's `LedgerReader` and `LedgerAudit`)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from opentrail.cli._backend import database_options, opened_backend
from opentrail.config import default_data_dir

__all__ = ["verify"]

DEFAULT_RETENTION_DAYS = 90  # the server's own default (history_retention_days)


def _verifier(audit: Any, public_key: Path | None) -> Any:
    """The checkpoint key: --public-key, else the backend's (DATA_DIR/checkpoint.pub, or
    the cluster's key in the database), else None."""
    from opentrail.ledger import NoteError, NoteVerifier

    try:
        if public_key is None:
            return audit.public_key()
        return NoteVerifier.parse(public_key.read_text())
    except NoteError as err:
        raise click.BadParameter(f"{public_key or 'the stored key'} is not a checkpoint "
                                 f"public key: {err}", param_hint="--public-key") from None


def _retention(given: int | None, recorded: list[tuple[int, int]], now: float
               ) -> tuple[Any, str]:
    """The retention to check missing bodies by, and where it came from."""
    from opentrail.ledger import Retention

    if given is not None:
        return Retention.of_days(given, now), "--retention-days"
    found = Retention.of_history(recorded, now)
    if found is not None:
        return found, "recorded by the server"
    return Retention.of_days(DEFAULT_RETENTION_DAYS, now), "default"


@click.command()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              default=default_data_dir, show_default="per-user data dir",
              help="The server's data directory.")
@database_options
@click.option("--retention-days", type=click.IntRange(min=0), default=None,
              help="History retention the server runs with (0: forever). A body missing "
                   "from an event younger than this is reported. Default: the settings "
                   "the server recorded in the ledger, else 90.")
@click.option("--public-key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Checkpoint public key to check signed checkpoints with "
                                 "(default: DATA_DIR/checkpoint.pub). Pass a copy kept "
                                 "outside the data dir (or the database) to trust nothing "
                                 "in it.")
def verify(data_dir: Path, database_url: str, master_key_file: str,
           retention_days: int | None, public_key: Path | None) -> None:
    """Recompute every leaf hash from stored bytes and the Merkle root at the size of every
    signed checkpoint, check the sequence has no gaps, that no body went missing before
    the retention period was over and that the append-only guards are in place, and print
    the Merkle tree head.

    Exits 0 when everything matches, 1 when anything does not. Safe while the server runs.
    With --database-url it reads the cluster's database instead of the data dir.
    """
    if not database_url and not data_dir.is_dir():
        raise click.BadParameter(f"{data_dir} is not a directory.", param_hint="--data-dir")
    with opened_backend(data_dir, database_url, master_key_file) as backend:
        report, lines = _check(backend, retention_days, public_key)
    for line in lines:
        click.echo(line)
    sys.exit(0 if report.ok else 1)


def _check(backend: Any, retention_days: int | None, public_key: Path | None
           ) -> tuple[Any, list[str]]:
    """The verification report of the backend's ledger, and the lines that tell it."""
    from opentrail.ledger import NoCheckpoints, verify_reader

    audit, reader = backend.ledger_audit(), backend.ledger_reader()
    try:
        retention, source = _retention(retention_days, audit.retention(), time.time())
        signed = audit.signed_checkpoints(_verifier(audit, public_key))
        report = verify_reader(reader, checkpoints=signed, retention=retention,
                               guards=audit.guard_problems)
    finally:
        reader.close()
    report.mismatches[:0] = signed.problems
    lines = [f"MISMATCH\t{f'event seq {m.seq}' if m.seq >= 0 else 'ledger'}\t{m.reason}"
             for m in report.mismatches]
    kept = " (none kept in the database yet)" if isinstance(signed, NoCheckpoints) else ""
    lines += [f"retention: {retention.text} ({source})  "
              f"signed checkpoints matched: {report.checkpoints}{kept}",
              f"events: {report.size}  verified: {report.checked}  "
              f"expired (leaf kept): {report.expired}  mismatches: {len(report.mismatches)}",
              f"tree head: size {report.size} root {report.root.hex()}"]
    return report, lines
