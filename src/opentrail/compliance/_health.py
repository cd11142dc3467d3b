"""The server's health log: facts that cannot be rebuilt later, written as they happen.

Every `interval` seconds: a `ClockSample` (the kernel's synchronisation state; one per
account that has a trail, and one in the organization account), and a
look at each trail's status: a `TrailStatusSample` when logging or validation changed
since the last look (and every `STATUS_EVERY`-th look regardless, hourly at the default
5 minutes), a `DeliveryError` when a delivery or digest error appears or changes, a
`DeliveryRecovered` when it clears. Records go through the ledger writer like any
other, so checkpoints cover them; they are internal events (events/_internal.py): out
of trails, Lake stores and default LookupEvents.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from opentrail.clock import Clock
from opentrail.compliance._clock_state import ClockState, read_clock_state
from opentrail.events import internal_record, parse_record
from opentrail.ledger import LedgerWriter
from opentrail.trails import Trail, TrailStore

__all__ = ["STATUS_EVERY", "HealthRecorder"]

log = logging.getLogger(__name__)

STATUS_EVERY = 12  # looks between unconditional trail status samples


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def status_details(trail: Trail) -> dict[str, Any]:
    """GetTrailStatus's facts, with the configuration a report needs beside them."""
    s = trail.status
    return {"trailARN": trail.arn, "isLogging": s.is_logging,
            "logFileValidationEnabled": trail.log_file_validation_enabled,
            "isMultiRegionTrail": trail.is_multi_region_trail,
            "latestDeliveryTime": _iso(s.latest_delivery_time),
            "latestDeliveryError": s.latest_delivery_error,
            "latestDigestDeliveryTime": _iso(s.latest_digest_delivery_time),
            "latestDigestDeliveryError": s.latest_digest_delivery_error,
            "startLoggingTime": _iso(s.start_logging_time),
            "stopLoggingTime": _iso(s.stop_logging_time)}


class HealthRecorder:
    def __init__(self, writer: LedgerWriter, clock: Clock, trails: TrailStore, *,
                 account: str, region: str, interval: float,
                 clock_state: Callable[[], ClockState] = read_clock_state) -> None:
        self._writer, self._clock, self._trails = writer, clock, trails
        self._account, self._region, self.interval = account, region, interval
        self._clock_state = clock_state
        self._looks = 0
        self._seen: dict[str, tuple[bool, bool]] = {}       # arn -> (logging, validation)
        self._errors: dict[tuple[str, str], str] = {}      # (arn, kind) -> open error

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            try:
                self.sample()
            except Exception:  # a failed sample must not end the health log
                log.exception("health: recording a sample failed")

    def sample(self) -> int:
        """One look: the records written (each a whole batch, durable on return)."""
        now = self._clock.now()
        trails = self._trails.list(None)
        clock = self._clock_state().details()
        # One sample per account with a trail (a report reads its own account's), and
        # one in the organization account.
        accounts = sorted({self._account, *(t.account for t in trails)})
        records = [internal_record("ClockSample", account, self._region, clock, now=now)
                   for account in accounts]
        full = self._looks % STATUS_EVERY == 0
        self._looks += 1
        for trail in trails:
            records.extend(self._trail_records(trail, now, full=full))
        parsed = [parse_record(r, default_account=self._account,
                               default_region=self._region) for r in records]
        self._writer.submit(parsed).result()
        return len(parsed)

    def _trail_records(self, trail: Trail, now: float, *, full: bool) -> list[dict[str, Any]]:
        out = []
        state = (trail.status.is_logging, trail.log_file_validation_enabled)
        if full or self._seen.get(trail.arn) != state:
            out.append(self._record("TrailStatusSample", trail, status_details(trail), now))
        self._seen[trail.arn] = state
        for kind, error in (("delivery", trail.status.latest_delivery_error),
                            ("digest", trail.status.latest_digest_delivery_error)):
            key = (trail.arn, kind)
            if error and self._errors.get(key) != error:
                self._errors[key] = error
                out.append(self._record("DeliveryError", trail, {
                    "trailARN": trail.arn, "kind": kind, "error": error}, now))
            elif not error and key in self._errors:
                del self._errors[key]
                out.append(self._record("DeliveryRecovered", trail, {
                    "trailARN": trail.arn, "kind": kind}, now))
        return out

    def _record(self, name: str, trail: Trail, details: dict[str, Any],
                now: float) -> dict[str, Any]:
        return internal_record(name, trail.account, trail.home_region, details, now=now)
