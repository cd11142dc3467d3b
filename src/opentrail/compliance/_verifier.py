"""The background verifier: OT-03/04 for every trail with validation on, and OT-05 for
the ledger, run by the server every `interval` seconds, each run logged as a
`VerifierRun` internal event (spec compliance.md OT-22: "ran hourly, logged results").

Per trail it runs the same validator as `opentrail validate-logs` (trails/_validate*)
over the last two intervals, with the server's own storage and keys; for the ledger it
checks that the newest signed checkpoint extends the one the previous run saw (a
consistency proof from the tree). A run's result is PASS or FAIL with the validator's
summary, so a report a year later shows when tampering was first seen.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opentrail.clock import Clock
from opentrail.events import internal_record, parse_record
from opentrail.ledger import Checkpointer, LedgerWriter, ProofError, verify_consistency
from opentrail.trails import Trail, TrailStore, ValidateOptions, Validator

__all__ = ["BackgroundVerifier"]

log = logging.getLogger(__name__)

Options = Callable[[Trail, datetime], ValidateOptions]
Keys = Callable[[Trail], Any]


@dataclass
class _Seen:
    size: int = 0
    root: bytes = b""


class BackgroundVerifier:
    def __init__(self, writer: LedgerWriter, clock: Clock, trails: TrailStore,
                 checkpoints: Checkpointer | None, *, options: Options, keys: Keys,
                 account: str, region: str, interval: float) -> None:
        self._writer, self._clock, self._trails = writer, clock, trails
        self._checkpoints, self._options, self._keys = checkpoints, options, keys
        self._account, self._region, self.interval = account, region, interval
        self._seen = _Seen()

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            try:
                self.verify_once()
            except Exception:  # a failed run must not end the verifier
                log.exception("verifier: a run failed")

    def verify_once(self) -> int:
        now = self._clock.now()
        ledger = self._ledger()
        records = []
        for trail in self._trails.list(None):
            if trail.log_file_validation_enabled:
                details = {**self._trail(trail, now), "ledger": ledger}
                records.append(internal_record("VerifierRun", trail.account,
                                               trail.home_region, details, now=now))
        records.append(internal_record("VerifierRun", self._account, self._region,
                                       {"ledger": ledger}, now=now))
        parsed = [parse_record(r, default_account=self._account, default_region=self._region)
                  for r in records]
        self._writer.submit(parsed).result()
        return len(parsed)

    def _trail(self, trail: Trail, now: float) -> dict[str, Any]:
        start = datetime.fromtimestamp(max(now - 2 * self.interval, trail.created or 0), UTC)
        if trail.status.latest_digest_delivery_time is None:  # nothing signed yet
            return {"trailARN": trail.arn, "result": "N/A", "reason": "no digest delivered yet"}
        out, err = io.StringIO(), io.StringIO()
        try:
            code = Validator(self._options(trail, start), keys=self._keys(trail),
                             now=datetime.fromtimestamp(now, UTC)).run(out, err)
        except Exception as exc:  # storage down: a failed run, said so
            return {"trailARN": trail.arn, "result": "ERROR", "error": str(exc)[:500]}
        summary = [line for line in out.getvalue().splitlines() if "files valid" in line]
        problems = [line for line in err.getvalue().splitlines() if "INVALID" in line]
        return {"trailARN": trail.arn, "result": "PASS" if code == 0 else "FAIL",
                "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "summary": summary,
                "problems": problems[:20]}

    def _ledger(self) -> dict[str, Any]:
        if self._checkpoints is None:
            return {"result": "N/A"}
        latest = self._checkpoints.latest_checkpoint()
        seen, result = self._seen, "PASS"
        try:
            if seen.size and latest.size >= seen.size:
                proof = self._checkpoints.tree.consistency(seen.size, latest.size)
                verify_consistency(seen.size, latest.size, proof, seen.root, latest.root)
            elif seen.size:
                raise ProofError(f"the tree shrank from {seen.size} to {latest.size}")
        except ProofError as exc:
            return {"result": "FAIL", "from": seen.size, "to": latest.size, "error": str(exc)}
        self._seen = _Seen(latest.size, latest.root)
        return {"result": result, "from": seen.size, "to": latest.size}
