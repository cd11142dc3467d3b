"""`opentrail compliance report` and `opentrail compliance verify`.

`report` is a client command, like `lookup-events`: it signs its calls with the
standard AWS credential chain, and its key needs the admin role (the report is recorded
in the ledger and signed by the server). `verify` runs offline with public keys only.
Exit codes: report 0 when no check FAILs or ERRORs, 1 when one does, 2 on usage
errors; verify 0 valid, 1 invalid.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from opentrail.cli._options import DEFAULT_ENDPOINT, ENDPOINT_ENV

if TYPE_CHECKING:
    from opentrail.compliance._catalog import Profile

__all__ = ["compliance"]

FORMATS = ("html", "json", "pdf")
STARTED = time.monotonic()


def _time(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    from opentrail.trails import parse_cli_time

    if value is None:
        return None
    try:
        return parse_cli_time(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _formats(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    chosen = tuple(sorted({f.strip() for f in value.split(",") if f.strip()}))
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise click.BadParameter(f"use a comma-separated list of {', '.join(FORMATS)}; "
                                 f"got {value!r}.")
    return tuple(sorted({*chosen, "html", "json"}))  # HTML and JSON are always written


@click.group()
def compliance() -> None:
    """Compliance evidence: a signed report of the spec's 22 checks, and its verification."""


@compliance.command("report")
@click.option("--profile", "profile_name", required=True,
              type=click.Choice(["pci-dss-4", "hipaa", "soc2", "iso27001", "all"]),
              help="Which framework's clauses and thresholds to report against.")
@click.option("--start-time", required=True, callback=_time,
              help="Start of the period (UTC unless an offset is given), inclusive.")
@click.option("--end-time", callback=_time,
              help="End of the period, exclusive. Default: now, to the minute.")
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the report bundle into (created; must be empty).")
@click.option("--format", "formats", default="html,json", show_default=True,
              callback=_formats, help="Comma-separated: html, json, pdf (pdf needs "
                                      "`pip install 'opentrail[pdf]'`).")
@click.option("--local-folder", type=click.Path(file_okay=False, path_type=Path),
              help="The server's trail folder (DATA_DIR/buckets) for OT-03/04, when trails "
                   "deliver to a local folder.")
@click.option("--s3-endpoint-url", help="S3-compatible endpoint of the trail buckets.")
@click.option("--approved-admin", "approved_admins", multiple=True, metavar="ARN",
              help="A principal allowed to change logging configuration (OT-06); repeat.")
@click.option("--approved-reader", "approved_readers", multiple=True, metavar="ARN",
              help="A principal allowed to read the audit trail (OT-12); repeat.")
@click.option("--organization", default="", help="Organisation name for the cover page.")
@click.option("--system-description", type=click.Path(dir_okay=False, exists=True,
                                                      path_type=Path),
              help="A text file describing the system, printed in the report as the "
                   "operator's description.")
@click.option("--stop-tolerance", type=click.IntRange(min=0), metavar="SECONDS",
              help="Longest logging-off interval OT-07 accepts (default 3600).")
@click.option("--error-tolerance", type=click.IntRange(min=0), metavar="SECONDS",
              help="Longest a delivery error may stay open for OT-08 (default 3600).")
@click.option("--review-window", type=click.IntRange(min=1), metavar="SECONDS",
              help="Longest a Sigma finding may stay unacknowledged for OT-19 "
                   "(default 86400: the daily review).")
@click.option("--max-proofs", type=click.IntRange(min=0), default=2000, show_default=True,
              help="Evidence events proven by inclusion proofs (the rest say so).")
@click.option("--aws-profile", "profile", metavar="NAME",
              help="Named AWS profile for credentials (--profile names the framework "
                   "here). Default: the standard AWS chain.")
@click.option("--region", metavar="REGION", help="Region to sign requests for. Default: "
              "AWS_REGION / AWS_DEFAULT_REGION, the profile's region, else us-east-1.")
@click.option("--endpoint-url", envvar=ENDPOINT_ENV, default=DEFAULT_ENDPOINT,
              show_default=True, show_envvar=True, metavar="URL",
              help="Base URL of the OpenTrail server.")
def report(profile_name: str, start_time: datetime, end_time: datetime | None,
           output: Path, formats: tuple[str, ...], local_folder: Path | None,
           s3_endpoint_url: str | None, approved_admins: tuple[str, ...],
           approved_readers: tuple[str, ...], organization: str,
           system_description: Path | None, stop_tolerance: int | None,
           error_tolerance: int | None, review_window: int | None,
           max_proofs: int,
           endpoint_url: str, profile: str | None, region: str | None) -> None:
    """Run every check of the profile over [--start-time, --end-time) and write a signed
    evidence bundle (report.html, report.json, evidence/, manifest.json, manifest.sig)."""
    from opentrail.compliance._render import PdfUnavailable
    from opentrail.compliance._report import ReportOptions, run_report
    from opentrail.compliance._result import Period
    from opentrail.compliance._source import ApiError, ServerSource

    if not endpoint_url.startswith(("http://", "https://")):
        raise click.BadParameter(f"{endpoint_url!r} is not an http:// or https:// URL.",
                                 param_hint="--endpoint-url")
    end = end_time or datetime.now(UTC).replace(second=0, microsecond=0)
    if output.exists() and any(output.iterdir()):
        raise click.UsageError(f"--output {output} is not empty; give a new folder.")
    try:
        chosen = _profile(profile_name, stop_tolerance, error_tolerance, review_window)
        options = ReportOptions(chosen, Period(start_time, end), output,
                                formats, local_folder, s3_endpoint_url, approved_admins,
                                approved_readers, max_proofs, organization,
                                system_description.read_text() if system_description
                                else "")
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    source = ServerSource(endpoint_url, profile=profile, region=region)
    try:
        outcome = run_report(source, options, _progress)
    except (ApiError, PdfUnavailable) as exc:
        raise click.ClickException(str(exc)) from exc
    for check_id, result in outcome.results.items():
        click.echo(f"{check_id}\t{result}")
    click.echo(f"Report {outcome.report_id} written to {output} (manifest SHA-256 "
               f"{outcome.manifest_sha256}).")
    sys.exit(1 if {"FAIL", "ERROR"} & set(outcome.results.values()) else 0)


def _profile(name: str, stop_tolerance: int | None, error_tolerance: int | None,
             review_window: int | None) -> Profile:
    """The framework's profile with the thresholds the user overrode."""
    from opentrail.compliance._catalog import profile_named

    chosen = profile_named(name)
    if stop_tolerance is not None:
        chosen = replace(chosen, stop_tolerance_seconds=stop_tolerance)
    if error_tolerance is not None:
        chosen = replace(chosen, error_tolerance_seconds=error_tolerance)
    if review_window is not None:
        chosen = replace(chosen, review_window_seconds=review_window)
    return chosen


def _progress(step: str, done: int, total: int) -> None:
    click.echo(f"[{done}/{total} {time.monotonic() - STARTED:.1f}s] {step}", err=True)


@compliance.command("verify")
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--public-key", "public_keys", multiple=True, required=True,
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A file of verifier keys (one per line): the checkpoint key and the "
                   "report key, from the operator. Repeat for several files.")
def verify(directory: Path, public_keys: tuple[Path, ...]) -> None:
    """Check a report bundle offline: the manifest's signature, every file's hash, the
    embedded checkpoint and every inclusion proof."""
    from opentrail.compliance._verify import verify_bundle

    texts = [line for path in public_keys for line in path.read_text().splitlines()]
    try:
        verdict = verify_bundle(directory, texts)
    except ValueError as exc:
        raise click.ClickException(f"a public key could not be read: {exc}") from exc
    for problem in verdict.problems:
        click.echo(f"INVALID: {problem}")
    if verdict.valid:
        click.echo(f"VALID: {verdict.checked.get('files', 0)} files and "
                   f"{verdict.checked.get('inclusionProofs', 0)} inclusion proofs match the "
                   "signed manifest and checkpoint.")
    sys.exit(0 if verdict.valid else 1)
