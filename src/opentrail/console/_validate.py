"""The trails page's "Validate now": the log-file validator, run by the server, per file.

It is `opentrail validate-logs` (trails/_validate.py) with what the server already knows
put in directly: the trail's bucket and prefix (no DescribeTrails), the server's own
storage (the data dir's bucket folders, or the configured S3 endpoint) and its public
keys (no ListPublicKeys round trip). The validator writes awscli's report; the verbose
report names every file with its verdict, so the page lists those lines as rows.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from opentrail.console._console import Console, Viewer, read_form
from opentrail.errors import NotFound, ValidationError
from opentrail.service import Service
from opentrail.trails import Trail, ValidateOptions, Validator, local_fetcher

__all__ = ["WINDOWS", "validate_now"]

# The choices of the form: how far back to validate (seconds; None: since the trail
# was created). Validation reads every file in the window, so the default is a day.
WINDOWS: dict[str, int | None] = {"1h": 3600, "24h": 86400, "7d": 7 * 86400, "all": None}


@dataclass(frozen=True)
class FileVerdict:
    kind: str  # "Digest file", "(backfill) Digest file", "Log file" or "Notice"
    location: str  # s3://bucket/key, or the notice's text
    verdict: str  # "valid", or what is wrong
    ok: bool


@dataclass
class Validation:
    trail: Trail
    start: datetime
    exit_code: int = 0
    files: list[FileVerdict] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    error: str | None = None


def _options(service: Service, trail: Trail, start: datetime) -> ValidateOptions:
    settings = service.settings
    folder = settings.data_dir / "buckets" if settings.trail_storage == "folder" else None
    return ValidateOptions(trail_arn=trail.arn, start=start, s3_bucket=trail.s3_bucket_name,
                           s3_prefix=trail.s3_key_prefix or None, verbose=True,
                           local_folder=folder,
                           s3_endpoint_url=settings.s3_endpoint_url or None,
                           digest_interval=settings.digest_interval)


def run_validation(service: Service, trail: Trail, start: datetime) -> Validation:
    result = Validation(trail, start)
    out, err = io.StringIO(), io.StringIO()
    try:
        validator = Validator(_options(service, trail, start),
                              keys=local_fetcher(service.signing_keys, trail.home_region))
        result.exit_code = validator.run(out, err)
    except Exception as exc:  # storage down, no keys yet: say so on the page
        result.exit_code = 1
        result.error = str(exc) or type(exc).__name__
    _read_report(result, out.getvalue(), err.getvalue())
    return result


def _read_report(result: Validation, out: str, err: str) -> None:
    """Rows from the report's file lines (`KIND file<TAB>s3://...<TAB>verdict`); its other
    error lines (gaps, such as "No log files were delivered ...") as notes; the counts
    at the end as the summary."""
    for text, is_err in ((out, False), (err, True)):
        for line in text.splitlines():
            parts = line.split("\t")
            if len(parts) == 3 and parts[0].endswith("file"):
                ok = parts[2] == "valid"
                result.files.append(FileVerdict(parts[0], parts[1],
                                                parts[2].removeprefix("INVALID: "), ok))
            elif is_err and line.strip():
                result.files.append(FileVerdict("Note", line.strip(), "", True))
            elif line.strip() and not line.startswith("Validating log files"):
                result.summary.append(line)


def _find(service: Service, viewer: Viewer, arn: str) -> Trail:
    account = None if viewer.principal.organization else viewer.principal.account
    for trail in service.trails.list(account):
        if trail.arn == arn:
            return trail
    raise NotFound(f"There is no trail {arn} that this access key may see.")


async def validate_now(console: Console, request: Request, viewer: Viewer) -> Response:
    """POST /trails/validate: run the validator over the chosen window, show each file."""
    form = await read_form(request)
    if not viewer.session.csrf_ok(form.get("csrf")):
        return console.render(request, "error.html", viewer, status=403,
                              title="Validation was refused",
                              message="The form was stale or came from another site. "
                                      "Open the Trails page and use Validate now again.")
    window = form.get("window", "24h")
    if window not in WINDOWS:
        raise ValidationError(f"The window must be one of {', '.join(WINDOWS)}.")
    trail = await run_in_threadpool(_find, console.service, viewer, form.get("arn", ""))
    if not trail.log_file_validation_enabled:
        raise ValidationError(f"Log file validation is off for {trail.name}: it has no "
                              "digests to check. Turn it on with UpdateTrail "
                              "--enable-log-file-validation.")
    now = console.service.clock.now()
    span = WINDOWS[window]
    start = now - span if span is not None else (trail.created or now - 86400)
    result = await run_in_threadpool(run_validation, console.service, trail,
                                     datetime.fromtimestamp(start, UTC))
    return console.render(request, "validation.html", viewer, result=result, window=window)
