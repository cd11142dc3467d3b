"""The server's health log: facts that cannot be rebuilt later, written as they happen.

Every `interval` seconds: a `ClockSample` (the kernel's synchronisation state; one per
account that has a trail, and one in the organization account), and a look at each
trail's status: a `TrailStatusSample` when logging or validation changed since the last
look (and every `STATUS_EVERY`-th look regardless, hourly at the default 5 minutes), a
`DeliveryError` when a delivery or digest error appears or changes, a
`DeliveryRecovered` when it clears, a `KeyRotated` when a digest signing key appears
(with its file's mode when keys are files; its eventID derived from the key, so when
every node of a cluster sees a new key the ledger keeps one record), and with each
unconditional status sample a `DetectorRun` per detector (the Sigma detector, Insights:
running or not, rules loaded, how far behind the ledger). At start, `SettingChanged`
for every setting that differs from the last start's (DATA_DIR/settings.last.json).
Records go through the ledger writer like any other, so checkpoints cover them; they
are internal events (events/_internal.py): out
of trails, Lake stores and default LookupEvents.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from opentrail.backends import redact_url
from opentrail.clock import Clock
from opentrail.compliance._clock_state import ClockState, read_clock_state
from opentrail.events import internal_record, parse_record
from opentrail.ledger import LedgerWriter
from opentrail.trails import StoredKey, Trail, TrailStore

__all__ = ["SETTINGS_SNAPSHOT", "STATUS_EVERY", "HealthRecorder"]

log = logging.getLogger(__name__)

STATUS_EVERY = 12  # looks between unconditional trail status samples
SETTINGS_SNAPSHOT = "settings.last.json"
_KEY_EVENTS = uuid.UUID("5b0c1f0e-6f70-4e74-9261-696c6b657973")  # KeyRotated eventIDs


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
                 clock_state: Callable[[], ClockState] = read_clock_state,
                 signing_keys: Callable[[], list[StoredKey]] | None = None,
                 detectors: Callable[[], list[dict[str, Any]]] | None = None) -> None:
        self._writer, self._clock, self._trails = writer, clock, trails
        self._account, self._region, self.interval = account, region, interval
        self._clock_state = clock_state
        self._signing_keys = signing_keys
        self._detectors = detectors
        self._keys: set[str] | None = None  # fingerprints seen; None before the first look
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
        if full and self._detectors is not None:
            records.extend(internal_record("DetectorRun", account, self._region, details,
                                           now=now)
                           for details in self._detectors() for account in accounts)
        for details in self._new_keys():
            records.extend(internal_record(
                "KeyRotated", account, self._region, details, now=now,
                event_id=str(uuid.uuid5(_KEY_EVENTS, f"{account}/{details['fingerprint']}")))
                for account in accounts)
        return self._write(records)

    def _write(self, records: list[dict[str, Any]]) -> int:
        parsed = [parse_record(r, default_account=self._account,
                               default_region=self._region) for r in records]
        if parsed:
            self._writer.submit(parsed).result()
        return len(parsed)

    def _new_keys(self) -> list[dict[str, Any]]:
        """Signing keys not seen at the last look; the first look only learns what
        exists (with no key yet, the first one to appear is news)."""
        found = {k.fingerprint: k for k in self._signing_keys()} if self._signing_keys else {}
        fresh = [] if self._keys is None else sorted(set(found) - self._keys)
        self._keys = set(found)
        out = []
        for fingerprint in fresh:
            key = found[fingerprint]
            details = {"region": key.region, "fingerprint": fingerprint,
                       "validFrom": _iso(key.valid_from)}
            if key.file_mode is not None:
                details["fileMode"] = key.file_mode
            out.append(details)
        return out

    def record_settings(self, settings: Iterable[tuple[str, Any]], data_dir: Path,
                        accounts: Iterable[str] = ()) -> int:
        """`SettingChanged` for each setting that differs from the last start's."""
        path = data_dir / SETTINGS_SNAPSHOT
        current = {k: _shown(v if isinstance(v, int | float | str | bool) else str(v))
                   for k, v in settings}
        try:
            previous = json.loads(path.read_text())
        except (OSError, ValueError):
            previous = None
        records: list[dict[str, Any]] = []
        if isinstance(previous, dict):
            now = self._clock.now()
            targets = sorted({self._account, *accounts})
            for name in sorted(current):
                if previous.get(name) != current[name]:
                    records.extend(internal_record("SettingChanged", account, self._region, {
                        "setting": name, "old": previous.get(name), "new": current[name]},
                        now=now) for account in targets)
        written = self._write(records)
        path.write_text(json.dumps(current, sort_keys=True))
        return written

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


_URL_SECRET = re.compile(r"(;(?:token|password)=)[^;]*", re.IGNORECASE)


def _shown(value: int | float | str | bool) -> int | float | str | bool:
    """A setting's value as the ledger may hold it: a URL's password (--database-url,
    --smtp-url) or a Spark Connect token (`sc://host/;token=...`) becomes ***."""
    if not isinstance(value, str) or "://" not in value:
        return value
    return _URL_SECRET.sub(r"\1***", redact_url(value))
