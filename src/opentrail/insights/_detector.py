"""The detector: per-minute counts of one series in, Start and End decisions out.

One code path serves live traffic, imported history and the benchmark: a
`SeriesDetector` walks minutes in order, refitting its `Baseline` at fixed boundaries
(every 10 minutes during a partition's first 2 hours, hourly during its first day, every
6 hours during its first week, then at each UTC midnight) from the 7 days before the
boundary, and scoring trailing windows of 1, 2, 5, 15 and 60 minutes against it. The
refit schedule and the scores depend only on the counts, so running it twice over the
same counts gives the same decisions.

Start: some window is more surprising than both `threshold` and the baseline's own worst
window plus `margin` (deploy-day spikes of last week raise the bar for this week; bursts
are scored against the expected rate times the weekday's surge), and the excess (or
shortfall, for drops) is at least `min_excess` (`min_drop`) calls.
End (hysteresis): the last `quiet_minutes` minutes together look normal again (score
below `end_threshold`); the End time is the first of those minutes. After an End, new
windows start afresh so the tail of an Insight cannot re-open it (no flapping).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from opentrail.insights._baseline import (
    BASELINE_MINUTES,
    WINDOWS,
    Baseline,
    fit_baseline,
    window_sums,
    window_widths,
)
from opentrail.insights._score import FloatArray, lower_score, upper_score

__all__ = [
    "MIN_HISTORY",
    "Episode",
    "Params",
    "SeriesDetector",
    "Transition",
    "detect_series",
    "next_boundary",
    "refit_boundary",
]

MIN_HISTORY = 5  # minutes of history before a partition is analysed at all
DROP_HISTORY = 1440  # a drop is judged only once a full day shows what night looks like
PAD_BEFORE, PAD_AFTER = 120, 30  # minutes masked around an Insight when refitting
MASK_HISTORY = 1440  # only Insights found on a day of history are kept out of later fits
SURGE_EPISODE = 30  # minutes: an Insight upwards of at most this still counts in surges
MAX_WINDOW = max(WINDOWS)
# (refit period, history needed) in minutes: often while history is short, daily after.
SCHEDULE = ((1440, BASELINE_MINUTES), (360, 1440), (60, 120), (10, 0))

CountSource = Callable[[int, int], FloatArray]  # counts for minutes [lo, hi)


@dataclass(frozen=True)
class Params:
    threshold: float = 7.0
    margin: float = 0.5
    ceiling_ratio: float = 1.7
    bar_cap: float = 25.0
    peak_ratio: float = 1.5
    end_threshold: float = 2.0
    quiet_minutes: int = 5
    min_excess: float = 5.0
    min_drop: float = 10.0


@dataclass
class Episode:
    start: int  # first unusual minute (the Start record's eventTime)
    decided: int  # the minute whose counts made it clear
    direction: int  # +1 more calls than usual, -1 fewer
    first_rate: float  # calls/min from the start to the decision
    baseline_average: float
    baseline_minutes: int
    total: float = 0.0  # calls from the start up to the last minute seen
    end: int | None = None  # first normal minute again (the End record's eventTime)

    @property
    def duration(self) -> int:
        return max((self.end or self.decided + 1) - self.start, 1)

    @property
    def average(self) -> float:
        return self.total / self.duration


@dataclass(frozen=True)
class Transition:
    state: str  # "Start" or "End"
    episode: Episode


def refit_boundary(minute: int, history_start: int) -> int:
    """The refit point in force at `minute`: daily after a week, hourly after a day."""
    for period, need in SCHEDULE:
        b = minute - minute % period
        if b - history_start >= need:
            return b
    return minute - minute % 10


def next_boundary(minute: int, history_start: int) -> int:
    current = refit_boundary(minute, history_start)
    for candidate in sorted({minute - minute % p + p for p, _ in SCHEDULE}):
        if refit_boundary(candidate, history_start) != current:
            return candidate
    return minute - minute % 1440 + 1440


@dataclass
class SeriesDetector:
    """Walks one series minute by minute; its state survives a restart (`to_state`)."""

    history_start: int
    done: int  # every minute before this one has been decided
    params: Params = field(default_factory=Params)
    fresh_since: int = 0
    open: Episode | None = None
    # closed Insights (start, end, whether the span still teaches the weekday's surge)
    past: list[tuple[int, int, bool]] = field(default_factory=list)
    _fit: tuple[int, Baseline] | None = None

    def advance(self, counts: CountSource, until: int) -> list[Transition]:
        out: list[Transition] = []
        while self.done < until:
            stop = min(next_boundary(self.done, self.history_start), until)
            boundary = refit_boundary(self.done, self.history_start)
            if boundary - self.history_start >= MIN_HISTORY:
                baseline = self._baseline(counts, boundary)
                out += self._block(counts, baseline, stop)
            self.done = stop
        return out

    def _baseline(self, counts: CountSource, boundary: int) -> Baseline:
        if self._fit is None or self._fit[0] != boundary:
            lo = max(self.history_start, boundary - BASELINE_MINUTES)
            exclude = np.zeros(boundary - lo, dtype=bool)
            surge_exclude = np.zeros(boundary - lo, dtype=bool)
            for start, end, teaches in self.past:
                # padded: onsets are estimated, ramps start early
                span = slice(max(start - PAD_BEFORE - lo, 0), max(end + PAD_AFTER - lo, 0))
                exclude[span] = True
                surge_exclude[span] |= not teaches
            if self.open:  # never learn the ongoing Insight (unpadded: it may be all the
                exclude[max(self.open.start - lo, 0):] = True  # history there is)
                surge_exclude[max(self.open.start - lo, 0):] = True
            self._fit = (boundary, fit_baseline(counts(lo, boundary), lo, exclude,
                                                surge_exclude))
            self.past = [s for s in self.past if s[1] > boundary - BASELINE_MINUTES]
        return self._fit[1]

    def _block(self, counts: CountSource, baseline: Baseline, stop: int) -> list[Transition]:
        lo = max(self.history_start, self.done - MAX_WINDOW + 1)
        block = _Block(counts(lo, stop), lo, baseline, self.params)
        out: list[Transition] = []
        t = self.done
        while t < stop:
            if self.open is None:
                hit = block.first_trigger(t, stop, max(self.fresh_since, lo))
                if hit is None:
                    break
                t, self.open = hit[0], block.episode(*hit)
                out.append(Transition("Start", replace(self.open)))  # as it was at Start
            elif (end := block.end_at(t, self.open)) is not None:
                out.append(Transition("End", self._close(end, block, t)))
            else:
                self.open.total += block.count(t)
            t += 1
        return out

    def _close(self, end: int, block: _Block, t: int) -> Episode:
        episode = self.open
        assert episode is not None
        episode.total += block.count(t) - block.total(end, t + 1)
        episode.end = end
        if episode.baseline_minutes >= MASK_HISTORY:
            # A short burst still shows what this weekday's surges look like: a deploy
            # that alarmed last Tuesday must not vanish from next Tuesday's surge, or
            # every Tuesday alarms again.
            teaches = episode.direction > 0 and end - episode.start <= SURGE_EPISODE
            self.past.append((episode.start, end, teaches))
        self.open, self.fresh_since = None, end
        return episode

    def to_state(self) -> dict[str, Any]:
        return {"history_start": self.history_start, "done": self.done,
                "fresh_since": self.fresh_since, "past": self.past,
                "open": asdict(self.open) if self.open else None}

    @classmethod
    def from_state(cls, state: dict[str, Any], params: Params) -> SeriesDetector:
        opened = Episode(**state["open"]) if state["open"] else None
        return cls(state["history_start"], state["done"], params, state["fresh_since"],
                   opened, [_past(*span) for span in state["past"]])


def _past(start: int, end: int, teaches: bool = False) -> tuple[int, int, bool]:
    """A stored span; states written before surges were taught have no third item."""
    return int(start), int(end), bool(teaches)


class _Block:
    """Window scores for the minutes of one refit block, computed at once with numpy."""

    def __init__(self, counts: FloatArray, first: int, baseline: Baseline,
                 params: Params) -> None:
        self.counts, self.first, self.params = counts, first, params
        minutes = np.arange(first, first + len(counts), dtype=np.int64)
        self.expected = baseline.expected(minutes)
        self.baseline = baseline
        self.hits: list[tuple[int, FloatArray]] = []
        up_bars, down_bars = baseline.bars(minutes, params.threshold, params.ceiling_ratio,
                                           params.margin, params.bar_cap)
        surged = self.expected * baseline.surge(minutes)
        for i, width in enumerate(WINDOWS):
            obs, exp = window_sums(counts, width), window_sums(self.expected, width)
            high = window_sums(surged, width)
            # where less than one call is expected (a sparse API, a night), also beat the
            # busiest such quiet window of the baseline: clumps as large as last week's
            # are normal. Bursts are scored against the weekday's surge (deploy days).
            peak = baseline.peaks[i] if baseline.peaks else 0.0
            up = (obs - exp >= params.min_excess) & (
                (exp >= 1.0) | (obs > peak * params.peak_ratio))
            down = (exp - obs >= params.min_drop) & (baseline.minutes >= DROP_HISTORY)
            # score only the windows that pass the cheap tests: gammainc is the hot spot
            theta = baseline.dispersion(exp, window_widths(len(exp), width))
            up[up] = upper_score(obs[up], high[up], theta[up],
                                 baseline.kappa) >= up_bars[up]
            down[down] = lower_score(obs[down], exp[down], theta[down],
                                     baseline.kappa) >= down_bars[down]
            self.hits.append((width, up.astype(np.float64) - down.astype(np.float64)))

    def count(self, minute: int) -> float:
        return float(self.counts[minute - self.first])

    def total(self, lo: int, hi: int) -> float:
        return float(self.counts[lo - self.first:hi - self.first].sum())

    def first_trigger(self, t: int, stop: int, fresh: int) -> tuple[int, int, int] | None:
        """(minute, width, direction) of the first window that starts an Insight."""
        best: tuple[int, int, int] | None = None
        for width, hit in self.hits:
            start = max(t, fresh + width - 1) - self.first
            found = np.flatnonzero(hit[start:stop - self.first])
            if len(found) and (best is None or start + found[0] < best[0]):
                i = int(start + found[0])
                best = (i, width, int(hit[i]))
        return None if best is None else (best[0] + self.first, best[1], best[2])

    def episode(self, t: int, width: int, direction: int) -> Episode:
        lo = t - width + 1 - self.first
        diff = (self.counts - self.expected)[lo:t - self.first + 1] * direction
        onset = lo + int(np.argmax(diff > 0)) + self.first
        total = self.total(onset, t + 1)
        return Episode(onset, t, direction, total / (t + 1 - onset), self.baseline.average,
                       self.baseline.minutes, total)

    def end_at(self, t: int, episode: Episode) -> int | None:
        """The End minute if the last quiet_minutes minutes look normal again, else None."""
        quiet = self.params.quiet_minutes
        first = t - quiet + 1
        if first <= episode.start or first < self.first:
            return None
        obs = np.array([self.total(first, t + 1)])
        exp = np.array([float(self.expected[first - self.first:t + 1 - self.first].sum())])
        score = upper_score if episode.direction > 0 else lower_score
        calm = score(obs, exp, self.baseline.dispersion(exp, quiet), self.baseline.kappa)[0]
        return first if calm < self.params.end_threshold else None


def detect_series(counts: FloatArray, first_minute: int, params: Params | None = None,
                  analyse_from: int | None = None) -> list[Transition]:
    """Run the detector over a whole in-memory series (benchmark and imported history);
    minutes before `analyse_from` serve only as history."""
    begin = first_minute if analyse_from is None else analyse_from
    detector = SeriesDetector(first_minute, begin, params or Params(), fresh_since=begin)

    def source(lo: int, hi: int) -> FloatArray:
        return counts[lo - first_minute:hi - first_minute].astype(np.float64)

    return detector.advance(source, first_minute + len(counts))
