"""The public face of opentrail.insights, pinned."""

from __future__ import annotations

from opentrail import insights


def test_exported_members() -> None:
    assert set(insights.__all__) == {
        "BASELINE_MINUTES", "CALL_RATE", "ERROR_RATE", "WINDOWS", "Baseline", "CounterStore",
        "Episode", "Gate", "InsightsEngine", "InsightsStore", "Params", "SeriesDetector",
        "SeriesKey",
        "Transition", "detect_series", "fit_baseline", "insight_record", "is_write",
        "lower_score", "minute_text", "start_engine_thread", "upper_score",
    }
    assert all(hasattr(insights, name) for name in insights.__all__)
