"""Checks on the server's health log (compliance/_health.py): OT-08 (delivery errors),
OT-09 (hourly heartbeat), OT-18 (clock), OT-22 (verifier runs).

A period before the health log existed has no samples: those checks then FAIL and say
that the facts were not recorded, never PASS on silence.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from opentrail.compliance._alerting import alerting_rules
from opentrail.compliance._checks_logging import lookup_command
from opentrail.compliance._evidence import Evidence, event_time, row_of
from opentrail.compliance._result import CheckResult, iso

__all__ = ["ot08", "ot09", "ot18", "ot22"]

MAX_ERROR_SECONDS = 1.0
SYNCED_SHARE = 0.999


def _internal_cmd(evidence: Evidence, name: str) -> str:
    return (lookup_command(evidence, "EventName", name) + " --event-category internal")


def _hours_with(evidence: Evidence, records: list[dict[str, Any]]) -> list[str]:
    """Hours of the period (ISO starts) without any of `records`."""
    p = evidence.period
    seen = {int((event_time(r) - p.start).total_seconds() // 3600) for r in records}
    return [iso(p.start + timedelta(hours=h)) for h in range(p.hours) if h not in seen]


def ot08(evidence: Evidence) -> CheckResult:
    rows = _delivery_errors(evidence)
    tolerance = evidence.profile.error_tolerance_seconds
    long = [r for r in rows if r["durationSeconds"] > tolerance]
    silent = [r for r in long if not r["alertedBy"]]
    samples = evidence.internal_named("ClockSample")
    counts = {"errors": len(rows), "openLongerThanHour": len(long), "unalerted": len(silent),
              "healthSamples": len(samples)}
    cmd = _internal_cmd(evidence, "DeliveryError")
    params = {"maxOpenSeconds": tolerance, "deliveryLag": "not measured"}
    if silent:
        return CheckResult("OT-08", "FAIL", f"{len(silent)} delivery error(s) stayed open "
                           f"longer than {tolerance} s and no event rule alerted on them; "
                           f"first: {silent[0]['trailARN']} ({silent[0]['error']}).",
                           counts, rows, cmd, params)
    if long:
        return CheckResult("OT-08", "WARN", f"{len(long)} delivery error(s) stayed open "
                           f"longer than {tolerance} s; event rules alerted on each (first: "
                           f"{', '.join(long[0]['alertedBy'])}).", counts, rows, cmd, params)
    if not samples:
        return CheckResult("OT-08", "FAIL", "The health log holds no samples for the period, "
                           "so delivery errors were not watched.", counts, rows, cmd, params)
    return CheckResult("OT-08", "PASS", f"{len(rows)} delivery error(s), none open longer "
                       f"than {tolerance} s; the health log watched delivery all period.",
                       counts, rows, cmd, params)


def _delivery_errors(evidence: Evidence) -> list[dict[str, Any]]:
    """Each DeliveryError with its DeliveryRecovered (or still open at the period's end),
    and how long it was open within the period; errors open for no time are left out."""
    p = evidence.period
    open_: dict[tuple[str, str], dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    for r in sorted(evidence.internal, key=lambda r: (r["eventTime"], r["eventID"])):
        d, name = r.get("serviceEventDetails") or {}, r.get("eventName")
        key = (str(d.get("trailARN")), str(d.get("kind")))
        if name == "DeliveryError" and key not in open_:
            open_[key] = {**row_of(r), "trailARN": key[0], "kind": key[1],
                          "error": d.get("error"), "start": r["eventTime"], "end": None,
                          "alertedBy": alerting_rules(evidence, r)}
        elif name == "DeliveryRecovered" and key in open_:
            rows.append({**open_.pop(key), "end": r["eventTime"]})
    rows.extend(open_.values())
    for row in rows:
        end = datetime.fromisoformat((row["end"] or iso(p.end)).replace("Z", "+00:00"))
        start = datetime.fromisoformat(row["start"].replace("Z", "+00:00"))
        row["durationSeconds"] = int((end - max(start, p.start)).total_seconds())
    return [r for r in rows if r["durationSeconds"] > 0]


def ot09(evidence: Evidence) -> CheckResult:
    samples = evidence.internal_named("ClockSample")
    silent = _hours_with(evidence, samples)
    counts = {"hours": evidence.period.hours, "silentHours": len(silent),
              "serverHeartbeats": len(samples)}
    rows = [{"hour": h, "source": "opentrail server"} for h in silent]
    cmd = _internal_cmd(evidence, "ClockSample")
    if silent:
        return CheckResult("OT-09", "FAIL", f"{len(silent)} hour(s) without a server "
                           f"heartbeat, from {silent[0]}.", counts, rows, cmd)
    return CheckResult("OT-09", "WARN", "The server recorded a heartbeat every hour; other "
                       "sources' heartbeats (SourceHeartbeat) are not recorded yet, so their "
                       "silence is MANUAL.", counts, rows, cmd)


def ot18(evidence: Evidence) -> CheckResult:
    samples = evidence.internal_named("ClockSample")
    interval = int(evidence.system.get("healthSampleInterval") or 300)
    expected = max(1, int((evidence.period.end - evidence.period.start).total_seconds())
                   // interval)
    synced = [r for r in samples if (r.get("serviceEventDetails") or {}).get("synchronized")]
    errors = [float(e) for r in samples
              if (e := (r.get("serviceEventDetails") or {}).get("maxErrorSeconds")) is not None]
    rows = [row_of(r, **(r.get("serviceEventDetails") or {})) for r in samples]
    share = len(synced) / len(samples) if samples else 0.0
    counts = {"samples": len(samples), "expected": expected, "synchronized": len(synced),
              "synchronizedShare": round(share, 6), "maxErrorSeconds": max(errors, default=None)}
    params = {"sampleIntervalSeconds": interval, "minSynchronizedShare": SYNCED_SHARE,
              "maxErrorSeconds": MAX_ERROR_SECONDS}
    cmd = _internal_cmd(evidence, "ClockSample")
    problems = []
    if len(samples) < expected * 0.95:
        problems.append(f"{len(samples)} clock samples where {expected} were due")
    if samples and share < SYNCED_SHARE:
        problems.append(f"the clock was synchronised in {share:.1%} of samples")
    if errors and max(errors) > MAX_ERROR_SECONDS:
        problems.append(f"the kernel's maximum clock error reached {max(errors)} s")
    if problems:
        return CheckResult("OT-18", "FAIL", "; ".join(problems).capitalize() + ".", counts,
                           rows, cmd, params)
    return CheckResult("OT-18", "PASS", f"{len(samples)} clock samples, synchronised in "
                       f"{share:.1%}, error at most {max(errors, default=0)} s. The NTP design "
                       "itself is MANUAL.", counts, rows, cmd, params)


def _failed(details: dict[str, Any]) -> bool:
    """A background run (trail `result`, `ledger.result`) or a report's run (`results`
    per check) that found a problem."""
    bad = ("FAIL", "ERROR")
    ledger = details.get("ledger") or {}
    results = details.get("results") or {}
    return (details.get("result") in bad or ledger.get("result") in bad
            or any(v in bad for v in results.values()))


def ot22(evidence: Evidence) -> CheckResult:
    runs = evidence.internal_named("VerifierRun")
    missed = _hours_with(evidence, runs)
    rows = [row_of(r, **(r.get("serviceEventDetails") or {}), alertedBy=alerting_rules(
        evidence, r) if _failed(r.get("serviceEventDetails") or {}) else None) for r in runs]
    failed = [r for r in rows if _failed(r)]
    alerted = [r for r in failed if r["alertedBy"]]
    counts = {"hours": evidence.period.hours, "verifierRuns": len(runs),
              "hoursWithoutRun": len(missed), "failedRuns": len(failed),
              "failedRunsAlerted": len(alerted)}
    cmd = _internal_cmd(evidence, "VerifierRun")
    if missed:
        return CheckResult("OT-22", "FAIL", f"{len(missed)} of {evidence.period.hours} hour(s) "
                           "had no verifier run: run the server with --verifier-interval "
                           "3600 (the default) or schedule reports hourly.", counts, rows, cmd)
    if failed:
        first = failed[0]
        return CheckResult("OT-22", "FAIL", f"{len(failed)} verifier run(s) found problems, "
                           f"first at {first['eventTime']}"
                           + (f" on {first['trailARN']}" if first.get("trailARN") else "")
                           + f"; event rules alerted on {len(alerted)} of them.", counts, rows,
                           cmd)
    return CheckResult("OT-22", "PASS", "A verifier ran and logged its result every hour, "
                       "and every run passed.", counts, rows, cmd)
