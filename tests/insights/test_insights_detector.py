"""The detector's core on synthetic per-minute series: fast, no server."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from opentrail.insights import (
    Params,
    SeriesDetector,
    Transition,
    detect_series,
    fit_baseline,
    lower_score,
    upper_score,
)

MONDAY = 29_449_440  # 2025-12-29T00:00Z in minutes
DAY = 1440
WEEK = 7 * DAY


def _busy(days: int, seed: int = 1, level: float = 20.0) -> np.ndarray:
    """Diurnal and weekly cycles with noise: quiet nights and weekends."""
    rng = np.random.default_rng(seed)
    m = np.arange(days * DAY)
    hour = (m % DAY) / 60
    diurnal = 0.15 + 0.85 * np.clip(np.sin(np.pi * (hour - 6) / 14), 0, None)
    weekly = np.where((m // DAY) % 7 >= 5, 0.3, 1.0)
    return rng.poisson(level * diurnal * weekly).astype(np.float64)


def _starts(transitions: list[Transition]) -> list[Transition]:
    return [t for t in transitions if t.state == "Start"]


def test_scores_fit_counts_not_gaussians() -> None:
    # 3 calls in a minute at a baseline of 0.04/min is very unusual; at 20/min it is not
    assert upper_score(np.array([3.0]), np.array([0.04]), 1.0)[0] > 4
    assert upper_score(np.array([3.0]), np.array([20.0]), 1.0)[0] == 0
    assert lower_score(np.array([0.0]), np.array([20.0]), 1.0)[0] > 8
    # overdispersion (clumped calls) makes the same excess less surprising
    assert upper_score(np.array([6.0]), np.array([0.5]), 3.0)[0] < \
        upper_score(np.array([6.0]), np.array([0.5]), 1.0)[0]


def test_burst_detected_within_two_minutes_and_ended_after_return() -> None:
    counts = _busy(10)
    onset = 8 * DAY + 14 * 60  # a Tuesday afternoon
    counts[onset:onset + 20] += 150
    found = detect_series(counts, MONDAY, analyse_from=MONDAY + WEEK)
    starts = _starts(found)
    assert len(starts) == 1
    episode = starts[0].episode
    assert episode.start == MONDAY + onset
    assert episode.decided - (MONDAY + onset) + 1 <= 2
    assert [t.state for t in found] == ["Start", "End"]
    assert found[1].episode.end == MONDAY + onset + 20


def test_no_flapping_on_a_noisy_burst() -> None:
    """A burst with dips inside stays one Insight: a Start, then one End."""
    counts = _busy(10)
    onset = 8 * DAY + 15 * 60
    rng = np.random.default_rng(5)
    counts[onset:onset + 60] += rng.choice([0.0, 60.0, 120.0], size=60, p=[0.2, 0.4, 0.4])
    counts[onset] += 120
    found = detect_series(counts, MONDAY, analyse_from=MONDAY + WEEK)
    assert [t.state for t in found] == ["Start", "End"]


def test_drop_to_zero_on_a_busy_api() -> None:
    counts = _busy(10, level=60)
    onset = 9 * DAY + 13 * 60
    counts[onset:onset + 15] = 0
    starts = _starts(detect_series(counts, MONDAY, analyse_from=MONDAY + WEEK))
    assert len(starts) == 1
    assert starts[0].episode.direction == -1
    assert starts[0].episode.start == MONDAY + onset


def test_seasonality_is_not_an_anomaly() -> None:
    """Two weeks of nights, mornings and weekends: nothing unusual."""
    assert detect_series(_busy(21, seed=3), MONDAY, analyse_from=MONDAY + WEEK) == []


def test_sparse_api_clumps_are_normal_but_a_loop_is_not() -> None:
    rng = np.random.default_rng(9)
    counts = np.zeros(14 * DAY)
    for minute in np.flatnonzero(rng.random(len(counts)) < 0.02):  # ~0.04 calls/min
        counts[minute] += rng.integers(1, 4)  # a script makes 1-3 calls in a row
    assert detect_series(counts, MONDAY, analyse_from=MONDAY + WEEK) == []
    counts[12 * DAY + 600:12 * DAY + 605] += 3  # 15 calls in 5 minutes (the docs' example)
    starts = _starts(detect_series(counts, MONDAY, analyse_from=MONDAY + WEEK))
    assert len(starts) == 1
    assert 0 <= starts[0].episode.decided - (MONDAY + 12 * DAY + 600) < 5


def test_deterministic_and_restartable() -> None:
    counts = _busy(10)
    counts[8 * DAY + 700:8 * DAY + 730] += 100
    whole = detect_series(counts, MONDAY)
    assert whole == detect_series(counts, MONDAY)

    def source(lo: int, hi: int) -> np.ndarray:
        return counts[lo - MONDAY:hi - MONDAY]

    # the same minutes fed in uneven pieces, with a save/restore of the state between
    detector = SeriesDetector(MONDAY, MONDAY, Params(), fresh_since=MONDAY)
    pieces: list[Transition] = []
    for stop in (MONDAY + 333, MONDAY + 8 * DAY + 715, MONDAY + len(counts)):
        pieces += detector.advance(source, stop)
        detector = SeriesDetector.from_state(detector.to_state(), Params())
    assert [(t.state, t.episode.start, t.episode.end) for t in pieces] == \
        [(t.state, t.episode.start, t.episode.end) for t in whole]
    assert whole[0].state == "Start" and whole[0].episode.end is None  # a snapshot


def test_short_history_uses_what_there_is() -> None:
    """Twenty minutes of history: a baseline exists, and a storm still stands out."""
    counts = np.zeros(40)
    counts[:30] = np.random.default_rng(2).poisson(1.0, 30)
    counts[30:32] = 40
    starts = _starts(detect_series(counts, MONDAY + 600))
    assert len(starts) == 1
    assert starts[0].episode.baseline_minutes < 60
    fit = fit_baseline(counts[:20], MONDAY + 600)
    assert fit.minutes == 20 and fit.kappa > 0.01  # less history, more doubt


@pytest.mark.parametrize("level", [0.0, 0.01])
def test_never_seen_api_gets_a_floor_not_a_zero(level: float) -> None:
    fit = fit_baseline(np.full(WEEK, level), MONDAY)
    assert fit.rates.min() > 0


def test_deploy_day_surges_are_normal_but_a_burst_on_another_day_is_not() -> None:
    """Weekly seasonality: a deploy API spikes 3-4x on Tuesdays, at a different hour each
    week; the weekday's surge keeps that quiet, a 10x burst on a Wednesday still shows."""
    rng = np.random.default_rng(4)
    counts = _busy(21, seed=4, level=3.0)
    for day, hour, size in ((1, 13, 3.0), (8, 10, 4.0), (15, 15, 3.5)):
        at = day * DAY + hour * 60
        counts[at:at + 15] += rng.poisson(counts[at - 60:at].mean() * (size - 1), 15)
    assert detect_series(counts, MONDAY, analyse_from=MONDAY + WEEK) == []
    fit = fit_baseline(counts[8 * DAY:15 * DAY], MONDAY + 8 * DAY)
    assert fit.surge_by_day[1] > 1.5 and fit.surge_by_day[2] == 1.0  # Tuesday, Wednesday
    at = 16 * DAY + 11 * 60
    counts[at:at + 15] += rng.poisson(27.0, 15)  # 10x the usual ~3 calls/min
    starts = _starts(detect_series(counts, MONDAY, analyse_from=MONDAY + WEEK))
    assert [t.episode.start for t in starts] == [MONDAY + at]


def test_clump_allowance_comes_from_quiet_windows_only() -> None:
    """How many calls a quiet window may hold is learned from quiet windows: a busy
    afternoon says nothing about how big a burst at 03:00 may be."""
    fit = fit_baseline(_busy(7, seed=6, level=8.0), MONDAY)
    busiest_minute = float(_busy(7, seed=6, level=8.0).max())
    assert fit.peaks[0] < busiest_minute / 2


def test_the_hourly_profile_is_a_curve_not_a_staircase() -> None:
    """Between hours the expected rate moves a little each minute instead of jumping, and
    each hour's middle keeps the hour's own rate."""
    fit = fit_baseline(_busy(7), MONDAY)
    morning = fit.expected(np.arange(MONDAY + 8 * 60, MONDAY + 12 * 60))
    assert np.abs(np.diff(morning)).max() < np.abs(np.diff(fit.rates[8:12])).max() / 30
    assert morning[30] == pytest.approx(fit.rates[8], rel=0.01)
    assert morning[90] == pytest.approx(fit.rates[9], rel=0.01)


def test_a_real_step_stays_a_step() -> None:
    """A cron hour (100 calls/min between 1/min hours) and office hours (20/min from 09:00
    to 17:00) are steps: smoothing them into ramps would misfit them, the misfit would
    look like noise of the rate, and a burst or a drop at noon would pass unseen."""
    rng = np.random.default_rng(2)
    hour = (np.arange(21 * DAY) % DAY) // 60
    rate = np.where((hour >= 9) & (hour < 17), 20.0, 1.0)
    counts = rng.poisson(np.where(hour == 3, 100.0, rate)).astype(np.float64)
    fit = fit_baseline(counts[7 * DAY:14 * DAY], MONDAY + 7 * DAY)
    cron = fit.expected(np.arange(MONDAY + 3 * 60, MONDAY + 4 * 60))
    assert cron.mean() == pytest.approx(100, rel=0.05) and fit.phi < 0.02
    at = 15 * DAY + 12 * 60
    burst, drop = counts.copy(), counts.copy()
    burst[at:at + 3] += 40
    drop[at:at + 10] = 0
    for changed in (burst, drop):
        starts = _starts(detect_series(changed, MONDAY, analyse_from=MONDAY + 14 * DAY))
        assert [t.episode.start for t in starts] == [MONDAY + at]


def test_dispersion_separates_rate_noise_from_clumps() -> None:
    """A busy API whose rate itself is noisy gets phi (variance grows with the rate) and no
    extra theta, so its quiet nights stay sensitive; a sparse API calling in clumps of 4
    gets theta ~ 4 (its rate is flat, so phi cannot be told apart and stays 0)."""
    rng = np.random.default_rng(3)
    minutes = np.arange(WEEK)
    hour = (minutes % DAY) / 60
    rate = 40 * (0.15 + 0.85 * np.clip(np.sin(np.pi * (hour - 6) / 14), 0, None))
    noisy = rng.poisson(rate * rng.gamma(20, 1 / 20, WEEK)).astype(np.float64)
    fit = fit_baseline(noisy, MONDAY)
    assert fit.theta < 1.3 and 0.03 < fit.phi < 0.08  # the gamma noise's 1/20
    clumps = 4.0 * rng.poisson(0.05, WEEK)
    fit = fit_baseline(clumps, MONDAY)
    assert 3.0 < fit.theta < 5.0 and fit.phi == 0.0


def test_a_short_alarm_still_teaches_its_weekday_surge() -> None:
    """Minutes of an earlier Insight leave the baseline, but a short one upwards stays in
    the weekday's surge: a deploy spike that alarmed once must not vanish from next
    week's surge, or that weekday alarms every week."""
    rng = np.random.default_rng(5)
    counts = _busy(14, seed=4, level=3.0)
    at = 8 * DAY + 10 * 60  # a Tuesday
    counts[at:at + 15] += rng.poisson(9.0, 15)
    week = counts[7 * DAY:14 * DAY]
    masked = np.zeros(WEEK, dtype=bool)
    masked[at - 7 * DAY - 120:at - 7 * DAY + 45] = True
    forgotten = fit_baseline(week, MONDAY + 7 * DAY, masked)
    taught = fit_baseline(week, MONDAY + 7 * DAY, masked, np.zeros(WEEK, dtype=bool))
    assert forgotten.surge_by_day[1] == 1.0 and taught.surge_by_day[1] > 1.5
    assert taught.rates.tolist() == forgotten.rates.tolist()  # the level still skips it
    # the detector marks which closed Insights teach: short bursts up, not long ones
    counts = _busy(12, seed=1)
    counts[8 * DAY + 600:8 * DAY + 615] += 150
    counts[10 * DAY + 600:10 * DAY + 690] += 150
    detector = SeriesDetector(MONDAY, MONDAY + WEEK, Params(), fresh_since=MONDAY + WEEK)
    detector.advance(lambda lo, hi: counts[lo - MONDAY:hi - MONDAY], MONDAY + 12 * DAY)
    assert [teaches for _, _, teaches in detector.past] == [True, False]


def test_a_state_survives_json_with_its_surge_flags() -> None:
    counts = _busy(12, seed=1)
    counts[8 * DAY + 600:8 * DAY + 615] += 150
    detector = SeriesDetector(MONDAY, MONDAY + WEEK, Params(), fresh_since=MONDAY + WEEK)
    detector.advance(lambda lo, hi: counts[lo - MONDAY:hi - MONDAY], MONDAY + 12 * DAY)
    saved = orjson.loads(orjson.dumps(detector.to_state()))  # as the store keeps it
    assert SeriesDetector.from_state(saved, Params()).past == detector.past == [
        (MONDAY + 8 * DAY + 600, MONDAY + 8 * DAY + 615, True)]


def test_a_state_saved_before_surge_flags_still_loads() -> None:
    state = SeriesDetector(MONDAY, MONDAY + 10, Params()).to_state()
    state["past"] = [[MONDAY + 1, MONDAY + 5]]  # (start, end), as older versions wrote
    detector = SeriesDetector.from_state(state, Params())
    assert detector.past == [(MONDAY + 1, MONDAY + 5, False)]
