"""Server-rendered SVG charts: geometry is computed here, the markup is in charts.html.

No chart library: an hourly bar chart and ranked horizontal bars are a few paths and
rectangles, and drawing them on the server keeps the page working without JavaScript.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

__all__ = ["Bars", "HourlyChart", "RateChart", "hourly_chart", "ranked_bars", "rate_chart"]

WIDTH, HEIGHT = 960, 200
LEFT, BOTTOM, TOP = 48, 24, 8


@dataclass(frozen=True)
class HourlyChart:
    width: int
    height: int
    events_path: str
    errors_path: str
    y_ticks: list[tuple[float, str]]  # (y, label)
    x_ticks: list[tuple[float, str]]  # (x, label)
    base: float
    left: int
    summary: str  # text alternative for screen readers


@dataclass(frozen=True)
class Bars:
    rows: list[tuple[str, int, float, float]]  # (label, value, y, bar width)
    width: int
    height: int
    label_width: int


def _nice(peak: float) -> int:
    """A round axis maximum at or above peak: 1, 2, 5 times a power of ten."""
    step = 1
    while True:
        for m in (1, 2, 5):
            if step * m >= peak:
                return step * m
        step *= 10


def _path(values: list[int], top: int, base: float, step: float) -> str:
    scale = (base - TOP) / top
    parts = []
    for i, v in enumerate(values):
        if v:
            x, h = LEFT + i * step, v * scale
            parts.append(f"M{x:.2f},{base:.2f}v{-h:.2f}h{max(step - 0.6, 0.6):.2f}"
                         f"v{h:.2f}z")
    return "".join(parts)


def _x_ticks(lo: int, n: int, step: float) -> list[tuple[float, str]]:
    every = max(1, n // 8)
    fmt = "%H:%M" if n <= 48 else "%b %d"
    if n > 48:  # label midnights only
        every = 24 * max(1, n // (24 * 8))
    ticks = []
    for i in range(n):
        when = lo + i * 3600
        if (n > 48 and when % 86400 == 0 and (when // 86400) % (every // 24) == 0) or (
                n <= 48 and i % every == 0):
            ticks.append((LEFT + i * step, time.strftime(fmt, time.gmtime(when))))
    return ticks


def hourly_chart(lo: int, counts: list[int], errors: list[int]) -> HourlyChart:
    n = max(len(counts), 1)
    top = _nice(max([*counts, 1]))
    base = HEIGHT - BOTTOM
    step = (WIDTH - LEFT - 4) / n
    y_ticks = [(base - (base - TOP) * f, f"{round(top * f):,}") for f in (0, 0.5, 1)]
    summary = (f"{sum(counts):,} events and {sum(errors):,} errors over {len(counts)} "
               f"hours; the busiest hour had {max([*counts, 0]):,} events.")
    return HourlyChart(WIDTH, HEIGHT, _path(counts, top, base, step),
                       _path(errors, top, base, step), y_ticks, _x_ticks(lo, n, step),
                       base, LEFT, summary)


def ranked_bars(items: list[tuple[str, int]], width: int = 460,
                label_width: int = 200) -> Bars:
    row = 26
    peak = max([v for _, v in items] or [1])
    room = width - label_width - 70
    rows = [(label, value, float(i * row), max(2.0, room * value / peak))
            for i, (label, value) in enumerate(items)]
    return Bars(rows, width, max(row * len(items), row), label_width)


@dataclass(frozen=True)
class RateChart:
    width: int
    height: int
    rate_path: str
    baseline_y: float
    shade: tuple[float, float] | None  # x and width of the anomaly window
    y_ticks: list[tuple[float, str]]
    x_ticks: list[tuple[float, str]]
    base: float
    left: int
    summary: str


def rate_chart(lo_minute: int, counts: list[int], baseline: float,
               window: tuple[int, int]) -> RateChart:
    """Calls per minute as a line, the baseline average dashed, the Insight shaded.

    `window` is the Insight's (first, last) minute as indexes into counts."""
    width, height = 960, 180
    n = max(len(counts), 1)
    top = _nice(max(max(counts, default=0), baseline, 1.0))
    base = height - BOTTOM
    step = (width - LEFT - 4) / n
    scale = (base - TOP) / top
    points = " ".join(f"{LEFT + (i + 0.5) * step:.1f},{base - v * scale:.1f}"
                      for i, v in enumerate(counts))
    first, last = window
    shade = (LEFT + first * step, max(step, (last - first + 1) * step))
    ticks = [(LEFT + i * step, time.strftime("%H:%M", time.gmtime((lo_minute + i) * 60)))
             for i in range(0, n, max(1, n // 8))]
    summary = (f"Per-minute calls over {n} minutes; baseline {baseline:.2f} per minute; "
               f"peak {max([*counts, 0])} per minute during the Insight.")
    return RateChart(width, height, f"M{points}" if points else "", base - baseline * scale,
                     shade, [(base - (base - TOP) * f, f"{top * f:g}") for f in (0, 0.5, 1)],
                     ticks, base, LEFT, summary)
