"""Review checks: OT-19 (detectors ran and findings were reviewed) and OT-20 (alerting).

Insights exist today; event rules and Sigma findings come with other work. Their absence
is reported as such: a detector that is not configured is a FAIL, a review that is not
recorded is a WARN naming what would complete it.
"""

from __future__ import annotations

from opentrail.compliance._checks_logging import lookup_command
from opentrail.compliance._evidence import Evidence, row_of
from opentrail.compliance._result import CheckResult

__all__ = ["ot19", "ot20"]


def ot19(evidence: Evidence) -> CheckResult:
    with_insights = sorted(t["TrailARN"] for t in evidence.trails
                           if t.get("HasInsightSelectors"))
    rows = [row_of(r, insightType=(r.get("insightDetails") or {}).get("insightType"),
                   state=(r.get("insightDetails") or {}).get("state"))
            for r in evidence.insights]
    runs: list[object] = []  # DetectorRun records: not written yet
    counts = {"trailsWithInsights": len(with_insights), "insightsEvents": len(rows),
              "detectorRuns": len(runs), "ruleFindings": None}
    cmd = lookup_command(evidence, "EventName", "ApiCallRateInsight").replace(
        " --lookup-attributes AttributeKey=EventName,AttributeValue=ApiCallRateInsight",
        " --event-category insight")
    if not with_insights:
        return CheckResult("OT-19", "FAIL", "No trail has Insights selectors and no event "
                           "rule or Sigma detector is evidenced: nothing reviewed the events "
                           "automatically.", counts, rows, cmd)
    return CheckResult("OT-19", "WARN", f"Insights are on for {len(with_insights)} trail(s) "
                       f"({len(rows)} Insights events in the period); daily runs "
                       "(DetectorRun) and reviews of findings (AlertDispositioned) are not "
                       "recorded yet, so the daily review is MANUAL.", counts, rows, cmd)


def ot20(evidence: Evidence) -> CheckResult:
    return CheckResult("OT-20", "N/A", "Not evidenced: OpenTrail holds no alert rules or "
                       "notification records here yet (event rules complete this check).",
                       {}, [], "aws events list-rules --endpoint-url "
                       f"{evidence.source.endpoint}")
