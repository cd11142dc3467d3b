"""Scoring detections against labelled anomaly windows, and the naive reference detector.

A detection is a span [start, end) with the minute it was decided. It is a true positive
if it overlaps a labelled window of the same series (extended by GRACE minutes, since an
Insight may end a little after the injected change); a labelled window is found if any
detection overlaps it. Delay = minutes from the labelled onset to the end of the minute
whose counts decided the Start (a burst caught on its first minute has delay 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.insights_traffic import Anomaly, FloatArray
from opentrail.insights import detect_series

__all__ = ["Detection", "Scores", "naive_detect", "opentrail_detect", "score"]

GRACE = 10
WEEK = 7 * 1440
QUIET = 5  # the naive detector gets the same End hysteresis as ours


@dataclass(frozen=True)
class Detection:
    series: str
    start: int
    end: int
    decided: int


@dataclass(frozen=True)
class Scores:
    detections: int
    true_positives: int
    labelled: int
    found: int
    precision: float
    recall: float
    f1: float
    median_delay: float
    p90_delay: float
    false_alarms_per_100_api_days: float


def opentrail_detect(name: str, counts: FloatArray, first_minute: int) -> list[Detection]:
    found = detect_series(counts, first_minute, analyse_from=first_minute + WEEK)
    ends = {t.episode.start: t.episode.end for t in found if t.state == "End"}
    out = []
    for t in found:
        if t.state == "Start":  # a Start carries its episode as it was when it started
            ep = t.episode
            end = ends.get(ep.start) or first_minute + len(counts)
            out.append(Detection(name, ep.start - first_minute, end - first_minute,
                                 ep.decided - first_minute))
    return out


def naive_detect(name: str, counts: FloatArray, k: float = 3.0) -> list[Detection]:
    """Flag a minute outside mean +/- k sigma of the trailing 7 days; merge flagged
    minutes until QUIET normal minutes pass."""
    c = np.concatenate(([0.0], np.cumsum(counts)))
    c2 = np.concatenate(([0.0], np.cumsum(counts ** 2)))
    t = np.arange(WEEK, len(counts))
    mean = (c[t] - c[t - WEEK]) / WEEK
    std = np.sqrt(np.maximum((c2[t] - c2[t - WEEK]) / WEEK - mean ** 2, 0))
    flagged = np.abs(counts[t] - mean) > k * std
    out, open_at, last = [], -1, -1
    for i in np.flatnonzero(flagged):
        minute = int(t[i])
        if open_at >= 0 and minute - last > QUIET:
            out.append(Detection(name, open_at, last + 1, open_at))
            open_at = -1
        if open_at < 0:
            open_at = minute
        last = minute
    if open_at >= 0:
        out.append(Detection(name, open_at, last + 1, open_at))
    return out


def score(detections: list[Detection], labels: list[Anomaly], api_days: float) -> Scores:
    by_series: dict[str, list[Anomaly]] = {}
    for a in labels:
        by_series.setdefault(a.series, []).append(a)
    tp = 0
    first_hit: dict[Anomaly, int] = {}
    for d in detections:
        hits = [a for a in by_series.get(d.series, [])
                if d.start < a.end + GRACE and d.end > a.start]
        tp += bool(hits)
        for a in hits:
            delay = max(d.decided + 1 - a.start, 0)
            first_hit[a] = min(first_hit.get(a, delay), delay)
    precision = tp / len(detections) if detections else 1.0
    recall = len(first_hit) / len(labels) if labels else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    delays = sorted(first_hit.values())
    return Scores(len(detections), tp, len(labels), len(first_hit), precision, recall, f1,
                  float(np.median(delays)) if delays else float("nan"),
                  float(np.percentile(delays, 90)) if delays else float("nan"),
                  100 * (len(detections) - tp) / api_days)
