"""The public face of opentrail.trails that trail management promises (contracts.md)."""

from __future__ import annotations

from opentrail import trails

MANAGEMENT = {
    "MAX_TRAILS_PER_REGION", "Trail", "TrailRef", "TrailStatus", "TrailStore",
    "check_advanced_selectors", "check_event_selectors", "check_insight_selectors",
    "check_trail_name", "parse_trail_ref", "selects", "trail_arn",
}


def test_management_names_are_exported() -> None:
    assert set(trails.__all__) >= MANAGEMENT
    assert all(hasattr(trails, name) for name in trails.__all__)
    assert len(set(trails.__all__)) == len(trails.__all__)
