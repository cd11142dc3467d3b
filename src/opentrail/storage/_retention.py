"""The Object Lock retention every delivered object gets (compliance spec section 7.3).

Settings win (`--object-lock-mode` with `--object-lock-days`); otherwise a bucket whose
Object Lock configuration has a default retention gives its mode and period. Either way
the object is written with an **explicit** mode and retain-until date (delivery time plus
the period, UTC), so the object's lock does not depend on the bucket default staying as
it was. `--require-object-lock` refuses to write where no retention can be set.

A bucket's configuration is read on its first write and again after LOCK_CONFIG_TTL, so
a bucket made WORM while the server runs is noticed without a restart. A bucket whose
configuration cannot be read (a server without the call, or credentials without
s3:GetBucketObjectLockConfiguration) is written without a lock, with a warning, unless
`require` is set.
"""

from __future__ import annotations

import logging
import math
import threading
from datetime import UTC, datetime
from typing import Protocol

from opentrail.clock import Clock, SystemClock
from opentrail.storage._storage import LOCK_MODES, LockConfig, Retention, StorageError

__all__ = ["LOCK_CONFIG_TTL", "RetentionPolicy", "retain_until"]

log = logging.getLogger(__name__)

LOCK_CONFIG_TTL = 300.0
DAY = 86_400.0


class _HasLockConfig(Protocol):
    def lock_config(self, bucket: str) -> LockConfig: ...


def retain_until(now: float, *, days: int | None = None, years: int | None = None) -> float:
    """`now` plus whole days, or plus calendar years (29 February becomes 28), whole seconds."""
    if years:
        start = datetime.fromtimestamp(now, UTC)
        try:
            end = start.replace(year=start.year + years)
        except ValueError:
            end = start.replace(year=start.year + years, day=28)
        return float(math.ceil(end.timestamp()))
    return float(math.ceil(now + (days or 0) * DAY))


class RetentionPolicy:
    """Which retention a put to a bucket gets; one per storage, shared by its threads."""

    def __init__(self, mode: str | None = None, days: int | None = None,
                 require: bool = False, *, clock: Clock | None = None) -> None:
        if mode is not None and mode not in LOCK_MODES:
            raise ValueError(f"Object Lock mode must be COMPLIANCE or GOVERNANCE, not {mode!r}.")
        if (mode is None) != (days is None):
            raise ValueError("An Object Lock mode needs a period in days, and a period a mode.")
        self.mode, self.days, self.require = mode, days, require
        self.clock = clock or SystemClock()
        self._configs: dict[str, tuple[float, LockConfig]] = {}
        self._lock = threading.Lock()

    def config(self, storage: _HasLockConfig, bucket: str) -> LockConfig:
        now = self.clock.now()
        with self._lock:
            cached = self._configs.get(bucket)
        if cached is not None and now - cached[0] < LOCK_CONFIG_TTL:
            return cached[1]
        try:
            config = storage.lock_config(bucket)
        except StorageError as exc:
            if self.require:
                raise
            # A server without the call, or credentials without
            # s3:GetBucketObjectLockConfiguration: deliver as before, unlocked.
            log.warning("bucket %s: cannot read its Object Lock configuration (%s); "
                        "objects are written without a lock", bucket, exc.code)
            config = LockConfig()
        if cached is None or cached[1] != config:
            log.info("bucket %s: Object Lock %s", bucket, _describe(config))
        with self._lock:
            self._configs[bucket] = (now, config)
        return config

    def retention(self, storage: _HasLockConfig, bucket: str) -> Retention | None:
        """The retention for an object written now, None for none; StorageError when
        `require` is set and the bucket cannot lock it."""
        now = self.clock.now()
        if self.mode is not None and self.days is not None:
            if self.require and not self.config(storage, bucket).enabled:
                raise _not_enabled(bucket)
            return Retention(self.mode, retain_until(now, days=self.days))
        config = self.config(storage, bucket)
        if config.mode and (config.days or config.years):
            return Retention(config.mode, retain_until(now, days=config.days,
                                                       years=config.years))
        if self.require:
            raise _not_enabled(bucket) if not config.enabled else StorageError(
                "InvalidRequest", f"Bucket {bucket} has Object Lock but no default retention, "
                "and no --object-lock-mode/--object-lock-days are set: OpenTrail cannot "
                "choose a retention period (--require-object-lock).")
        return None


def _not_enabled(bucket: str) -> StorageError:
    return StorageError("ObjectLockConfigurationNotFoundError",
                        f"Bucket {bucket} has no Object Lock configuration; "
                        "--require-object-lock refuses to deliver to it.")


def _describe(config: LockConfig) -> str:
    if not config.enabled:
        return "off"
    if config.mode is None:
        return "on, no default retention"
    period = f"{config.days} days" if config.days else f"{config.years} years"
    return f"on, default {config.mode} for {period}"
