"""The report, line for line in awscli's format (spec 3.4): valid lines on stdout with
--verbose, every INVALID and gap line on stderr followed by a blank line, a summary of
counts on stdout, and the exit code (0 all valid, 1 anything invalid or missing)."""

from __future__ import annotations

from datetime import datetime
from typing import TextIO

from opentrail.trails._validate_chain import ChainEntry
from opentrail.trails._validate_digest import display
from opentrail.trails._validate_logfile import LogCheck

__all__ = ["Report"]


class Report:
    def __init__(self, trail_arn: str, start: datetime, end: datetime, *, verbose: bool,
                 out: TextIO, err: TextIO) -> None:
        self.trail_arn, self.start, self.end = trail_arn, start, end
        self.verbose, self.out, self.err = verbose, out, err
        self.counts = {"digest": [0, 0], "backfill digest": [0, 0], "log": [0, 0]}
        self._found: tuple[datetime, datetime] | None = None
        self._double_spaced = True

    def _status(self, message: str, *, error: bool = False) -> None:
        if error:
            self.err.write(f"{message}\n\n" if self._double_spaced else f"\n{message}\n\n")
            self._double_spaced = True
        elif self.verbose:
            self._double_spaced = False
            self.out.write(f"{message}\n")

    def startup(self) -> None:
        self.out.write(f"Validating log files for trail {self.trail_arn} between "
                       f"{display(self.start)} and {display(self.end)}\n\n")

    def _track(self, start: datetime, end: datetime) -> None:
        low, high = max(start, self.start), min(end, self.end)
        if self._found is None:
            self._found = (low, high)
        else:
            self._found = (min(low, self._found[0]), max(high, self._found[1]))

    def digest(self, entry: ChainEntry, *, backfill: bool = False) -> None:
        tag = "(backfill) " if backfill else ""
        if entry.notice is not None:
            self._status(f"{tag}{entry.notice}", error=True)
            return
        kind = "backfill digest" if backfill else "digest"
        where = f"{tag}Digest file\ts3://{entry.bucket}/{entry.key}"
        if entry.problem is not None:
            self.counts[kind][1] += entry.invalid
            self._status(f"{where}\tINVALID: {entry.problem}", error=True)
            return
        assert entry.digest is not None
        self.notice(where, entry.digest.notice)
        self.counts[kind][0] += 1
        self._track(entry.digest.start, entry.digest.end)
        self._status(f"{where}\tvalid")

    def notice(self, where: str, text: str | None) -> None:
        """An object hidden by a delete marker or replaced in S3: its first (delivered)
        version was validated, so this is not INVALID, but it is always shown."""
        if text is not None:
            self._status(f"{where}\tNOTICE: {text}", error=True)

    def log(self, check: LogCheck) -> None:
        where = f"Log file\ts3://{check.bucket}/{check.key}"
        self.notice(where, check.notice)
        if check.problem is None:
            self.counts["log"][0] += 1
            self._status(f"{where}\tvalid")
        else:
            self.counts["log"][1] += 1
            self._status(f"{where}\tINVALID: {check.problem}", error=True)

    def summary(self) -> None:
        if not self._double_spaced:
            self.out.write("\n")
        self.out.write(f"Results requested for {display(self.start)} to {display(self.end)}\n")
        digests = [self.counts["digest"], self.counts["backfill digest"]]
        if not any(v or i for v, i in digests):
            self.out.write("No digests found\n")
            return
        if self._found is None:
            self.out.write("No valid digests found in range\n")
        else:
            self.out.write(f"Results found for {display(self._found[0])} to "
                           f"{display(self._found[1])}:\n")
        for name, (valid, invalid) in self.counts.items():
            total = valid + invalid
            if total:
                self.out.write(f"\n{valid}/{total} {name} files valid")
                if invalid:
                    self.out.write(f", {invalid}/{total} {name} files INVALID")
        self.out.write("\n")

    @property
    def exit_code(self) -> int:
        return 1 if any(invalid for _valid, invalid in self.counts.values()) else 0
