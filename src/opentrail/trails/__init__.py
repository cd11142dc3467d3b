"""Trails: configuration (TrailStore), event selectors, and delivery of log files and digests.

See docs/design/contracts.md, section "trails/ and storage/", and docs/trails.md.
"""

from opentrail.trails._delivery import Delivery, DeliveryMoved
from opentrail.trails._delivery_rows import DeliveryRows, DeliveryTx
from opentrail.trails._model import Trail, TrailStatus
from opentrail.trails._names import TrailRef, check_trail_name, parse_trail_ref
from opentrail.trails._record import DeliveredObject, delivered_objects
from opentrail.trails._selectors import (
    check_advanced_selectors,
    check_event_selectors,
    check_insight_selectors,
    matches_advanced,
    selects,
)
from opentrail.trails._signing import SigningKeys
from opentrail.trails._signing_rows import StoredKey
from opentrail.trails._store import MAX_TRAILS_PER_REGION, TrailStore, trail_arn
from opentrail.trails._validate import ValidateOptions, Validator, parse_cli_time
from opentrail.trails._validate_chain import ChainEntry
from opentrail.trails._validate_keys import local_fetcher
from opentrail.trails._validate_logfile import LogCheck
from opentrail.trails._validate_report import Report as ValidateReport

__all__ = [
    "MAX_TRAILS_PER_REGION",
    "ChainEntry",
    "DeliveredObject",
    "Delivery",
    "DeliveryMoved",
    "DeliveryRows",
    "DeliveryTx",
    "LogCheck",
    "SigningKeys",
    "StoredKey",
    "Trail",
    "TrailRef",
    "TrailStatus",
    "TrailStore",
    "ValidateOptions",
    "ValidateReport",
    "Validator",
    "check_advanced_selectors",
    "check_event_selectors",
    "check_insight_selectors",
    "check_trail_name",
    "delivered_objects",
    "local_fetcher",
    "matches_advanced",
    "parse_cli_time",
    "parse_trail_ref",
    "selects",
    "trail_arn",
]
