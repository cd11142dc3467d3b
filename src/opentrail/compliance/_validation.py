"""OT-03's and OT-04's engine: `opentrail validate-logs` itself, with its report recorded.

The validator is the one `opentrail validate-logs` runs (trails/_validate*); here its
report also keeps every digest entry and log file check as evidence rows, and its text
output is kept for the evidence too. `now` is the period's end, so a re-run later gives
the same verdicts for the same files.
"""

from __future__ import annotations

import io
import shlex
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from opentrail.compliance._result import iso
from opentrail.trails import (
    ChainEntry,
    LogCheck,
    ValidateOptions,
    ValidateReport,
    Validator,
)

__all__ = ["TrailValidation", "validate_trail"]


@dataclass
class TrailValidation:
    arn: str
    command: str
    account: str | None = None  # one account's chain of an organization trail
    exit_code: int | None = None
    error: str | None = None
    digests: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    output: str = ""

    @property
    def account_id(self) -> str:
        """The account whose chain this run read: the trail's own unless given."""
        return self.account or self.arn.split(":")[4]

    @property
    def invalid(self) -> int:
        return (sum(int(d["invalid"]) for d in self.digests)
                + sum(1 for f in self.logs if f["problem"]))


class _Recording(ValidateReport):
    def __init__(self, sink: TrailValidation, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sink = sink
        self.after_end = False

    def digest(self, entry: ChainEntry, *, backfill: bool = False) -> None:
        d = entry.digest
        # A digest that starts at or after the period's end is about the next period:
        # left out with its log files, so a later re-run records the same rows.
        self.after_end = d is not None and d.start >= self.end
        if self.after_end:
            return
        super().digest(entry, backfill=backfill)
        self.sink.digests.append({
            "trailARN": self.trail_arn, "accountId": self.sink.account_id,
            "bucket": entry.bucket, "key": entry.key, "backfill": backfill,
            "problem": entry.problem, "notice": entry.notice,
            "invalid": entry.invalid, "missing": entry.missing,
            "start": iso(d.start) if d else None, "end": iso(d.end) if d else None,
            "sha256": d.sha256 if d else None,
            "previousDigestHashValue": d.doc.get("previousDigestHashValue") if d else None,
            "digestPublicKeyFingerprint": d.fingerprint if d else None})

    def log(self, check: LogCheck) -> None:
        if self.after_end:
            return
        super().log(check)
        self.sink.logs.append({"trailARN": self.trail_arn, "accountId": self.sink.account_id,
                               "bucket": check.bucket, "key": check.key,
                               "problem": check.problem})


class _Validator(Validator):
    def __init__(self, sink: TrailValidation, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sink = sink

    def make_report(self, out: TextIO, err: TextIO) -> ValidateReport:
        return _Recording(self.sink, self.options.trail_arn, self.options.start, self.end,
                          verbose=True, out=out, err=err)


def _command(arn: str, start: datetime, end: datetime, options: dict[str, Any]) -> str:
    args = ["opentrail", "validate-logs", "--trail-arn", arn, "--start-time", iso(start),
            "--end-time", iso(end), "--endpoint-url", str(options["endpoint_url"])]
    if options.get("account_id"):
        args += ["--account-id", str(options["account_id"])]
    if options.get("local_folder"):
        args += ["--local-folder", str(options["local_folder"])]
    elif options.get("s3_endpoint_url"):
        args += ["--s3-endpoint-url", str(options["s3_endpoint_url"])]
    return shlex.join(args)


def validate_trail(arn: str, start: datetime, end: datetime, options: dict[str, Any],
                   session: Any) -> TrailValidation:
    """One trail's validate-logs run over [start, end]; for an organization trail, of the
    chain of `options["account_id"]` (validate-logs' --account-id)."""
    sink = TrailValidation(arn, _command(arn, start, end, options), options.get("account_id"))
    local = options.get("local_folder")
    run_options = ValidateOptions(
        trail_arn=arn, start=start, end=end, endpoint_url=str(options["endpoint_url"]),
        s3_endpoint_url=options.get("s3_endpoint_url"),
        local_folder=Path(local) if local else None, verbose=True,
        account_id=options.get("account_id"))
    out, err = io.StringIO(), io.StringIO()
    try:
        sink.exit_code = _Validator(sink, run_options, session=session, now=end).run(out, err)
    except Exception as exc:  # the run failed: an ERROR result, never a pass
        sink.error = f"{type(exc).__name__}: {exc}"
    sink.output = out.getvalue() + err.getvalue()
    return sink
