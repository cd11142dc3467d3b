"""The public face of opentrail.detect, pinned."""

from __future__ import annotations

from opentrail import detect


def test_exported_members() -> None:
    assert set(detect.__all__) == {
        "DETECT_SOURCE", "FINDING_EVENT", "STATES", "Detector", "Finding", "FindingStore",
        "Publisher", "Rejection", "Replay", "Rule", "RuleSet", "Source", "SqliteFindingStore",
        "StoredFinding", "Unsupported", "begin", "finding_of", "is_finding", "load_rules",
        "open_ledger", "parse_rules", "replay", "run_detector_process", "source_of",
    }
    assert all(hasattr(detect, name) for name in detect.__all__)
