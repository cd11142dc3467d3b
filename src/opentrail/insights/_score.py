"""How surprising a count is: -log10 of a count-distribution tail probability.

Counts of API calls are not Gaussian: a sparse API with a baseline of 0.04 calls/min sees
0 most minutes and a clump of 3 now and then. We use a quasi-Poisson tail: with a
dispersion index theta (variance = theta x mean; the baseline fits it per window, as
theta + phi x the window's rate per minute, see `Baseline.dispersion`), X / theta is
treated as Poisson(mean / theta). theta = 1 is the plain Poisson; clumped or noisy APIs get
theta > 1 and so need a larger excess before they look unusual. The continuous form of
the Poisson tail is the regularized incomplete gamma function.

scipy.special (no type stubs) is imported where a score is computed, not at
import: it holds ~25 MB that a server with no trail asking for Insights never needs.

The expected rate itself is uncertain (more so with a short history), so the dispersion
grows with the window's expected count: theta + kappa x expected, i.e. the variance is
theta x mean + kappa x mean^2, the negative-binomial shape.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["FloatArray", "lower_score", "max_score", "upper_score"]

FloatArray = npt.NDArray[np.float64]

TINY = 1e-300  # p-values below this are all "impossible": caps scores at 300


def _scaled(observed: FloatArray, expected: FloatArray, theta: float | FloatArray,
            kappa: float) -> tuple[FloatArray, FloatArray]:
    exp = np.maximum(np.asarray(expected, dtype=np.float64), 1e-12)
    scale = theta + kappa * exp
    return np.asarray(observed, dtype=np.float64) / scale, exp / scale


def upper_score(observed: FloatArray, expected: FloatArray, theta: float | FloatArray,
                kappa: float = 0.0) -> FloatArray:
    """-log10 P(X >= observed): large when far more calls came than expected."""
    k, lam = _scaled(observed, expected, theta, kappa)
    from scipy.special import gammainc  # type: ignore[import-untyped]  # lazy: module docstring

    p = np.where(k > lam, gammainc(np.maximum(k, 1e-12), lam), 1.0)
    return -np.log10(np.maximum(p, TINY))


def lower_score(observed: FloatArray, expected: FloatArray, theta: float | FloatArray,
                kappa: float = 0.0) -> FloatArray:
    """-log10 P(X <= observed): large when far fewer calls came than expected."""
    k, lam = _scaled(observed, expected, theta, kappa)
    from scipy.special import gammaincc  # lazy: module docstring

    p = np.where(k < lam, gammaincc(k + 1.0, lam), 1.0)
    return -np.log10(np.maximum(p, TINY))


CANDIDATES = 64


def max_score(observed: FloatArray, expected: FloatArray, theta: float | FloatArray,
              kappa: float, upper: bool) -> float:
    """The largest upper (or lower) score over many windows, fast: rank the windows by
    the Poisson deviance (a Chernoff bound on the same tail) and score only the top few."""
    k, lam = _scaled(observed, expected, theta, kappa)
    side = k > lam if upper else k < lam
    if not side.any():
        return 0.0
    k, lam = k[side], lam[side]
    safe = np.maximum(k, 1e-12)
    deviance = np.where(k > 0, safe * np.log(safe / lam), 0.0) - k + lam
    top = np.argpartition(deviance, -CANDIDATES)[-CANDIDATES:] if len(k) > CANDIDATES \
        else np.arange(len(k))
    score = upper_score if upper else lower_score
    return float(score(k[top], lam[top], 1.0).max())
