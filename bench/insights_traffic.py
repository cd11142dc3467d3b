"""A seeded generator of realistic per-minute API traffic with labelled anomalies.

Each series is one (eventSource, eventName[, errorCode]) of one account, counted per
minute, as the detector sees it. Normal traffic has:
  * a diurnal cycle (business-hours peak, quiet nights) and a weekly one (quiet weekends);
  * slow day-to-day drift of the level and per-minute overdispersion (gamma-Poisson);
  * sparse APIs called in clumps (a script makes 1-6 calls in a row);
  * deploy days: on Tuesdays and Thursdays the deploy APIs spike 2-4x for 10-20 minutes
    at a random business hour. These are normal and NOT labelled.
Labelled anomalies (injected only after the first 7 days, so every one has a full
baseline): call-rate bursts of several sizes and lengths, AccessDenied enumeration,
throttling storms, drops to zero, slow ramps, and a new principal hammering one API.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["Anomaly", "Series", "Traffic", "generate"]

FloatArray = npt.NDArray[np.float64]
DAY = 1440
START_MINUTE = 29_449_440  # 2025-12-29T00:00Z, a Monday (was 29_436_480: a Saturday)


@dataclass(frozen=True)
class Anomaly:
    series: str
    kind: str
    start: int  # minute index into the series
    end: int  # exclusive


@dataclass
class Series:
    name: str
    kind: str  # busy | medium | sparse | deploy | errors | throttle
    counts: FloatArray
    rate: FloatArray = field(repr=False)  # the normal expected rate (before anomalies)


@dataclass
class Traffic:
    series: list[Series]
    anomalies: list[Anomaly]
    first_minute: int
    days: int


def _cycle(rng: np.random.Generator, minutes: int, night: float, weekend: float) -> FloatArray:
    """Multiplicative shape: diurnal (peak ~15:00 UTC), weekly, and slow daily drift."""
    m = np.arange(minutes)
    hour = (m % DAY) / 60.0
    diurnal = night + (1 - night) * np.clip(np.sin(np.pi * (hour - 6) / 14), 0, None) ** 1.5
    day = m // DAY
    weekly = np.where(day % 7 >= 5, weekend, 1.0)
    drift = np.exp(rng.normal(0, 0.08, day.max() + 1))[day]
    return diurnal * weekly * drift  # type: ignore[no-any-return]


def _noisy(rng: np.random.Generator, rate: FloatArray, shape: float) -> FloatArray:
    """Gamma-Poisson counts: overdispersed like real API traffic."""
    return rng.poisson(rate * rng.gamma(shape, 1 / shape, len(rate))).astype(np.float64)


def _clumped(rng: np.random.Generator, rate: FloatArray) -> FloatArray:
    """Sparse API: sessions arrive as a Poisson process, each makes 1-6 calls."""
    mean_clump = 2.0
    sessions = rng.poisson(rate / mean_clump)
    counts = np.zeros(len(rate))
    for i in np.flatnonzero(sessions):
        for _ in range(sessions[i]):
            size = min(rng.geometric(1 / mean_clump), 6)
            spill = rng.integers(0, 2)  # a session may straddle a minute boundary
            counts[i] += size - spill
            if i + 1 < len(counts):
                counts[i + 1] += spill
    return counts


def _deploys(rng: np.random.Generator, rate: FloatArray, days: int) -> FloatArray:
    """Tuesdays and Thursdays: 1-2 deploys at business hours, 2-4x for 10-20 minutes."""
    out = rate.copy()
    for day in range(days):
        if day % 7 not in (1, 3):
            continue
        for _ in range(rng.integers(1, 3)):
            at = day * DAY + int(rng.integers(9 * 60, 17 * 60))
            out[at:at + int(rng.integers(10, 21))] *= rng.uniform(2, 4)
    return out


SPECS = (  # name, kind, level (calls/min at peak), night factor, weekend factor
    ("ec2:RunInstances", "busy", 40.0, 0.15, 0.3),
    ("s3:PutObjectAcl", "busy", 25.0, 0.3, 0.5),
    ("sts:AssumeRole", "busy", 60.0, 0.4, 0.6),
    ("ssm:UpdateInstanceInformation", "busy", 85.0, 0.9, 1.0),
    ("lambda:UpdateFunctionCode", "medium", 3.0, 0.1, 0.2),
    ("iam:CreateRole", "medium", 1.5, 0.05, 0.1),
    ("kms:CreateGrant", "medium", 6.0, 0.5, 0.7),
    ("dynamodb:UpdateTable", "medium", 0.8, 0.1, 0.2),
    ("ecs:UpdateService", "deploy", 1.2, 0.05, 0.1),
    ("ecs:RegisterTaskDefinition", "deploy", 0.6, 0.05, 0.1),
    ("ssm:PutParameter", "deploy", 2.0, 0.1, 0.2),
    ("iam:PutRolePolicy", "sparse", 0.05, 0.1, 0.1),
    ("ssm:SendCommand", "sparse", 0.0442, 0.2, 0.3),
    ("ec2:AuthorizeSecurityGroupIngress", "sparse", 0.1, 0.1, 0.2),
    ("iam:CreateAccessKey", "sparse", 0.02, 0.1, 0.1),
    ("kms:ScheduleKeyDeletion", "sparse", 0.01, 0.2, 0.2),
    ("s3:PutBucketPolicy", "sparse", 0.15, 0.1, 0.2),
    ("route53:ChangeResourceRecordSets", "sparse", 0.3, 0.2, 0.3),
    ("ec2:GetPasswordData/AccessDenied", "errors", 0.02, 0.2, 0.2),
    ("s3:GetObject/AccessDenied", "errors", 0.5, 0.3, 0.4),
    ("iam:ListUsers/AccessDenied", "errors", 0.05, 0.2, 0.2),
    ("secretsmanager:GetSecretValue/AccessDenied", "errors", 0.1, 0.2, 0.3),
    ("ssm:DescribeParameters/ThrottlingException", "throttle", 1.0, 0.05, 0.2),
    ("dynamodb:PutItem/ThrottlingException", "throttle", 4.0, 0.1, 0.3),
    ("ec2:DescribeInstances/RequestLimitExceeded", "throttle", 0.5, 0.05, 0.1),
    ("sts:AssumeRole/AccessDenied", "errors", 0.3, 0.3, 0.4),
)


def _normal(rng: np.random.Generator, kind: str, level: float, night: float, weekend: float,
            days: int) -> tuple[FloatArray, FloatArray]:
    rate = level * _cycle(rng, days * DAY, night, weekend)
    if kind == "deploy":
        return rate, _noisy(rng, _deploys(rng, rate, days), 10.0)
    if kind in ("sparse", "errors"):
        return rate, _clumped(rng, rate)
    if kind == "throttle":  # throttling comes in small bursts with the load
        return rate, _noisy(rng, rate, 2.0)
    return rate, _noisy(rng, rate, 20.0)


def generate(seed: int = 7, days: int = 35) -> Traffic:
    rng = np.random.default_rng(seed)
    series = []
    for name, kind, level, night, weekend in SPECS:
        rate, counts = _normal(rng, kind, level, night, weekend, days)
        series.append(Series(name, kind, counts, rate))
    anomalies = _inject(rng, series, days)
    return Traffic(series, anomalies, START_MINUTE, days)


def _slot(rng: np.random.Generator, busy: dict[str, list[tuple[int, int]]], name: str,
          days: int, length: int) -> int:
    """A start minute after day 7 that keeps 2 days clear of this series' other anomalies."""
    while True:
        start = int(rng.integers(7 * DAY + 60, days * DAY - length - 120))
        if all(abs(start - s) > 2 * DAY for s, _ in busy.setdefault(name, [])):
            busy[name].append((start, start + length))
            return start


def _inject(rng: np.random.Generator, series: list[Series], days: int) -> list[Anomaly]:
    by_kind: dict[str, list[Series]] = {}
    for s in series:
        by_kind.setdefault(s.kind, []).append(s)
    busy: dict[str, list[tuple[int, int]]] = {}
    out: list[Anomaly] = []
    plan = [(kind, n) for kind, n in INJECTIONS]
    for kind, n in plan:
        for _ in range(n):
            target, change = _pick(rng, kind, by_kind)
            length = change.length
            start = _slot(rng, busy, target.name, days, length)
            change.apply(rng, target, start)
            out.append(Anomaly(target.name, kind, start, start + length))
    return out


@dataclass
class _Change:
    kind: str
    length: int
    size: float

    def apply(self, rng: np.random.Generator, s: Series, start: int) -> None:
        end = start + self.length
        base = s.rate[start:end]
        if self.kind == "drop":
            s.counts[start:end] = 0
        elif self.kind == "ramp":
            steps = np.linspace(0, self.size - 1, self.length)
            s.counts[start:end] += rng.poisson(base * steps)
        elif self.kind == "burst":  # k x the usual rate, and at least 3 extra calls/min
            s.counts[start:end] += rng.poisson(np.maximum(base * (self.size - 1), 3.0))
        else:  # additive: a new principal or storm adds its own calls per minute
            s.counts[start:end] += rng.poisson(np.full(self.length, self.size))


INJECTIONS = (
    ("burst", 14), ("enumeration", 8), ("throttling", 6), ("drop", 6), ("ramp", 5),
    ("new-principal", 8),
)


def _pick(rng: np.random.Generator, kind: str,
          by_kind: dict[str, list[Series]]) -> tuple[Series, _Change]:
    def one(*kinds: str) -> Series:
        pool = [s for k in kinds for s in by_kind[k]]
        return pool[int(rng.integers(len(pool)))]

    def integers(lo: int, hi: int) -> int:
        return int(rng.integers(lo, hi))

    if kind == "burst":
        s = one("busy", "medium", "deploy", "sparse")
        length = int(rng.choice([3, 5, 10, 30, 90]))
        if s.kind == "sparse":  # a script calling a rarely used API in a loop
            return s, _Change("add", length, float(integers(5, 21)))
        return s, _Change("burst", length, float(rng.choice([3, 5, 10])))
    choices = {
        "enumeration": lambda: (one("errors"), _Change("add", integers(2, 16),
                                                      float(integers(5, 41)))),
        "throttling": lambda: (one("throttle"), _Change("add", integers(5, 31),
                                                       float(integers(20, 201)))),
        "drop": lambda: (one("busy"), _Change("drop", integers(10, 61), 0.0)),
        "ramp": lambda: (one("busy"), _Change("ramp", integers(60, 121),
                                              float(rng.uniform(4, 6)))),
    }
    if kind in choices:
        return choices[kind]()
    s = one("busy", "medium", "deploy", "sparse")  # a new principal hammering one API
    mean = float(s.rate.mean())
    return s, _Change("add", integers(20, 61), max(5.0, mean * rng.uniform(1, 3)))
