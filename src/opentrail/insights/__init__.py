"""Insights: unusual API call rates and error rates, detected from the ledger.

`InsightsEngine` follows the ledger with a durable cursor, keeps per-minute counters in an
`InsightsStore` (insights.db, or tables every node shares on PostgreSQL), runs a
`SeriesDetector` per (account, region, eventSource, eventName[, errorCode]) and writes
CloudTrail-shaped Insights records back into the ledger. The detector's core
(`detect_series`, `fit_baseline`) also runs on plain count arrays, which is how the
accuracy benchmark drives it. See docs/insights.md.
"""

from opentrail.insights._baseline import BASELINE_MINUTES, WINDOWS, Baseline, fit_baseline
from opentrail.insights._detector import (
    Episode,
    Params,
    SeriesDetector,
    Transition,
    detect_series,
)
from opentrail.insights._engine import Gate, InsightsEngine, is_write, start_engine_thread
from opentrail.insights._record import insight_record, minute_text
from opentrail.insights._score import lower_score, upper_score
from opentrail.insights._store import (
    CALL_RATE,
    ERROR_RATE,
    CounterStore,
    InsightsStore,
    SeriesKey,
)

__all__ = [
    "BASELINE_MINUTES",
    "CALL_RATE",
    "ERROR_RATE",
    "WINDOWS",
    "Baseline",
    "CounterStore",
    "Episode",
    "Gate",
    "InsightsEngine",
    "InsightsStore",
    "Params",
    "SeriesDetector",
    "SeriesKey",
    "Transition",
    "detect_series",
    "fit_baseline",
    "insight_record",
    "is_write",
    "lower_score",
    "minute_text",
    "start_engine_thread",
    "upper_score",
]
