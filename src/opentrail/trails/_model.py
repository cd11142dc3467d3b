"""The trail: what it delivers, where, and its logging state.

Shared shape between trail management (the API's CreateTrail, PutEventSelectors, ...)
and delivery (log files and digests). `TrailStore` keeps trails in trails.db.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Trail", "TrailStatus"]


@dataclass
class TrailStatus:
    """Logging and delivery state, as GetTrailStatus reports it (epoch seconds)."""

    is_logging: bool = False
    start_logging_time: float | None = None
    stop_logging_time: float | None = None
    latest_delivery_time: float | None = None
    latest_delivery_attempt_time: float | None = None
    latest_delivery_error: str | None = None
    latest_digest_delivery_time: float | None = None
    latest_digest_delivery_error: str | None = None


@dataclass
class Trail:
    name: str
    account: str
    home_region: str
    s3_bucket_name: str
    s3_key_prefix: str | None = None
    sns_topic_name: str | None = None
    include_global_service_events: bool = True
    is_multi_region_trail: bool = False
    log_file_validation_enabled: bool = False
    is_organization_trail: bool = False
    cloud_watch_logs_log_group_arn: str | None = None
    cloud_watch_logs_role_arn: str | None = None
    kms_key_id: str | None = None
    # Exactly one of these is in force; None/None means the default (all management).
    event_selectors: list[dict[str, Any]] | None = None
    advanced_event_selectors: list[dict[str, Any]] | None = None
    insight_selectors: list[dict[str, Any]] = field(default_factory=list)
    tags: list[dict[str, str]] = field(default_factory=list)
    status: TrailStatus = field(default_factory=TrailStatus)
    created: float = 0.0

    @property
    def arn(self) -> str:
        return f"arn:aws:cloudtrail:{self.home_region}:{self.account}:trail/{self.name}"

    def covers_region(self, region: str) -> bool:
        return self.is_multi_region_trail or region == self.home_region
