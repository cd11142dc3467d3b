"""The baseline: what a per-minute series normally does, learned from the 7 days before.

Seasonality: the expected rate of a minute comes from its hour of the week, linear
between the middles of neighbouring hours except across a real step (a flat step per
hour made every morning's ramp-up look like an hour of deficits and excesses; see
`interpolate`). Each of the 168 hour-of-week cells is the cell's own mean (60 minutes of
evidence per week of history) shrunk towards a multiplicative model, level x hour-of-day
x day-of-week, that pools evidence across days; the factors are shrunk towards 1.
Shrinkage is measured in calls (a Gamma prior), so a sparse API or a short history never
produces a zero or a wild estimate, while a busy API's profile follows its data.

Weekly seasonality that does not repeat at the same hour (a deploy API spikes on
Tuesdays, at a different hour each week) is a weekday's *surge*: the rate multiplier that
makes that weekday's most surprising busy window look ordinary (`_surges`). The detector
scores bursts against expected x surge, so a spike like last Tuesday's is normal this
Tuesday while every other weekday keeps its full sensitivity.

With less than 7 days of history the same fit runs on what exists (the seasonal factors
stay near 1 until there is evidence for them) and the rate floor is higher, since a short
history says little about rare calls: floor = 1 / (history minutes + 60).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from opentrail.insights._score import FloatArray, max_score, upper_score

__all__ = [
    "BASELINE_MINUTES",
    "WINDOWS",
    "Baseline",
    "fit_baseline",
    "hour_of_week",
    "window_sums",
    "window_widths",
]

BASELINE_MINUTES = 7 * 1440
WINDOWS = (1, 2, 5, 15, 60)  # minutes summed before scoring: short for speed, long for ramps
# Shrinkage is counted in calls, not minutes: a busy API's thousands of calls per hour
# outweigh it, a sparse API's handful do not, so its profile stays nearly flat.
HOUR_PSEUDO = 10.0  # pseudo-calls pulling an hour-of-day factor towards 1
DAY_PSEUDO = 10.0  # pseudo-calls pulling a day-of-week factor towards 1
CELL_PSEUDO = 30.0  # pseudo-calls pulling an hour-of-week cell towards the pooled model
THETA_MAX = 25.0
PHI_MAX = 1.0  # a minute's rate noise of 100% (variance mu + mu^2) at the most
JUMP = 2.0  # neighbouring hours further apart than this are a step, not a ramp,
JUMP_CALLS = 1.0  # if they also differ by a call a minute (a sparse API's are noise)
SPREAD = 1.5  # the busier half's rate over the quieter half's needed to fit phi
KAPPA = 0.025  # squared relative error of a 7-day seasonal estimate (about 16%)
# Share of the worst day that a weekday's bar keeps: 1.0 turns per-weekday bars off
# (0.75 measured worse on the benchmark: quiet weekdays then alarm on ordinary clumps).
DAY_SHARE = 1.0
KAPPA_MAX = 0.25  # at most 50% relative error, however short the history
# A weekday's surge makes its most surprising busy window score this much: about what
# the worst of a day's ~7,000 ordinary windows scores, so days without a real excursion
# keep 1.0 (2 measured worse: ordinary noise then hides ramps on busy APIs).
SURGE_SCORE = 4.0

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


def hour_of_week(minutes: IntArray) -> IntArray:
    """0 = Monday 00:00-00:59 UTC ... 167 = Sunday 23:00 (1970-01-01 was a Thursday)."""
    days = minutes // 1440
    return ((days + 3) % 7) * 24 + (minutes // 60) % 24


@dataclass(frozen=True)
class Baseline:
    rates: FloatArray  # expected calls per minute for each hour of the week (168)
    theta: float  # dispersion index: variance / mean of the residuals
    up_ceiling: float  # how surprising the baseline's own worst normal day got, upwards
    down_ceiling: float  # ... and downwards
    average: float  # mean calls per minute over the baseline (the record's baseline average)
    minutes: int  # minutes of history the fit used
    peaks: tuple[float, ...] = ()  # most calls in a quiet window (< 1 expected), per width
    up_by_day: tuple[float, ...] = ()  # up_ceiling per day of the week (Monday first)
    down_by_day: tuple[float, ...] = ()
    surge_by_day: tuple[float, ...] = ()  # rate multiplier a weekday's surges reached (>= 1)
    phi: float = 0.0  # rate noise: a minute's variance is theta x mu + phi x mu^2

    def dispersion(self, expected: FloatArray, width: int | IntArray) -> FloatArray:
        """The dispersion index of window sums with `expected` calls over `width` minutes."""
        return self.theta + self.phi * np.asarray(expected, dtype=np.float64) / width

    def bars(self, minutes: IntArray, threshold: float, ratio: float, margin: float,
             cap: float) -> tuple[FloatArray, FloatArray]:
        """What a window ending at each minute must beat, up and down: the threshold, and
        the baseline's own worst score on the same weekday (a deploy day is spiky every
        week), at least DAY_SHARE of its worst day overall, scaled by ratio, plus margin,
        and at most `cap`: one wild spike last week must not blind the detector to a
        10x burst this week."""
        out = []
        for overall, by_day in ((self.up_ceiling, self.up_by_day),
                                (self.down_ceiling, self.down_by_day)):
            ceiling = np.full(len(minutes), overall)
            if by_day:
                ceiling = np.maximum(np.array(by_day)[hour_of_week(minutes) // 24],
                                     DAY_SHARE * overall)
            out.append(np.maximum(threshold, np.minimum(ceiling * ratio + margin, cap)))
        return out[0], out[1]

    @property
    def kappa(self) -> float:
        """Model uncertainty: grows as the history gets shorter than 7 days."""
        return min(KAPPA_MAX, KAPPA * max(1.0, BASELINE_MINUTES / max(self.minutes, 1)))

    def expected(self, minutes: IntArray) -> FloatArray:
        return interpolate(self.rates, minutes)

    def surge(self, minutes: IntArray) -> FloatArray:
        """How far above `expected` this weekday's rate went last week (1.0: not at all)."""
        if not self.surge_by_day:
            return np.ones(len(minutes))
        return np.array(self.surge_by_day)[hour_of_week(minutes) // 24]


def interpolate(cells: FloatArray, minutes: IntArray) -> FloatArray:
    """The 168 hourly rates as a curve: linear between the middles of neighbouring hours
    (cyclic over the week), so a morning ramp-up is no staircase whose steps look like
    deficits and excesses; but where two neighbours differ more than JUMP times and by
    JUMP_CALLS a minute (a cron hour, office hours starting) the step is real, and both
    half-hours beside it stay flat, so such an hour keeps its own average."""
    pos = (hour_of_week(minutes) * 60 + minutes % 60 + 0.5) / 60.0 - 0.5
    lo = np.floor(pos).astype(np.int64) % 168  # the hour whose middle is just before
    hi = (lo + 1) % 168
    frac = pos - np.floor(pos)
    a, b = cells[lo], cells[hi]
    high, low = np.maximum(a, b), np.minimum(a, b)
    smooth = (high <= JUMP * low) | (high - low < JUMP_CALLS)
    own = np.where(frac < 0.5, a, b)  # the minute's own hour
    return np.where(smooth, a * (1 - frac) + b * frac, own)  # type: ignore[no-any-return]


def window_widths(count: int, width: int) -> IntArray:
    """How many minutes each of `window_sums`' sums covers (fewer at the start)."""
    return np.minimum(np.arange(1, count + 1, dtype=np.int64), width)


def window_sums(values: FloatArray, width: int) -> FloatArray:
    """Trailing sums over `width` values (fewer at the start of the array)."""
    total = np.concatenate(([0.0], np.cumsum(values)))
    lo = np.maximum(np.arange(1, len(values) + 1) - width, 0)
    return total[1:] - total[lo]


def _factors(keys: IntArray, size: int, counts: FloatArray, model: FloatArray,
             pseudo: float) -> FloatArray:
    observed = np.bincount(keys, counts, size)
    predicted = np.bincount(keys, model, size)
    return (observed + pseudo) / (predicted + pseudo)


def _rates(counts: FloatArray, how: IntArray) -> tuple[FloatArray, FloatArray]:
    """168 expected rates (each cell shrunk towards the pooled model), and the pooled
    model itself: level x hour-of-day x day-of-week."""
    level = float(counts.mean())
    if level <= 0.0:
        return np.zeros(168), np.zeros(168)
    flat = np.full(len(counts), level)
    hours = _factors(how % 24, 24, counts, flat, HOUR_PSEUDO)
    by_hour = level * hours[how % 24]
    days = _factors(how // 24, 7, counts, by_hour, DAY_PSEUDO)
    cells = np.arange(168)
    pooled = level * hours[cells % 24] * days[cells // 24]
    sums = np.bincount(how, counts, 168)
    seen = np.bincount(how, minlength=168)
    return (sums + CELL_PSEUDO) / (seen + CELL_PSEUDO / pooled), pooled


def fit_baseline(counts: FloatArray, first_minute: int, exclude: BoolArray | None = None,
                 surge_exclude: BoolArray | None = None) -> Baseline:
    """Fit on `counts` (one per minute from `first_minute`), skipping `exclude`d minutes

    (minutes inside earlier Insights, so an attack does not become the new normal).
    Surges skip `surge_exclude` instead (default: the same minutes)."""
    minutes = np.arange(first_minute, first_minute + len(counts), dtype=np.int64)
    keep = np.ones(len(counts), dtype=bool) if exclude is None else ~exclude
    used, how = counts[keep].astype(np.float64), hour_of_week(minutes[keep])
    floor = 1.0 / (len(used) + 60.0)
    rates, pooled = _rates(used, how) if len(used) else (np.zeros(168), np.zeros(168))
    rates, pooled = np.maximum(rates, floor), np.maximum(pooled, floor)
    theta, phi = _dispersion(used, interpolate(rates, minutes[keep]))
    draft = Baseline(rates, theta, 0.0, 0.0, float(used.mean()) if len(used) else 0.0,
                     len(used), phi=phi)
    # Surges and ceilings against the smooth pooled model: a cell that memorised last
    # week's deploy spike at 13:00 would say nothing about this week's at 10:00 and hide
    # how surprising such spikes look; the weekday's surge and ceiling do not.
    # (Ceilings stay measured without the surge: both together are what keeps deploy
    # days quiet; ceilings after the surge measured worse.)
    smooth = interpolate(pooled, minutes)
    skeep = keep if surge_exclude is None else ~surge_exclude
    surges = _surges(counts.astype(np.float64), smooth, skeep, draft, first_minute)
    up, down = _ceilings(counts.astype(np.float64), smooth, keep, draft, first_minute)
    peaks = _quiet_peaks(counts.astype(np.float64), interpolate(rates, minutes), keep)
    return Baseline(rates, theta, max(up), max(down), draft.average, draft.minutes, peaks,
                    up, down, surges, phi)


def _surges(counts: FloatArray, expected: FloatArray, keep: BoolArray, fit: Baseline,
            first_minute: int) -> tuple[float, ...]:
    """Per weekday, the rate multiplier that makes its most surprising busy window (one
    call or more expected) look ordinary again (upper score SURGE_SCORE).

    A deploy API that spiked 3x last Tuesday gets somewhat under 3 for Tuesdays (a score
    of 4 still leaves room for noise), and this week's Tuesday bursts are scored against
    that multiple of the usual rate; days without surges keep 1."""
    weekday = hour_of_week(np.arange(first_minute, first_minute + len(counts),
                                     dtype=np.int64)) // 24
    out = np.ones(7)
    for width in WINDOWS:
        clean = window_sums((~keep).astype(np.float64), width) == 0
        obs, exp = window_sums(counts, width), window_sums(expected, width)
        # Chernoff bound: only windows whose deviance could reach SURGE_SCORE need solving
        theta = fit.dispersion(exp, window_widths(len(exp), width))
        k, lam = obs / theta, np.maximum(exp, 1e-12) / theta
        safe = np.maximum(k, 1e-12)
        bound = (safe * np.log(safe / lam) - k + lam) / np.log(10)
        cand = clean & (exp >= 1.0) & (obs > exp) & (bound >= SURGE_SCORE)
        if not cand.any():
            continue
        need = _solve_surge(obs[cand], exp[cand], theta[cand], fit.kappa)
        np.maximum.at(out, weekday[cand], need)
    seen = np.zeros(7, dtype=bool)
    seen[np.unique(weekday)] = True
    if not seen.all():  # days not seen yet: the worst day seen stands in
        out[~seen] = out.max()
    return tuple(float(x) for x in out)


def _solve_surge(obs: FloatArray, exp: FloatArray, theta: FloatArray, kappa: float
                 ) -> FloatArray:
    """For each window, the multiplier a >= 1 with upper_score(obs, a * exp) = SURGE_SCORE
    (bisection on log a; the score falls as a grows)."""
    lo, hi = np.zeros(len(obs)), np.log(np.maximum(obs / exp, 1.0)) + 1e-9
    for _ in range(20):
        mid = (lo + hi) / 2
        over = upper_score(obs, exp * np.exp(mid), theta, kappa) > SURGE_SCORE
        lo, hi = np.where(over, mid, lo), np.where(over, hi, mid)
    return np.exp(hi)


def _quiet_peaks(counts: FloatArray, expected: FloatArray, keep: BoolArray,
                 ) -> tuple[float, ...]:
    """The most calls seen in any quiet window (under one call expected) of each width.

    Only quiet windows: the test they serve applies where less than a call is expected, and
    a medium API's daytime traffic says nothing about how big a clump at night may be."""
    out = []
    for width in WINDOWS:
        quiet = (window_sums(expected, width) < 1.0) & (
            window_sums((~keep).astype(np.float64), width) == 0)
        out.append(float(window_sums(counts, width)[quiet].max(initial=0.0)))
    return tuple(out)


def _theta(counts: FloatArray, expected: FloatArray) -> float:
    """Dispersion index sum((x - mu)^2) / sum(mu), at least 1 (Poisson), at most THETA_MAX.

    A ratio of sums, not a mean of ratios: for clumped calls (a script makes 4 calls in
    a row) it estimates the clump size, and near-empty night minutes cannot dominate it."""
    if len(counts) < 60 or expected.sum() <= 0:
        return 1.0
    pearson = float(np.sum((counts - expected) ** 2) / np.sum(expected))
    return float(min(max(pearson, 1.0), THETA_MAX))


def _dispersion(counts: FloatArray, expected: FloatArray) -> tuple[float, float]:
    """(theta, phi) of a minute's variance = theta x mu + phi x mu^2, by moments on the
    quieter and the busier half of the minutes: clumped calls show as theta, noise in
    the rate itself as phi. One theta for both (the earlier model) let a busy API's
    daytime noise blunt its quiet hours."""
    if len(counts) < 60 or expected.sum() <= 0:
        return 1.0, 0.0
    order = np.argsort(expected, kind="stable")
    halves = np.array_split(order, 2)
    d, m = [], []
    for half in halves:
        mu, r2 = expected[half], (counts[half] - expected[half]) ** 2
        d.append(float(r2.sum() / max(mu.sum(), 1e-12)))
        m.append(float((mu ** 2).sum() / max(mu.sum(), 1e-12)))
    # A nearly flat rate (a sparse API) cannot tell the two apart: one theta, as before.
    phi = (d[1] - d[0]) / (m[1] - m[0]) if m[1] >= SPREAD * m[0] else 0.0
    if phi <= 0:
        return _theta(counts, expected), 0.0
    phi = min(phi, PHI_MAX)
    theta = d[0] - phi * m[0]
    return float(min(max(theta, 1.0), THETA_MAX)), float(phi)


def _ceilings(counts: FloatArray, expected: FloatArray, keep: BoolArray, fit: Baseline,
              first_minute: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """How surprising the baseline itself gets, up and down, per day of the week: the
    most surprising window of any width ending on that weekday (0 where none was seen)."""
    weekday = hour_of_week(np.arange(first_minute, first_minute + len(counts),
                                     dtype=np.int64)) // 24
    up, down = np.zeros(7), np.zeros(7)
    for width in WINDOWS:
        clean = window_sums((~keep).astype(np.float64), width) == 0
        obs, exp = window_sums(counts, width), window_sums(expected, width)
        theta = fit.dispersion(exp, window_widths(len(exp), width))
        for day in np.unique(weekday):
            sel = clean & (weekday == day)
            o, e, t = obs[sel], exp[sel], theta[sel]
            up[day] = max(up[day], max_score(o, e, t, fit.kappa, upper=True))
            down[day] = max(down[day], max_score(o, e, t, fit.kappa, upper=False))
    if len(np.unique(weekday)) < 7:  # days not seen yet: the worst day seen stands in
        seen = np.zeros(7, dtype=bool)
        seen[np.unique(weekday)] = True
        up[~seen], down[~seen] = up.max(), down.max()
    return tuple(float(x) for x in up), tuple(float(x) for x in down)

