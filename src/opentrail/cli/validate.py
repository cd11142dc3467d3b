"""`opentrail validate-logs`: `aws cloudtrail validate-logs`, faster and stricter.

Same arguments, same report lines and exit codes (0 all valid, 1 anything invalid or
missing, 255 when the run itself fails), plus --endpoint-url for OpenTrail's API,
--s3-endpoint-url for an S3-compatible store, and --local-folder for the folder
destination. What it checks beyond awscli: docs/validate-logs.md.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

__all__ = ["validate_logs"]

FAILED = 255  # awscli's exit code when the command itself fails


def _time(ctx: click.Context, param: click.Parameter, value: str | None) -> object:
    from opentrail.trails import parse_cli_time

    if value is None:
        return None
    try:
        return parse_cli_time(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise click.BadParameter(f"{value!r} is not an http:// or https:// URL.")
    return value.rstrip("/") if value else None


@click.command("validate-logs")
@click.option("--trail-arn", required=True, help="ARN of the trail to validate.")
@click.option("--start-time", required=True, callback=_time,
              help="Validate log files delivered at or after this time (UTC unless an "
                   "offset is given), e.g. 2026-11-20T05:00:00Z.")
@click.option("--end-time", callback=_time, help="... and at or before this time. "
              "Default: now.")
@click.option("--s3-bucket", help="Bucket holding the digests; skips DescribeTrails.")
@click.option("--s3-prefix", help="Key prefix of the trail's files (with --s3-bucket).")
@click.option("--account-id", help="Account whose files to validate (organization trails).")
@click.option("--verbose", is_flag=True, help="Also print every valid file.")
@click.option("--region", help="Region whose digests to validate (default: the trail's "
              "home region) and to sign requests for.")
@click.option("--profile", help="Named AWS profile for credentials.")
@click.option("--endpoint-url", envvar="OPENTRAIL_ENDPOINT_URL", callback=_url,
              help="CloudTrail API (OpenTrail's URL) for DescribeTrails and ListPublicKeys. "
                   "Default: OPENTRAIL_ENDPOINT_URL, else botocore's own resolution.")
@click.option("--s3-endpoint-url", callback=_url,
              help="S3-compatible endpoint of the bucket. Default: AWS_ENDPOINT_URL_S3, "
                   "the profile's s3 endpoint, else AWS S3.")
@click.option("--local-folder", type=click.Path(file_okay=False, path_type=Path),
              help="Read buckets from this folder (bucket NAME is DIR/NAME/, as in "
                   "OpenTrail's folder destination, DATA_DIR/buckets) instead of S3.")
@click.option("--public-keys", "public_keys_file",
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Saved `aws cloudtrail list-public-keys` output: validate offline, "
                   "without calling the CloudTrail API (needs --s3-bucket).")
@click.option("--digest-interval", type=click.FloatRange(min=1), metavar="SECONDS",
              help="The trail's digest interval. Default: inferred from the chain, else 3600.")
@click.option("--slack", type=click.FloatRange(min=0), default=900, show_default=True,
              metavar="SECONDS", help="How late a digest may arrive before it counts as "
                                      "missing at the newest end of the chain.")
@click.option("--workers", type=click.IntRange(1, 256), default=8, show_default=True,
              help="Parallel downloads.")
def validate_logs(**kwargs: object) -> None:
    """Validate a trail's digest and log files, like `aws cloudtrail validate-logs`."""
    from opentrail.trails import ValidateOptions, Validator

    kwargs["start"], kwargs["end"] = kwargs.pop("start_time"), kwargs.pop("end_time")
    if kwargs["public_keys_file"] and not kwargs["s3_bucket"]:
        raise click.UsageError("--public-keys needs --s3-bucket (no DescribeTrails offline).")
    if kwargs["s3_prefix"] is not None and not kwargs["s3_bucket"]:
        raise click.UsageError("--s3-prefix needs --s3-bucket (without it the trail's own "
                               "bucket and prefix are used, and --s3-prefix would be ignored).")
    if kwargs["local_folder"] is not None and kwargs["s3_endpoint_url"] is not None:
        raise click.UsageError("--local-folder and --s3-endpoint-url exclude each other: "
                               "files are read either from the folder or from S3.")
    if kwargs["s3_endpoint_url"] is None and os.environ.get("AWS_ENDPOINT_URL_S3"):
        kwargs["s3_endpoint_url"] = os.environ["AWS_ENDPOINT_URL_S3"]
    try:
        options = ValidateOptions(**kwargs)  # type: ignore[arg-type]
        code = Validator(options).run(sys.stdout, sys.stderr)
    except Exception as exc:  # the run failed (not a verdict): awscli's 255
        sys.stdout.flush()
        sys.stderr.write(f"\n{exc}\n")
        sys.exit(FAILED)
    sys.exit(code)
